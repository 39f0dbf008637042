"""`RoundEngine`: FedAvg's round loop, resumable after any round, for every transport.

Each round: sample clients (own seed) -> encode the global model (`federation.down_codec`;
`broadcast.py`, with the server's error feedback) -> each client trains from the decoded payload
with a fresh lean Trainer and uploads its update (`federation.up_codec`, top-k, error
feedback) -> the server adds every decoded update to the global model and validates the result
-> masked, example-weighted FedAvg -> evaluate -> meters -> the observers record the round
(`observers.py`: W&B, then metrics.csv and the checkpoint, then the progress bar).

Error feedback residuals are each client's own state; this engine, which plays every client,
keeps them (`residuals`) in its checkpoint, so a resumed run is identical to an uninterrupted one
(Flower's simulation hands them to the engine too: `FlowerGrid.server_residuals`).

The engine does not know the method: it gets an initial global state and a Mask. It keeps one
workspace model, never one per client, so memory does not grow with the number of clients. It
writes nothing and shows nothing itself: whoever builds it attaches the recorders.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError
from fl_lightning.federated.accounting import (
    CommunicationMeter,
    ComputeMeter,
    training_flops_per_example,
)
from fl_lightning.federated.aggregate import fedavg
from fl_lightning.federated.broadcast import Broadcast
from fl_lightning.federated.client import (
    ClientConfig,
    ClientResult,
    client_step,
    quiet_lightning,
)
from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.codec import decode
from fl_lightning.federated.config import FederationConfig, FederationFailed, Seeds
from fl_lightning.federated.faults import FaultInjector
from fl_lightning.federated.observers import RoundObserver
from fl_lightning.federated.sampling import ClientSampler, clients_per_round, data_order_seed
from fl_lightning.federated.transport import ClientSetup, InProcess, Transport
from fl_lightning.federated.upload import rounding_generator
from fl_lightning.federated.validation import is_divergence, validate_update
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.mask import Mask
from fl_lightning.tracking import metric_names as names

log = logging.getLogger(__name__)


def _device(name: str) -> str:
    """`auto` as the device it stands for here (CUDA where present); other names unchanged."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


@dataclass
class _Outcome:
    results: list[ClientResult]
    states: list[dict[str, torch.Tensor]]
    failed: int
    participated: int
    non_finite: int = 0  # of the failed: updates rejected for NaN / inf values


class RoundEngine:
    """FedAvg of a masked model over the clients of a `FederatedDataModule`.

    The loop runs in this process; its clients train where `transport` sends them (here,
    Flower's simulation or a deployment's grid).
    """

    def __init__(
        self,
        *,
        model: Classifier,
        initial_state: dict[str, torch.Tensor],
        mask: Mask,
        data: FederatedDataModule,
        client: ClientConfig,
        federation: FederationConfig,
        seeds: Seeds,
        method: str = "custom",
        observers: Sequence[RoundObserver] = (),
        eval_device: str = "auto",
        transport: Transport | None = None,
    ) -> None:
        """Set up the round loop; nothing runs before `run`.

        Args:
            model: the workspace Classifier (architecture and optimiser); its weights are replaced.
            initial_state: the global model at round 0 (pruned positions already zero).
            mask: the subnetwork; an empty Mask for dense methods.
            data: the clients' partitions and the test split.
            client: local training settings.
            federation: the round loop's settings.
            seeds: the named seeds (sampling, data order; split and init are used by the caller).
            method: name written into results.
            observers: what records the run, told in this order (`federated/observers.py`:
                W&B, run files, progress); none: nothing is written or shown.
            eval_device: device of the central evaluation (`auto`: CUDA where present, else CPU).
            transport: how downloads reach the clients (default `InProcess`: trained here).
        """
        quiet_lightning()
        data.setup()
        federation.validate(data.num_clients)
        mask.validate_against(model)
        self.model = model
        self.mask = mask
        self.data = data
        self.client = client
        self.federation = federation
        self.seeds = seeds.filled(0)  # every source set: an unset seed is 0
        self.method = method
        self.observers: tuple[RoundObserver, ...] = tuple(observers)
        self.eval_device = _device(eval_device)
        self.transport: Transport = transport or InProcess()
        #: the observers of the round being trained (`client_done` tells them)
        self._telling: tuple[RoundObserver, ...] = ()
        self.k = clients_per_round(federation.clients_per_round, data.num_clients)
        self.sampler = ClientSampler(seeds.of("sampling"))
        self.faults = FaultInjector(federation.faults)
        self.comm = CommunicationMeter()
        self.compute = ComputeMeter()
        self.global_state = {
            k: v.detach().to("cpu", torch.float32).clone() for k, v in initial_state.items()
        }
        self._apply_mask(self.global_state)
        self.server_optimizer = federation.make_server_optimizer(
            {name: self.global_state[name] for name, _ in model.named_parameters()}
        )
        #: Encodes each round's download; keeps the server's residual (down_error_feedback).
        self.broadcast = Broadcast(
            federation.download_codec, error_feedback=federation.down_error_feedback
        )
        self.round = 0
        self.history: list[dict[str, Any]] = []
        self.clients_with_mask: set[int] = set()
        #: Error-feedback residual of each client that has uploaded (client id -> flat vector).
        self.residuals: dict[int, torch.Tensor] = {}
        #: Payloads counted in each direction, for bits per parameter.
        self.messages = {"down": 0, "up": 0}
        self.stopped: str | None = None
        self.wall_seconds = 0.0
        info = data.info
        self.flops_per_example = training_flops_per_example(
            model, mask if len(mask) else None, (info.channels, info.height, info.width)
        )
        model_args = dict(model.hparams)
        model_args["dae_checkpoint"] = None  # the weights travel in the payload
        self._setup = ClientSetup(
            num_clients=data.num_clients,
            client=client,
            upload=federation.upload,
            rounding_seed=seeds.of("rounding"),
            sparse=len(mask) > 0,
            flops_per_example=self.flops_per_example,
            data_order=seeds.of("data_order"),
            data_args=dict(data.hparams),
            model_args=model_args,
        )

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue after the last finished round."""
        return {
            "round": self.round,
            "global_state": self.global_state,
            "mask": self.mask.state_dict(),
            "sampler": self.sampler.state_dict(),
            "faults": self.faults.state_dict(),
            "comm": self.comm.state_dict(),
            "compute": self.compute.state_dict(),
            "history": self.history,
            "clients_with_mask": sorted(self.clients_with_mask),
            "residuals": self.residuals,
            "messages": dict(self.messages),
            "stopped": self.stopped,
            "wall_seconds": self.wall_seconds,
            "method": self.method,
            "server_optimizer": self.server_optimizer.state_dict(),
            "broadcast": self.broadcast.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if Mask(state["mask"]) != self.mask:
            raise UsageError("--resume: the checkpoint's mask differs from this run's mask.")
        if state.get("method", self.method) != self.method:
            raise UsageError(
                f"--resume: the checkpoint is of method {state.get('method')!r}, "
                f"not {self.method!r}."
            )
        self.round = int(state["round"])
        self.global_state = dict(state["global_state"])
        self.sampler.load_state_dict(state["sampler"])
        self.faults.load_state_dict(state["faults"])
        self.comm.load_state_dict(state["comm"])
        self.compute.load_state_dict(state["compute"])
        self.history = [names.upgrade_row(row) for row in state["history"]]
        self.clients_with_mask = set(state["clients_with_mask"])
        self.residuals = {int(k): v for k, v in state.get("residuals", {}).items()}
        self.messages = dict(state.get("messages", {"down": 0, "up": 0}))
        self.stopped = state["stopped"]
        self.wall_seconds = float(state.get("wall_seconds", 0.0))
        self.server_optimizer.load_state_dict(state.get("server_optimizer", {}))
        self.broadcast.load_state_dict(state.get("broadcast", {}))
        if self.round > self.federation.rounds:
            raise UsageError(
                f"--resume: the checkpoint has finished {self.round} rounds, more than "
                f"--rounds={self.federation.rounds}; pass --rounds >= {self.round}."
            )
        if self.stopped == "rounds" and self.round < self.federation.rounds:
            self.stopped = None  # a finished run resumed with more --rounds goes on

    # -- the loop -------------------------------------------------------------------------
    def run(
        self,
        on_round: Callable[[dict[str, Any]], None] | None = None,
        *,
        observers: Sequence[RoundObserver] = (),
    ) -> dict[str, Any]:
        """Run rounds until `rounds` or `target_acc`; return the summary.

        `observers` record this run after the engine's own (those opened after the engine was
        built: `app.federate`'s W&B run and, after it, the recorders it must precede);
        `on_round` is called after each round is recorded. The whole loop runs inside
        `transport.serve` (Flower's simulation runs it in its ServerApp).
        """
        recorders = (*self.observers, *observers)
        return self.transport.serve(self, lambda: self._run(on_round, recorders))

    def _run(
        self,
        on_round: Callable[[dict[str, Any]], None] | None,
        observers: tuple[RoundObserver, ...],
    ) -> dict[str, Any]:
        started_observers: list[RoundObserver] = []
        try:
            for observer in observers:
                observer.on_loop_start(self)
                started_observers.append(observer)
            while self.stopped is None and self.round < self.federation.rounds:
                started = time.perf_counter()
                row = self.run_round(self.round + 1, observers)
                self.wall_seconds += time.perf_counter() - started
                if on_round is not None:
                    on_round(row)
        finally:
            for observer in reversed(started_observers):
                observer.on_loop_end(self)
        summary = self.summary()
        for observer in observers:
            observer.on_summary(self, summary)
        return summary

    def run_round(self, r: int, observers: Sequence[RoundObserver] | None = None) -> dict[str, Any]:
        """One round (with retries below `min_clients`); returns its metrics row, which
        `observers` (None: the engine's own) are told in their order."""
        observers = self.observers if observers is None else tuple(observers)
        failed_total = 0
        non_finite_total = 0
        injected_before = self.faults.injected
        for attempt in range(self.federation.max_retries + 1):
            sampled = self.sampler.sample(self.data.num_clients, self.k)
            outcome = self._train_clients(r, sampled, observers)
            failed_total += outcome.failed
            non_finite_total += outcome.non_finite
            if len(outcome.results) >= self.federation.min_clients:
                break
            log.warning(
                "round %d attempt %d: %d of %d clients succeeded (< min_clients=%d); resampling",
                r,
                attempt + 1,
                len(outcome.results),
                len(sampled),
                self.federation.min_clients,
            )
        else:
            if failed_total and non_finite_total == failed_total:
                # Divergence is not bad luck: a resume would diverge again in the same way.
                raise FederationFailed(
                    f"round {r}: every client update ({failed_total} in "
                    f"{self.federation.max_retries + 1} attempts) was rejected as non-finite "
                    "(NaN or infinite weights): local training diverged; start again with a "
                    f"lower model.lr (now {self.model.hparams.get('lr')!r}) rather than "
                    "resuming, which would diverge the same way."
                )
            raise FederationFailed(
                f"round {r}: fewer than federation.min_clients={self.federation.min_clients} "
                f"client updates after {self.federation.max_retries} retries; the checkpoint "
                f"of round {r - 1} is intact (resume with --resume)."
            )
        average = fedavg(outcome.states, [res.num_examples for res in outcome.results], self.mask)
        self.global_state = self.server_optimizer.step(self.global_state, average, self.mask)
        row = self._metrics_row(r, outcome, failed_total)
        if self.federation.faults.probability > 0:
            row[names.FAULTS_INJECTED] = self.faults.injected - injected_before
        self.round = r
        self.history.append(row)
        target = self.federation.target_acc
        if target is not None and row[names.TEST_ACC] is not None and row[names.TEST_ACC] >= target:
            self.stopped = "target"
        elif r >= self.federation.rounds:
            self.stopped = "rounds"
        for observer in observers:
            observer.on_round(self, row)
        return row

    def _train_clients(
        self, r: int, sampled: list[int], observers: tuple[RoundObserver, ...]
    ) -> _Outcome:
        sparse = len(self.mask) > 0
        payloads: dict[bool, bytes] = {}  # values only / with the bitmap, each encoded once
        jobs = []
        for cid in sampled:
            first_download = sparse and cid not in self.clients_with_mask
            if first_download not in payloads:
                payloads[first_download] = self.broadcast.encode(
                    r, self.global_state, self.mask, with_mask=first_download
                )
            jobs.append(ClientJob(cid, payloads[first_download], self.faults.draw()))
        results: list[ClientResult] = []
        states: list[dict[str, torch.Tensor]] = []
        failed = 0
        self._telling = observers
        try:
            replies = self.transport.deliver(r, jobs, self)
        finally:
            self._telling = ()
        non_finite = 0
        for job, reply in zip(jobs, replies, strict=True):
            try:
                if isinstance(reply, Exception):
                    raise reply
                self.comm.add_up(len(reply.payload))
                self.messages["up"] += 1
                state, _ = decode(
                    reply.payload,
                    self.global_state,
                    self.mask,
                    reference=self.global_state,
                    require_delta=True,
                )
                validate_update(
                    state,
                    self.global_state,
                    self.mask,
                    max_update_norm=self.federation.max_update_norm,
                )
            except Exception as err:  # a client may fail in any way; the round goes on
                failed += 1
                non_finite += is_divergence(err)
                log.warning(
                    "round %d: client %d failed: %s: %s", r, job.client_id, type(err).__name__, err
                )
            else:
                self.compute.add(reply.flops, reply.seconds)
                results.append(reply)
                states.append(state)
        return _Outcome(results, states, failed, len(sampled), non_finite)

    # -- what a transport may use (`transport.RoundHost`) ---------------------------------
    @property
    def setup(self) -> ClientSetup:
        """The federation's client settings, as remote clients are told them."""
        return self._setup

    def train_here(self, r: int, job: ClientJob) -> ClientResult:
        """`job`'s client step in this process, on the engine's one workspace model.

        The engine plays every client here, so it keeps each client's error-feedback residual
        (`residuals`, in the checkpoint); the result carries none back to the server side.
        """
        result = client_step(
            client_id=job.client_id,
            payload=job.payload,
            fault=job.fault,
            data_seed=data_order_seed(self.seeds.of("data_order"), r, job.client_id),
            model=self.model,
            mask=self.mask,
            data=self.data,
            config=self.client,
            flops_per_example=self.flops_per_example,
            upload=self.federation.upload,
            residual=self.residuals.get(job.client_id),
            generator=rounding_generator(self.seeds.of("rounding"), r, job.client_id),
        )
        if result.residual is not None:  # the client's own state, whatever the server does
            self.residuals[job.client_id] = result.residual
            result.residual = None
        return result

    def sent(self, job: ClientJob) -> None:
        """Count `job`'s download as sent; from now on its client knows the mask."""
        self.comm.add_down(len(job.payload))
        self.messages["down"] += 1
        self.clients_with_mask.add(job.client_id)

    def mask_lost(self, client_id: int) -> None:
        """`client_id` holds no mask (any more): its next download carries the mask again."""
        self.clients_with_mask.discard(client_id)

    def client_done(self) -> None:
        for observer in self._telling:
            observer.on_client_done(self)

    def residual(self, client_id: int) -> torch.Tensor | None:
        """`client_id`'s error-feedback residual, as this engine keeps it (None: none yet)."""
        return self.residuals.get(client_id)

    def keep_residual(self, client_id: int, residual: torch.Tensor) -> None:
        """Keep `client_id`'s new residual (a transport whose clients send it back)."""
        self.residuals[client_id] = residual

    def evaluate(self) -> tuple[float, float]:
        """Test accuracy and loss of the current global model."""
        self.model.load_state_dict(self.global_state)
        self.model.to(self.eval_device)
        try:
            return self.model.evaluate(self.data.test_dataloader())
        finally:
            self.model.to("cpu")

    def _metrics_row(self, r: int, outcome: _Outcome, failed: int) -> dict[str, Any]:
        evaluate = r % self.federation.eval_every == 0 or r == self.federation.rounds
        acc, loss = self.evaluate() if evaluate else (None, None)
        losses = [res.train_loss for res in outcome.results]
        row: dict[str, Any] = {
            names.ROUND: r,
            names.TEST_ACC: acc,
            names.TEST_LOSS: loss,
            names.TRAIN_LOSS: sum(losses) / len(losses),
        }
        row.update(self.comm.end_round())
        row.update(self.compute.end_round())
        row[names.DENSITY] = self.density
        row[names.PARTICIPATED] = len(outcome.results)
        row[names.FAILED] = failed
        return row

    def _apply_mask(self, state: dict[str, torch.Tensor]) -> None:
        for name, m in self.mask.items():
            state[name] = state[name] * m

    @property
    def density(self) -> float:
        """Kept fraction of the prunable weights (1.0 for a dense run)."""
        return self.mask.density

    def bits_per_param(self, direction: str) -> float | None:
        """Mean bits per parameter of the dense model in one payload of `direction` (`down`,
        `up`): ``8 * bytes / (payloads * parameters)``; None before the first payload."""
        count = self.messages[direction]
        if not count:
            return None
        nbytes = self.comm.down_bytes if direction == "down" else self.comm.up_bytes
        params = sum(t.numel() for t in self.global_state.values())
        return 8 * nbytes / (count * params)

    def summary(self) -> dict[str, Any]:
        """The run's totals and history, as written to summary.json."""
        accs = [row[names.TEST_ACC] for row in self.history if row[names.TEST_ACC] is not None]
        target = self.federation.target_acc
        reached = next(
            (
                row
                for row in self.history
                if target is not None and (row[names.TEST_ACC] or 0) >= target
            ),
            None,
        )
        return {
            "method": self.method,
            "rounds": self.round,
            "stopped": self.stopped,
            "final_test_acc": accs[-1] if accs else None,
            "best_test_acc": max(accs) if accs else None,
            "target_acc": target,
            "rounds_to_target": reached["round"] if reached else None,
            "down_bytes": self.comm.down_bytes,
            "up_bytes": self.comm.up_bytes,
            "total_bytes": self.comm.total_bytes,
            "client_flops": self.compute.flops,
            "client_seconds": self.compute.client_seconds,
            "wall_seconds": self.wall_seconds,
            "density": self.density,
            "down_codec": self.federation.download_codec,
            "upload": asdict(self.federation.upload),
            "down_bits_per_param": self.bits_per_param("down"),
            "up_bits_per_param": self.bits_per_param("up"),
            "flops_per_example": self.flops_per_example,
            "clients_per_round": self.k,
            "client": asdict(self.client),
            "history": self.history,
        }
