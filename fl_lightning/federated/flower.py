"""`FlowerEngine`: the local engine's round loop, with client updates travelling as Flower messages.

Everything but the transport is `LocalEngine`'s: the engine samples clients with its own
`ClientSampler`, encodes the downloads with the codec, decodes, validates and averages the uploads,
evaluates centrally, counts `len()` of the payloads it puts into messages, and writes the same
metrics, W&B run and files. Only `_dispatch` differs: each sampled client's task goes as a `train`
message to the SuperNode whose `partition-id` is that client's id, and the replies come back
over Flower's grid.

Two runtimes, one ServerApp/ClientApp pair (`flower_apps.py`):

- simulation (`fl-lightning federate --engine flower`): `run()` starts Flower's simulation
  engine (Ray backend) with one SuperNode per client; the ServerApp's main loop is this engine.
- deployment (`flwr run deploy/flower`): the SuperLink starts `flower_apps.server_app`, which
  runs `federate` inside `serving(grid)`, so `run()` drives the rounds over that grid.

Node -> client mapping: at start (and whenever new nodes appear) the server sends every unknown
node a `query` message and records the `partition-id` from its reply (its `node_config`).
A SuperNode keeps the mask of its first download in its Context state, which Flower saves only
when the ClientApp returns normally; so when a download that carried the mask gets an error
reply, the next download to that client carries the mask again (and is counted as sent).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# Flower reads this once, when first imported; these machines are usually offline.
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp

from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientResult
from fl_lightning.federated.codec import read_header
from fl_lightning.federated.engine import ClientJob, LocalEngine
from fl_lightning.federated.flower_apps import client_app
from fl_lightning.federated.flower_messages import (
    MASK_UNKNOWN,
    NODE,
    ClientTask,
    result_from_content,
)
from fl_lightning.federated.flower_options import FlowerOptions
from fl_lightning.federated.progress import RoundProgress
from fl_lightning.federated.sampling import data_order_seed

log = logging.getLogger(__name__)

_ACTIVE_GRID: ContextVar[Grid | None] = ContextVar("fl_lightning_flower_grid", default=None)
_PULL_INTERVAL = 0.1


class ClientUnreachable(RuntimeError):
    """A sampled client has no connected SuperNode, or its task could not be pushed."""


class ClientErrorReply(RuntimeError):
    """A client's ClientApp (or its runtime) answered with an error instead of an upload."""


class ReplyTimeout(RuntimeError):
    """A client did not reply within `flower.round_timeout`."""


@contextmanager
def serving(grid: Grid) -> Iterator[None]:
    """Within this block a `FlowerEngine` runs its rounds over `grid` (deployment's ServerApp)."""
    token = _ACTIVE_GRID.set(grid)
    try:
        yield
    finally:
        _ACTIVE_GRID.reset(token)


@contextmanager
def _quiet_flower(verbose: bool) -> Iterator[None]:
    """Flower's and Ray's own logs off (unless `verbose`); fl_lightning logs client failures."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    flwr_log = logging.getLogger("flwr")
    level = flwr_log.level
    if not verbose:
        flwr_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        flwr_log.setLevel(level)


def _short(reason: str) -> str:
    """The last line of an error reply's reason (Ray's carry whole tracebacks)."""
    lines = [line.strip() for line in reason.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else reason).rstrip("'>")


class FlowerEngine(LocalEngine):
    """`LocalEngine` whose clients are Flower SuperNodes (simulated, or deployed)."""

    def __init__(self, *, options: FlowerOptions | None = None, **kwargs: Any) -> None:
        """Args:
        options: Flower settings (client resources, timeouts, verbosity).
        kwargs: every `LocalEngine` keyword argument, with the same meaning.
        """
        super().__init__(**kwargs)
        self.options = options or FlowerOptions()
        self.grid: Grid | None = None
        self.nodes: dict[int, int] = {}  # client id -> node id
        self._asked: set[int] = set()  # node ids already queried
        self._data_args = ClientTask.arguments(dict(self.data.hparams))
        model_args = dict(self.model.hparams)
        model_args["dae_checkpoint"] = None  # the weights travel in the payload
        self._model_args = ClientTask.arguments(model_args)

    # -- the two runtimes -----------------------------------------------------------------
    def run(self, on_round: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Run the federation: over the deployment grid if inside `serving`, else simulated."""
        grid = _ACTIVE_GRID.get()
        if grid is not None:
            return self.serve(grid, on_round)
        return self.simulate(on_round)

    def simulate(self, on_round: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Run on Flower's simulation engine (Ray), one SuperNode per client; Ray is shut down."""
        from flwr.simulation import run_simulation

        outcome: dict[str, Any] = {}
        server = ServerApp()

        @server.main()
        def _main(grid: Grid, context: Context) -> None:
            try:
                outcome["summary"] = self.serve(grid, on_round)
            except BaseException as err:  # re-raised in this thread, after Ray is down
                outcome["error"] = err

        with _quiet_flower(self.options.verbose):
            try:
                run_simulation(
                    server_app=server,
                    client_app=client_app,
                    num_supernodes=self.data.num_clients,
                    backend_config=self.options.backend_config(),
                    verbose_logging=self.options.verbose,
                )
            finally:
                _shutdown_ray()
        if "error" in outcome:
            raise outcome["error"]
        if "summary" not in outcome:
            raise RuntimeError("Flower's simulation ended without running the federation")
        summary: dict[str, Any] = outcome["summary"]
        return summary

    def serve(
        self, grid: Grid, on_round: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """The ServerApp's main loop: map nodes to clients, then `LocalEngine.run` over `grid`."""
        self.grid = grid
        self.nodes, self._asked = {}, set()
        self.clients_with_mask.clear()  # fresh nodes know no mask, also after a resume
        try:
            self._discover(wait=True)
            return super().run(on_round)
        finally:
            self.grid = None

    # -- nodes ----------------------------------------------------------------------------
    def _discover(self, *, wait: bool) -> None:
        """Ask unseen nodes their partition id; with `wait`, until every client has a node."""
        assert self.grid is not None
        num_clients = self.data.num_clients
        deadline = time.monotonic() + (self.options.node_timeout if wait else 0.0)
        while True:
            online = set(self.grid.get_node_ids())
            self.nodes = {cid: node for cid, node in self.nodes.items() if node in online}
            self._ask(sorted(online - self._asked))
            missing = sorted(set(range(num_clients)) - set(self.nodes))
            if not missing or not wait or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if wait and missing:
            raise UsageError(
                f"{len(missing)} of data.num_clients={num_clients} clients have no SuperNode "
                f"after flower.node_timeout={self.options.node_timeout} s (partition-ids "
                f"{missing[:10]}{' ...' if len(missing) > 10 else ''}); start one per client: "
                f'flower-supernode --node-config "partition-id=<id> num-partitions={num_clients}"'
            )

    def _ask(self, node_ids: list[int]) -> None:
        assert self.grid is not None
        if not node_ids:
            return
        messages = [
            Message(
                RecordDict({NODE: ConfigRecord({})}), dst_node_id=n, message_type=MessageType.QUERY
            )
            for n in node_ids
        ]
        for reply in self.grid.send_and_receive(messages, timeout=self.options.node_timeout):
            node = reply.metadata.src_node_id
            self._asked.add(node)
            if reply.has_error():
                reason = _short(reply.error.reason or "")
                log.warning("SuperNode %d did not say its partition-id: %s", node, reason)
                continue
            info = reply.content.config_records[NODE]
            cid = int(info["partition-id"])  # type: ignore[arg-type]
            parts = info.get("num-partitions")
            if isinstance(parts, int) and parts != self.data.num_clients:
                raise UsageError(
                    f"SuperNode {node} was started with num-partitions={parts}, but "
                    f"data.num_clients={self.data.num_clients}: they must agree."
                )
            if not 0 <= cid < self.data.num_clients:
                log.warning(
                    "SuperNode %d has partition-id=%d outside [0, %d): not used",
                    node,
                    cid,
                    self.data.num_clients,
                )
                continue
            if cid in self.nodes:
                log.warning(
                    "SuperNodes %d and %d both claim partition-id=%d; using %d",
                    self.nodes[cid],
                    node,
                    cid,
                    node,
                )
            self.nodes[cid] = node

    # -- one round's transport ------------------------------------------------------------
    def _task(self, r: int, job: ClientJob) -> ClientTask:
        return ClientTask(
            round=r,
            client_id=job.client_id,
            payload=job.payload,
            data_seed=data_order_seed(self.seeds.data_order, r, job.client_id),
            fault=job.fault or "",
            dtype=self.federation.dtype,
            sparse=len(self.mask) > 0,
            flops_per_example=self.flops_per_example,
            client=self.client,
            data=self._data_args,
            model=self._model_args,
        )

    def _train_message(self, r: int, job: ClientJob) -> Message:
        task = self._task(r, job).to_content()
        node = self.nodes[job.client_id]
        return Message(task, dst_node_id=node, message_type=MessageType.TRAIN, group_id=str(r))

    def _dispatch(
        self, r: int, jobs: list[ClientJob], bar: RoundProgress | None
    ) -> list[ClientResult | Exception]:
        """Send each job as a `train` message to its client's node; gather replies in job order."""
        assert self.grid is not None
        self._discover(wait=False)  # nodes may have (re)connected since the last round
        replies: list[ClientResult | Exception] = [
            ClientUnreachable(f"no SuperNode with partition-id={job.client_id} is connected")
            for job in jobs
        ]
        outgoing = [
            (i, self._train_message(r, job))
            for i, job in enumerate(jobs)
            if job.client_id in self.nodes
        ]
        pushed = set(self.grid.push_messages([message for _, message in outgoing]))
        pending: dict[str, int] = {}
        for i, message in outgoing:
            if message.metadata.message_id in pushed:
                pending[message.metadata.message_id] = i
                self._count_download(jobs[i])
            else:
                replies[i] = ClientUnreachable("the SuperLink did not accept the task")
        if bar is not None:
            for _ in range(len(jobs) - len(pending)):
                bar.client_done()
        timeout = self.options.round_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while pending:
            for reply in self.grid.pull_messages(list(pending)):
                i = pending.pop(reply.metadata.reply_to_message_id, -1)
                if i >= 0:
                    replies[i] = self._read_reply(jobs[i], reply)
                    if bar is not None:
                        bar.client_done()
            if pending and deadline is not None and time.monotonic() > deadline:
                for i in pending.values():
                    replies[i] = ReplyTimeout(f"no reply within flower.round_timeout={timeout} s")
                break
            if pending:
                time.sleep(_PULL_INTERVAL)
        return replies

    def _read_reply(self, job: ClientJob, reply: Message) -> ClientResult | Exception:
        if reply.has_error():
            reason = reply.error.reason or ""
            if MASK_UNKNOWN in reason or read_header(job.payload).with_mask:
                # the node saves its Context (and so the mask) only when its ClientApp succeeds
                self.clients_with_mask.discard(job.client_id)
            return ClientErrorReply(f"error reply (code {reply.error.code}): {_short(reason)}")
        try:
            return result_from_content(reply.content, job.client_id)
        except Exception as err:  # a malformed reply is a failed client like any other
            return err


def _shutdown_ray() -> None:
    """Stop Ray if the simulation left it running (Flower stops it on a normal end)."""
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()
