"""What the Flower tests share: `LoopbackGrid`, tiny engines, ClientApp tasks, and process helpers.

`LoopbackGrid` is an in-process Grid that behaves like Flower's runtimes (an exception becomes an
error reply; a node's Context is saved only when its ClientApp succeeds).
"""

from __future__ import annotations

import copy
import csv
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import torch
from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.engine import FederationConfig, RoundEngine, Seeds
from fl_lightning.federated.faults import FaultInjection
from fl_lightning.federated.flower_apps import client_app
from fl_lightning.federated.flower_messages import ClientTask
from fl_lightning.federated.sampling import ClientSampler
from fl_lightning.federated.transport import Transport
from fl_lightning.federated.upload import UploadCodec
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.magnitude import magnitude_prune, prunable_names
from fl_lightning.tracking.metric_names import WALL_CLOCK_FIELDS


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
def tiny_engine(
    root: Path, faults: FaultInjection | None = None, transport: Transport | None = None
) -> RoundEngine:
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
    return RoundEngine(
        model=model,
        initial_state=state,
        mask=mask,
        data=data,
        client=ClientConfig(local_epochs=1, batch_size=16),
        federation=FederationConfig(
            rounds=3, clients_per_round=2, faults=faults or FaultInjection()
        ),
        seeds=Seeds(sampling=3),
        transport=transport,
    )


def recording(engine: RoundEngine) -> list[list[int]]:
    """The clients `engine` samples, round by round."""
    sampled: list[list[int]] = []
    sample = engine.sampler.sample

    def record(num_clients: int, k: int) -> list[int]:
        sampled.append(sample(num_clients, k))
        return sampled[-1]

    engine.sampler.sample = record  # type: ignore[method-assign]
    return sampled


def steady(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`history` without its wall-clock fields, which differ from run to run."""
    return [{k: v for k, v in row.items() if k not in WALL_CLOCK_FIELDS} for row in history]


# -- the ClientApp --------------------------------------------------------------------------
def make_task(root: Path, payload: bytes, *, fault: str = "") -> ClientTask:
    """A round-1 task for client 2 on the tiny data: an MLP, 16-example batches, `payload`."""
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


def make_message(task: ClientTask, message_type: str = "train") -> Message:
    """`task` as a Message to node 5, with a message id as a Grid would give it."""
    message = Message(task.to_content(), dst_node_id=5, message_type=message_type)
    message.metadata.__dict__["_message_id"] = uuid.uuid4().hex
    return message


def make_context(partition: int = 2) -> Context:
    """A fresh Context (empty state) of node 5, which holds partition `partition`."""
    return Context(
        run_id=1,
        node_id=5,
        node_config={"partition-id": partition},
        state=RecordDict(),
        run_config={},
    )


# -- runs on disk ---------------------------------------------------------------------------
#: Per-round metrics both engines must agree on exactly (test accuracy: within 0.005).
SAME_ON_BOTH_ENGINES = (
    "comm/down_bytes",
    "comm/up_bytes",
    "comm/bytes",
    "comm/cum_bytes",
    "compute/flops",
    "clients/participated",
    "clients/failed",
)


def assert_same_rounds(
    ours: Sequence[Mapping[str, Any]], theirs: Sequence[Mapping[str, Any]]
) -> None:
    """Two engines' per-round rows (engine history or metrics.csv) agree: traffic, FLOPs and
    participation exactly, test accuracy within 0.005 (Ray's threads sum differently)."""
    assert len(ours) == len(theirs)
    for key in SAME_ON_BOTH_ENGINES:
        assert [float(r[key]) for r in ours] == [float(r[key]) for r in theirs], key
    for a, b in zip(ours, theirs, strict=True):
        assert float(a["test/acc"]) == pytest.approx(float(b["test/acc"]), abs=0.005)


def metric_rows(out: Path) -> list[dict[str, str]]:
    """The rows of the run folder `out`'s metrics.csv."""
    return list(csv.DictReader((out / "metrics.csv").open()))


@contextmanager
def sampling_recorded() -> Iterator[list[list[int]]]:
    """Every `ClientSampler.sample` result while inside, in order (both engines use it)."""
    sampled: list[list[int]] = []
    sample = ClientSampler.sample

    def record(self: ClientSampler, num_clients: int, k: int) -> list[int]:
        sampled.append(sample(self, num_clients, k))
        return sampled[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ClientSampler, "sample", record)
        yield sampled


# -- processes on loopback ------------------------------------------------------------------
def free_ports(n: int) -> list[int]:
    """`n` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`; fail if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"process {process.args!r} exited early"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def descendants(pid: int) -> list[int]:
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


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes we started and everything they started; kill what lingers."""
    pids = [pid for p in processes for pid in descendants(p.pid)]
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
