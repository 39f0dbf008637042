"""Flower as the engine's transport, and fl_lightning's ClientApp: the local engine's rounds.

Fast tests drive the real ServerApp logic and ClientApp over `LoopbackGrid`, an in-process Grid
that behaves like Flower's runtimes (an exception becomes an error reply; a node's Context is
saved only when its ClientApp succeeds). The Ray simulation and the loopback deployment
(`flower-superlink`, two `flower-supernode`, `flwr run`) run the real thing.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch
from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity

from fl_lightning.cli import main
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientConfig, ClientResult, run_client_update
from fl_lightning.federated.codec import encode, payload_size
from fl_lightning.federated.engine import FederationConfig, LocalEngine, Seeds
from fl_lightning.federated.faults import FaultInjection, FaultInjector
from fl_lightning.federated.flower import FlowerGrid
from fl_lightning.federated.flower_apps import RESIDUAL_STATE, client_app
from fl_lightning.federated.flower_messages import (
    ClientTask,
    MaskUnknown,
    result_content,
    result_from_content,
)
from fl_lightning.federated.flower_options import FlowerOptions
from fl_lightning.federated.metric_names import WALL_CLOCK_FIELDS
from fl_lightning.federated.sampling import ClientSampler
from fl_lightning.federated.transport import Transport
from fl_lightning.federated.upload import UploadCodec, rounding_generator
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.magnitude import magnitude_prune, prunable_names
from fl_lightning.pruning.mask import Mask
from tests.smoke_runs import federate_args

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "federate" / "smoke.yaml"
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True, scope="module")
def _task_identity() -> Iterator[None]:
    """What Flower's runtimes set in a ServerApp process before any Message can be made."""
    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID
    yield
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


class LoopbackGrid(Grid):
    """Nodes that run `app` in this process, as Flower's runtimes do, one Context per node.

    Node ids are not in partition order, so the server must learn the mapping by asking.
    """

    def __init__(
        self, num_nodes: int, num_partitions: int | None = None, app: ClientApp = client_app
    ) -> None:
        self.app = app
        parts = num_nodes if num_partitions is None else num_partitions
        self.contexts = {
            9000 - 7 * i: Context(
                run_id=1,
                node_id=9000 - 7 * i,
                node_config={"partition-id": i, "num-partitions": parts},
                state=RecordDict(),
                run_config={},
            )
            for i in range(num_nodes)
        }
        self.replies: dict[str, Message] = {}

    def set_run(self, run: Any) -> None:
        pass

    @property
    def run(self) -> Any:
        raise NotImplementedError

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            node = message.metadata.dst_node_id
            context = copy.deepcopy(self.contexts[node])
            try:
                reply = self.app(message, context)
            except Exception as err:
                reply = Message(
                    Error(code=2, reason=f"{type(err).__name__}: {err}"), reply_to=message
                )
            else:
                self.contexts[node] = context
            self.replies[message.metadata.message_id] = reply
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self.replies.pop(i) for i in message_ids if i in self.replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


# -- engines on tiny data -------------------------------------------------------------------
def _engine(
    root: Path, faults: FaultInjection | None = None, transport: Transport | None = None
) -> LocalEngine:
    """An engine over 4 tiny clients, 2 per round, 3 rounds, a 0.8-sparse MLP (same start each
    call), moving payloads with `transport` (default: in process)."""
    torch.manual_seed(0)
    model = Classifier(model="mlp", lr=0.05)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    mask = magnitude_prune(model, 0.8, names=prunable_names(model))
    data = FederatedDataModule(
        root=str(root),
        num_clients=4,
        server_images=100,
        max_client_examples=40,
        max_test_examples=200,
        test_batch_size=200,
    )
    return LocalEngine(
        model=model,
        initial_state=state,
        mask=mask,
        data=data,
        client=ClientConfig(local_epochs=1, batch_size=16),
        federation=FederationConfig(
            rounds=3, clients_per_round=2, faults=faults or FaultInjection()
        ),
        seeds=Seeds(sampling=3),
        progress=False,
        transport=transport,
    )


def _recording(engine: LocalEngine) -> list[list[int]]:
    """The clients `engine` samples, round by round."""
    sampled: list[list[int]] = []
    sample = engine.sampler.sample

    def record(num_clients: int, k: int) -> list[int]:
        sampled.append(sample(num_clients, k))
        return sampled[-1]

    engine.sampler.sample = record  # type: ignore[method-assign]
    return sampled


def _steady(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in WALL_CLOCK_FIELDS} for row in history]


def test_flower_engine_over_grid_matches_local_engine(tiny_fashion_root: Path) -> None:
    local = _engine(tiny_fashion_root)
    grid = FlowerGrid(LoopbackGrid(4))
    flower = _engine(tiny_fashion_root, transport=grid)
    local_sampled, flower_sampled = _recording(local), _recording(flower)
    local.run()
    flower.run()
    assert flower_sampled == local_sampled
    assert grid.nodes == {0: 9000, 1: 8993, 2: 8986, 3: 8979}
    flower_rows, local_rows = _steady(flower.history), _steady(local.history)
    for key in (
        "comm/down_bytes",
        "comm/up_bytes",
        "comm/bytes",
        "comm/cum_bytes",
        "compute/flops",
        "clients/participated",
        "clients/failed",
    ):
        assert [row[key] for row in flower_rows] == [row[key] for row in local_rows], key
    for ours, theirs in zip(flower_rows, local_rows, strict=True):
        assert ours["test/acc"] == pytest.approx(theirs["test/acc"], abs=0.005)
    # first downloads carry the mask: round 1 sends two of them
    with_mask = payload_size(local.global_state, local.mask, with_mask=True, codec="float32")
    assert flower_rows[0]["comm/down_bytes"] == 2 * with_mask


def test_client_raising_inside_flower_is_a_failed_client(tiny_fashion_root: Path) -> None:
    faults = FaultInjection(probability=0.5, seed=4, kinds=["raise"])
    local = _engine(tiny_fashion_root, faults)
    flower = _engine(tiny_fashion_root, faults, FlowerGrid(LoopbackGrid(4)))
    local.run()
    flower.run()
    injector = FaultInjector(faults)
    expected = [sum(injector.draw() == "raise" for _ in range(2)) for _ in range(3)]
    assert expected == [1, 1, 1]  # every round: one client raises, the other is aggregated
    assert [row["clients/failed"] for row in flower.history] == expected
    assert [row["clients/participated"] for row in flower.history] == [1, 1, 1]
    assert [row["test/acc"] for row in flower.history] == pytest.approx(
        [row["test/acc"] for row in local.history], abs=0.005
    )
    # the same uploads; a node whose first download failed did not keep the mask, so Flower
    # sends it again, each time a whole bitmap more than the local engine
    up = [row["comm/up_bytes"] for row in flower.history]
    assert up == [row["comm/up_bytes"] for row in local.history]
    extra = flower.comm.down_bytes - local.comm.down_bytes
    state, mask = local.global_state, local.mask
    bitmap = payload_size(state, mask, with_mask=True, codec="float32") - payload_size(
        state, mask, with_mask=False, codec="float32"
    )
    assert extra >= 0 and extra % bitmap == 0


# -- the ClientApp --------------------------------------------------------------------------
def _task(root: Path, payload: bytes, *, fault: str = "") -> ClientTask:
    data = FederatedDataModule(
        root=str(root), num_clients=4, server_images=100, max_client_examples=40
    )
    model = Classifier(model="mlp", lr=0.05)
    model_args = dict(model.hparams)
    return ClientTask(
        round=1,
        client_id=2,
        payload=payload,
        data_seed=11,
        fault=fault,
        upload=UploadCodec(),
        rounding_seed=0,
        sparse=True,
        flops_per_example=10.0,
        client=ClientConfig(batch_size=16),
        data=ClientTask.arguments(dict(data.hparams)),
        model=ClientTask.arguments(model_args),
    )


def _message(task: ClientTask, message_type: str = "train") -> Message:
    message = Message(task.to_content(), dst_node_id=5, message_type=message_type)
    message.metadata.__dict__["_message_id"] = uuid.uuid4().hex
    return message


def _context(partition: int = 2) -> Context:
    return Context(
        run_id=1,
        node_id=5,
        node_config={"partition-id": partition},
        state=RecordDict(),
        run_config={},
    )


def test_task_and_result_survive_the_message_round_trip() -> None:
    task = ClientTask(
        round=3,
        client_id=7,
        payload=b"\x00\x01\xffodd",
        data_seed=5,
        fault="nan",
        upload=UploadCodec(codec="int4", topk=0.1, error_feedback=True, rounding="stochastic"),
        rounding_seed=3,
        sparse=False,
        flops_per_example=1.5,
        client=ClientConfig(local_epochs=2, batch_size=8, timeout=None),
        data='{"a": 1}',
        model='{"b": 2}',
    )
    assert ClientTask.from_content(task.to_content()) == task
    result = ClientResult(
        client_id=7, payload=b"xyz" * 5, num_examples=12, train_loss=0.25, flops=3e6, seconds=0.5
    )
    assert result_from_content(result_content(result), 7) == result


def test_client_app_trains_like_run_client_update_and_keeps_the_mask(
    tiny_fashion_root: Path,
) -> None:
    torch.manual_seed(0)
    model = Classifier(model="mlp", lr=0.05)
    mask = magnitude_prune(model, 0.8, names=prunable_names(model))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for name, m in mask.items():
        state[name] = state[name] * m
    first = encode(state, mask, with_mask=True)
    task = _task(tiny_fashion_root, first)
    data = FederatedDataModule(**json.loads(task.data))
    data.setup()
    expected = run_client_update(
        client_id=2,
        payload=first,
        model=model,
        mask=Mask({}),
        num_examples=data.num_examples(2),
        dataloader=data.client_dataloader(2, seed=11, batch_size=16),
        config=task.client,
        flops_per_example=10.0,
    )
    context = _context()
    reply = client_app(_message(task), context)
    got = result_from_content(reply.content, 2)
    assert got.payload == expected.payload
    assert (got.num_examples, got.flops) == (expected.num_examples, 10.0 * expected.num_examples)
    # the node now knows the mask: a values-only download decodes
    values_only = encode(state, mask, with_mask=False)
    reply = client_app(_message(_task(tiny_fashion_root, values_only)), context)
    assert len(result_from_content(reply.content, 2).payload) == len(values_only)
    # a node that lost its state cannot decode one, and says so
    with pytest.raises(MaskUnknown):
        client_app(_message(_task(tiny_fashion_root, values_only)), _context())
    # a task for another client is refused
    with pytest.raises(ValueError, match="reached the node of client 1"):
        client_app(_message(task), _context(partition=1))
    # a node may keep the data elsewhere (node-config data-root)
    moved = dataclasses.replace(task, data=task.data.replace(str(tiny_fashion_root), "/nowhere"))
    elsewhere = _context()
    elsewhere.node_config["data-root"] = str(tiny_fashion_root)
    reply = client_app(_message(moved), elsewhere)
    assert result_from_content(reply.content, 2).payload == expected.payload
    reply = client_app(_message(task, "evaluate"), _context())
    metrics = reply.content.metric_records["metrics"]
    assert 0.0 <= cast(float, metrics["eval-acc"]) <= 1.0
    assert metrics["num-examples"] == data.num_examples(2)


def test_flower_options_check_values_and_map_to_client_resources() -> None:
    options = FlowerOptions(num_cpus=1, num_gpus=0.5, ray_cpus=2)
    config = options.backend_config()
    assert config["client_resources"] == {"num_cpus": 1, "num_gpus": 0.5}
    assert config["init_args"]["num_cpus"] == 2
    assert config["init_args"]["log_to_driver"] is False
    for bad in (
        {"num_cpus": 0},
        {"num_gpus": -1},
        {"ray_cpus": 1, "num_cpus": 2},
        {"round_timeout": 0},
        {"node_timeout": 0},
    ):
        with pytest.raises(UsageError, match=r"flower\."):
            FlowerOptions(**bad)  # type: ignore[arg-type]


def test_missing_or_mismatched_supernodes_are_usage_errors(tiny_fashion_root: Path) -> None:
    options = FlowerOptions(node_timeout=0.1)
    few = _engine(tiny_fashion_root, transport=FlowerGrid(LoopbackGrid(2, 4), options))
    with pytest.raises(UsageError, match=r"2 of data.num_clients=4 clients have no SuperNode"):
        few.run()
    other = _engine(tiny_fashion_root, transport=FlowerGrid(LoopbackGrid(4, 5), options))
    with pytest.raises(UsageError, match=r"num-partitions=5, but data.num_clients=4"):
        other.run()


# -- Flower's simulation engine (Ray) -------------------------------------------------------
def _rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "metrics.csv").open()))


@contextmanager
def _sampling_recorded() -> Iterator[list[list[int]]]:
    """Every `ClientSampler.sample` result while inside, in order (both engines use it)."""
    sampled: list[list[int]] = []
    sample = ClientSampler.sample

    def record(self: ClientSampler, num_clients: int, k: int) -> list[int]:
        sampled.append(sample(self, num_clients, k))
        return sampled[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ClientSampler, "sample", record)
        yield sampled


@pytest.fixture(scope="module")
def local_smoke(
    tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[list[int]]]:
    """The smoke config on the local engine: its run folder and the clients of each round."""
    out = tmp_path_factory.mktemp("local") / "run"
    with _sampling_recorded() as sampled:
        main(federate_args(tiny_fashion_root, out, "--wandb.enabled", "false"))
    return out, sampled


def test_simulation_matches_local_engine(
    tiny_fashion_root: Path, local_smoke: tuple[Path, list[list[int]]], tmp_path: Path
) -> None:
    import ray

    local, local_sampled = local_smoke
    out = tmp_path / "flower"
    with _sampling_recorded() as sampled:
        main(
            federate_args(
                tiny_fashion_root,
                out,
                "--engine",
                "flower",
                "--checkpoint",
                str(local / "pretrain" / "dae.ckpt"),
                "--flower.ray_cpus",
                "2",
            )
        )
    assert sampled == local_sampled and len(sampled) == 3
    for name in ("metrics.csv", "summary.json", "config.yaml", "model.pt", "checkpoint.pt"):
        assert (out / name).is_file(), name
    assert list((out / "wandb").glob("offline-run-*"))
    ours, theirs = _rows(out), _rows(local)
    for key in (
        "comm/down_bytes",
        "comm/up_bytes",
        "comm/bytes",
        "comm/cum_bytes",
        "compute/flops",
        "clients/participated",
        "clients/failed",
    ):
        assert [row[key] for row in ours] == [row[key] for row in theirs], key
    for a, b in zip(ours, theirs, strict=True):
        assert float(a["test/acc"]) == pytest.approx(float(b["test/acc"]), abs=0.005)
    summary = json.loads((out / "summary.json").read_text())
    local_summary = json.loads((local / "summary.json").read_text())
    for key in ("down_bytes", "up_bytes", "total_bytes", "client_flops", "rounds"):
        assert summary[key] == local_summary[key], key
    assert not ray.is_initialized()


@pytest.mark.slow
def test_simulation_counts_a_raising_client_as_failed(
    tiny_fashion_root: Path, local_smoke: tuple[Path, list[list[int]]], tmp_path: Path
) -> None:
    out = tmp_path / "faulty"
    main(
        federate_args(
            tiny_fashion_root,
            out,
            "--engine",
            "flower",
            "--checkpoint",
            str(local_smoke[0] / "pretrain" / "dae.ckpt"),
            "--federation.faults.probability",
            "0.3",
            "--federation.faults.seed",
            "6",
            "--federation.faults.kinds",
            '["raise"]',
            "--wandb.enabled",
            "false",
        )
    )
    injector = FaultInjector(FaultInjection(probability=0.3, seed=6, kinds=["raise"]))
    expected = [sum(injector.draw() == "raise" for _ in range(4)) for _ in range(3)]
    assert expected == [1, 1, 1]
    rows = _rows(out)
    assert [int(row["clients/failed"]) for row in rows] == expected
    assert [int(row["clients/participated"]) for row in rows] == [3, 3, 3]
    assert all(row["test/acc"] for row in rows)


# -- Flower's deployment runtime on loopback ------------------------------------------------
def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`; fail if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"process {process.args!r} exited early"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _descendants(pid: int) -> list[int]:
    """Process ids below `pid` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes we started and everything they started; kill what lingers."""
    pids = [pid for p in processes for pid in _descendants(p.pid)]
    for p in processes:
        if p.poll() is None:
            p.terminate()
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in processes:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for pid in pids:
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_deployment_on_loopback(
    tiny_fashion_root: Path, local_smoke: tuple[Path, list[list[int]]], tmp_path: Path
) -> None:
    """One flower-superlink, two flower-supernode, `flwr run deploy/flower`: all on 127.0.0.1."""
    link, node0, node1 = _free_ports(3)
    home = tmp_path / "flwr_home"
    flower_env = dict(os.environ)
    # the Flower commands start each other by name: this venv's bin first
    flower_env["PATH"] = f"{BIN}{os.pathsep}{flower_env.get('PATH', '')}"
    flower_env["FLWR_HOME"] = str(home)
    flower_env["FLWR_TELEMETRY_ENABLED"] = "0"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "loopback"\n\n[superlink.loopback]\n'
        f'address = "127.0.0.1:{link}"\ninsecure = true\n'
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> None:
        with (logs / f"{name}.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [str(BIN / args[0]), *args[1:]],
                    cwd=tmp_path,
                    env=flower_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    out = tmp_path / "deployed"
    args = " ".join(
        [
            f"--data.root={tiny_fashion_root}",
            "--data.server_images=100",
            "--data.max_test_examples=200",
            "--data.num_clients=2",
            "--federation.clients_per_round=2",
            "--rounds=2",
            f"--output={out}",
            f"--checkpoint={local_smoke[0] / 'pretrain' / 'dae.ckpt'}",
            "--progress=false",
            "--wandb.enabled=false",
        ]
    )
    try:
        start(
            "superlink",
            "flower-superlink",
            "--insecure",
            "--host",
            "127.0.0.1",
            "--port",
            str(link),
            "--disable-runtime-dependency-installation",
        )
        _wait_listening(link, processes[0])
        for i, port in enumerate((node0, node1)):
            start(
                f"supernode{i}",
                "flower-supernode",
                "--insecure",
                "--superlink",
                f"127.0.0.1:{link}",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--node-config",
                f"partition-id={i} num-partitions=2",
            )
        run = subprocess.run(
            [
                str(BIN / "flwr"),
                "run",
                str(REPO / "deploy" / "flower"),
                "loopback",
                "--stream",
                "--run-config",
                f'config="{SMOKE}" args="{args}"',
            ],
            cwd=tmp_path,
            env=flower_env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        deadline = time.monotonic() + 120
        while not (out / "summary.json").is_file() and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        _stop(processes)
    assert all(p.poll() is not None for p in processes)
    logs_text = "\n".join(f.read_text(errors="replace")[-3000:] for f in logs.iterdir())
    assert (out / "summary.json").is_file(), run.stdout + logs_text
    rows = _rows(out)
    assert [int(row["round"]) for row in rows] == [1, 2]
    assert [int(row["clients/participated"]) for row in rows] == [2, 2]
    # both clients download the mask once, then values only; each uploads values only
    state = torch.load(out / "model.pt", weights_only=False)
    mask = Mask(state["mask"])
    template = state["state_dict"]
    down = [payload_size(template, mask, with_mask=w, codec="float32") for w in (True, False)]
    up = payload_size(template, mask, with_mask=False, codec="float32")
    assert [int(row["comm/down_bytes"]) for row in rows] == [2 * down[0], 2 * down[1]]
    assert [int(row["comm/up_bytes"]) for row in rows] == [2 * up, 2 * up]


def test_client_app_keeps_its_error_feedback_residual_in_the_context(
    tiny_fashion_root: Path,
) -> None:
    """The node's residual is its own state (never sent), equal to the local engine's client's."""
    torch.manual_seed(0)
    model = Classifier(model="mlp", lr=0.05)
    mask = magnitude_prune(model, 0.8, names=prunable_names(model))
    state = {
        k: v.clone() * mask[k] if k in mask else v.clone() for k, v in model.state_dict().items()
    }
    first = encode(state, mask, with_mask=True)
    upload = UploadCodec(codec="int4", topk=0.1, error_feedback=True, rounding="stochastic")
    task = dataclasses.replace(_task(tiny_fashion_root, first), upload=upload, rounding_seed=3)
    data = FederatedDataModule(**json.loads(task.data))
    data.setup()
    expected = run_client_update(
        client_id=2,
        payload=first,
        model=model,
        mask=Mask({}),
        num_examples=data.num_examples(2),
        dataloader=data.client_dataloader(2, seed=11, batch_size=16),
        config=task.client,
        flops_per_example=10.0,
        upload=upload,
        generator=rounding_generator(3, 1, 2),
    )
    context = _context()
    reply = client_app(_message(task), context)
    assert result_from_content(reply.content, 2).payload == expected.payload
    assert expected.residual is not None and bool(expected.residual.abs().sum() > 0)
    kept = context.state.array_records[RESIDUAL_STATE]["residual"].numpy()
    assert np.array_equal(kept, expected.residual.numpy())
