"""Flower as the engine's transport: client updates travel as Flower messages.

Everything but the transport is the engine's (`RoundEngine`): it samples clients with its own
`ClientSampler`, encodes the downloads with the codec, decodes, validates and averages the
uploads, evaluates centrally, counts `len()` of the payloads it puts into messages, and writes
the same metrics, W&B run and files. `FlowerGrid.deliver` sends each sampled client's task as a
`train` message to the SuperNode whose `partition-id` is that client's id and gathers the
replies over Flower's grid.

Two runtimes, one ClientApp (`flower_apps.client_app`):

- simulation (`fl-lightning federate --engine flower`): `FlowerSimulation.serve` starts Flower's
  simulation engine (Ray backend) with one SuperNode per client and runs the engine's loop in
  its ServerApp.
- deployment (`flwr run deploy/flower`): the SuperLink starts `commands.flower_server`'s
  ServerApp, which builds the engine with `FlowerGrid(grid)`, the grid it was given.

Node -> client mapping: at start (and whenever new nodes appear) the server sends every unknown
node a `query` message and records the `partition-id` from its reply (its `node_config`).
A SuperNode keeps the mask of its first download in its Context state, which Flower saves only
when the ClientApp returns normally; so when a download that carried the mask gets an error
reply, the next download to that client carries the mask again (and is counted as sent).

Error-feedback residuals: a deployment's SuperNodes keep theirs in their Context state (a new
Flower run starts it empty, so such a run cannot be resumed exactly: `federate` refuses); the
simulation's travel with the tasks and replies, and the engine checkpoints them, as the local
engine does (`server_residuals`). SIGINT / SIGTERM stop a simulation as they stop the local
engine: the ServerApp thread abandons the round in flight (`FlowerSimulation.serve`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

# Flower reads this once, when first imported; these machines are usually offline.
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
# Read when Ray is first imported (which this module does not do). Ray's failure signal handler
# turns SIGTERM into a native stack dump (exit 134), and `ray.shutdown` leaves SIGTERM at its
# default, which ends a stopping run without a word: fl_lightning handles SIGTERM itself.
os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")

from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp

from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientResult
from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.codec import read_header
from fl_lightning.federated.codecs.values import NON_FINITE_REASON, NonFiniteValues
from fl_lightning.federated.flower_apps import client_app
from fl_lightning.federated.flower_messages import (
    MASK_UNKNOWN,
    NODE,
    ClientTask,
    result_from_content,
)
from fl_lightning.federated.flower_options import FlowerOptions
from fl_lightning.federated.sampling import data_order_seed
from fl_lightning.federated.transport import RoundHost
from fl_lightning.federated.workspace import client_noise_seed
from fl_lightning.interrupts import Interrupted, keep_signal_handlers, on_first_signal

log = logging.getLogger(__name__)

T = TypeVar("T")
_PULL_INTERVAL = 0.02  # seconds between polls for replies (a poll is an in-memory lookup)


class ClientUnreachable(RuntimeError):
    """A sampled client has no connected SuperNode, or its task could not be pushed."""


class ClientErrorReply(RuntimeError):
    """A client's ClientApp (or its runtime) answered with an error instead of an upload."""


class ReplyTimeout(RuntimeError):
    """A client did not reply within `flower.round_timeout`."""


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


class FlowerGrid:
    """A transport over a Flower `Grid` (deployment's, or the simulation's): one node per client."""

    #: Whether the server keeps the clients' error-feedback residuals (the tasks bring them,
    #: the replies take them back; the engine checkpoints them). A deployment's nodes keep
    #: their own: a residual is the part of an update not sent yet.
    server_residuals = False

    def __init__(self, grid: Grid | None, options: FlowerOptions | None = None) -> None:
        """Send each round's tasks over a Flower grid; nothing runs before the engine does.

        Args:
            grid: the Flower grid to send tasks over (None until a runtime provides one).
            options: Flower settings (timeouts; `num_cpus` sets each client's torch threads).
        """
        self.grid = grid
        self.options = options or FlowerOptions()
        #: The signal that stopped this process, once it did (set from the main thread while
        #: the loop runs in another, as in Flower's simulation): the loop stops at its next wait.
        self.stopping: int | None = None
        self.nodes: dict[int, int] = {}  # client id -> node id
        self._asked: set[int] = set()  # node ids already queried
        self._task_args: tuple[str, str] | None = None  # (data, model) JSON, built once

    def serve(self, host: RoundHost, loop: Callable[[], T]) -> T:
        """Map nodes to clients (waiting for all of them), then run `loop` over the grid."""
        self.nodes, self._asked = {}, set()
        for cid in range(host.setup.num_clients):
            host.mask_lost(cid)  # fresh nodes know no mask, also after a resume
        self._discover(host.setup.num_clients, wait=True)
        return loop()

    def _check_stopping(self) -> None:
        """`Interrupted` once the process was told to stop (`stopping`)."""
        if self.stopping is not None:
            raise Interrupted(self.stopping)

    # -- nodes ----------------------------------------------------------------------------
    def _discover(self, num_clients: int, *, wait: bool) -> None:
        """Ask unseen nodes their partition id; with `wait`, until every client has a node."""
        assert self.grid is not None
        deadline = time.monotonic() + (self.options.node_timeout if wait else 0.0)
        while True:
            online = set(self.grid.get_node_ids())
            self.nodes = {cid: node for cid, node in self.nodes.items() if node in online}
            self._ask(sorted(online - self._asked), num_clients)
            missing = sorted(set(range(num_clients)) - set(self.nodes))
            if not missing or not wait or time.monotonic() >= deadline:
                break
            self._check_stopping()
            time.sleep(0.5)
        if wait and missing:
            raise UsageError(
                f"{len(missing)} of data.num_clients={num_clients} clients have no SuperNode "
                f"after flower.node_timeout={self.options.node_timeout} s (partition-ids "
                f"{missing[:10]}{' ...' if len(missing) > 10 else ''}); start one per client: "
                f'flower-supernode --node-config "partition-id=<id> num-partitions={num_clients}"'
            )

    def _ask(self, node_ids: list[int], num_clients: int) -> None:
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
            if isinstance(parts, int) and parts != num_clients:
                raise UsageError(
                    f"SuperNode {node} was started with num-partitions={parts}, but "
                    f"data.num_clients={num_clients}: they must agree."
                )
            if not 0 <= cid < num_clients:
                log.warning(
                    "SuperNode %d has partition-id=%d outside [0, %d): not used",
                    node,
                    cid,
                    num_clients,
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

    # -- one round ------------------------------------------------------------------------
    def threads(self) -> int:
        """torch threads for each client (0: the node's own default)."""
        return 0

    def _task(self, r: int, job: ClientJob, host: RoundHost) -> ClientTask:
        setup = host.setup
        if self._task_args is None:
            self._task_args = (
                ClientTask.arguments(setup.data_args),
                ClientTask.arguments(setup.model_args),
            )
        data, model = self._task_args
        return ClientTask(
            round=r,
            client_id=job.client_id,
            payload=job.payload,
            data_seed=data_order_seed(setup.data_order, r, job.client_id),
            fault=job.fault or "",
            upload=setup.upload,
            rounding_seed=setup.rounding_seed,
            sparse=setup.sparse,
            flops_per_example=setup.flops_per_example,
            client=setup.client,
            data=data,
            model=model,
            threads=self.threads(),
            server_residuals=self.server_residuals,
            residual=host.residual(job.client_id) if self.server_residuals else None,
            workspace=setup.workspace,
            noise_seed=client_noise_seed(setup.workspace, setup.data_order, r, job.client_id),
        )

    def _train_message(self, r: int, job: ClientJob, host: RoundHost) -> Message:
        task = self._task(r, job, host).to_content()
        node = self.nodes[job.client_id]
        return Message(task, dst_node_id=node, message_type=MessageType.TRAIN, group_id=str(r))

    def deliver(
        self, r: int, jobs: list[ClientJob], host: RoundHost
    ) -> list[ClientResult | Exception]:
        """Send each job as a `train` message to its client's node; gather replies in job order."""
        assert self.grid is not None, "FlowerGrid.deliver outside serve()"
        self._check_stopping()
        self._discover(host.setup.num_clients, wait=False)  # nodes may have (re)connected
        replies: list[ClientResult | Exception] = [
            ClientUnreachable(f"no SuperNode with partition-id={job.client_id} is connected")
            for job in jobs
        ]
        outgoing = [
            (i, self._train_message(r, job, host))
            for i, job in enumerate(jobs)
            if job.client_id in self.nodes
        ]
        pushed = set(self.grid.push_messages([message for _, message in outgoing]))
        pending: dict[str, int] = {}
        for i, message in outgoing:
            if message.metadata.message_id in pushed:
                pending[message.metadata.message_id] = i
                host.sent(jobs[i])
            else:
                replies[i] = ClientUnreachable("the SuperLink did not accept the task")
        for _ in range(len(jobs) - len(pending)):
            host.client_done()
        timeout = self.options.round_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while pending:
            self._check_stopping()  # the round in flight is abandoned, as on the local engine
            for reply in self.grid.pull_messages(list(pending)):
                i = pending.pop(reply.metadata.reply_to_message_id, -1)
                if i >= 0:
                    replies[i] = self._read_reply(jobs[i], reply, host)
                    host.client_done()
            if pending and deadline is not None and time.monotonic() > deadline:
                for i in pending.values():
                    replies[i] = ReplyTimeout(f"no reply within flower.round_timeout={timeout} s")
                break
            if pending:
                time.sleep(_PULL_INTERVAL)
        return replies

    def _read_reply(
        self, job: ClientJob, reply: Message, host: RoundHost
    ) -> ClientResult | Exception:
        if reply.has_error():
            reason = reply.error.reason or ""
            if MASK_UNKNOWN in reason or read_header(job.payload).with_mask:
                # the node saves its Context (and so the mask) only when its ClientApp succeeds
                host.mask_lost(job.client_id)
            if NON_FINITE_REASON in reason:  # the client diverged: not a failure a retry mends
                return NonFiniteValues(_short(reason))
            return ClientErrorReply(f"error reply (code {reply.error.code}): {_short(reason)}")
        try:
            result = result_from_content(reply.content, job.client_id)
        except Exception as err:  # a malformed reply is a failed client like any other
            return err
        if result.residual is not None:  # run state, kept (and checkpointed) by the engine
            host.keep_residual(job.client_id, result.residual)
            result.residual = None
        return result


class FlowerSimulation(FlowerGrid):
    """Flower's simulation engine (Ray backend) as the transport: one SuperNode per client.

    `serve` starts the simulation, runs the engine's loop in its ServerApp over the simulation's
    grid, and stops Ray afterwards (also when the loop raises, which is re-raised here).
    """

    #: All nodes are this process's: the engine keeps the residuals in its checkpoint, so
    #: `--resume` continues exactly (a fresh simulation's nodes start with empty Contexts).
    server_residuals = True

    def __init__(self, options: FlowerOptions | None = None) -> None:
        """Args:
        options: Flower settings (client resources, timeouts, verbosity).
        """
        super().__init__(None, options)

    def threads(self) -> int:
        # Each actor holds `num_cpus` cores: more torch threads than that oversubscribe the
        # machine (actors + server), and spinning threads then cost far more than they give.
        return max(1, int(self.options.num_cpus))

    def serve(self, host: RoundHost, loop: Callable[[], T]) -> T:
        """Run `loop` in the simulation's ServerApp (a thread of Flower's); stop Ray after.

        SIGINT / SIGTERM reach this, the main thread, while Flower runs its SuperNodes here:
        raising there would leave Flower's threads waiting forever on actors that Ray no longer
        runs. So a signal only tells the ServerApp thread to stop (`stopping`): `deliver`
        raises `Interrupted` at its next poll, abandoning the round in flight; Flower then ends
        the simulation as usual (the clients' steps in flight finish first), and the
        `Interrupted` is raised here.
        """
        from flwr.simulation import run_simulation

        outcome: dict[str, Any] = {}
        self.stopping = None
        server = ServerApp()

        @server.main()
        def _main(grid: Grid, context: Context) -> None:
            self.grid = grid
            try:
                self._check_stopping()  # stopped before this thread even began
                outcome["result"] = FlowerGrid.serve(self, host, loop)
            except BaseException as err:  # re-raised in this thread, after Ray is down
                outcome["error"] = err
            finally:
                self.grid = None

        def stop(signum: int) -> None:
            self.stopping = signum

        with _quiet_flower(self.options.verbose), on_first_signal(stop):
            try:
                _start_ray(self.options)
                with keep_signal_handlers():  # `ray.shutdown` in Flower's clean-up, too
                    run_simulation(
                        server_app=server,
                        client_app=client_app,
                        num_supernodes=host.setup.num_clients,
                        backend_config=self.options.backend_config(),
                        verbose_logging=self.options.verbose,
                    )
            finally:
                with keep_signal_handlers():
                    _shutdown_ray()
        if self.stopping is not None:  # also when the last round had ended meanwhile
            error = outcome.get("error")
            raise error if isinstance(error, Interrupted) else Interrupted(self.stopping)
        if "error" in outcome:
            raise outcome["error"]
        if "result" not in outcome:
            raise RuntimeError("Flower's simulation ended without running the federation")
        result: T = outcome["result"]
        return result


def _start_ray(options: FlowerOptions) -> None:
    """Start Ray as Flower's simulation would (it then uses this instance), keeping this
    process's SIGINT / SIGTERM handlers: `ray.init` replaces SIGTERM's with its own, which ends
    the process through a native stack dump (exit 134) instead of a clean stop."""
    import ray

    if ray.is_initialized():
        return
    # As Flower's RayBackend.init_ray: the actors import what this process can.
    pythonpath = os.pathsep.join(sys.path)
    if os.environ.get("PYTHONPATH"):
        pythonpath = f"{pythonpath}{os.pathsep}{os.environ['PYTHONPATH']}"
    os.environ["PYTHONPATH"] = pythonpath
    with keep_signal_handlers():
        ray.init(
            runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
            **options.backend_config()["init_args"],
        )


def _shutdown_ray() -> None:
    """Stop Ray if the simulation left it running (Flower stops it on a normal end)."""
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()
