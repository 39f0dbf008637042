"""Federated DAE pre-training (`fl-lightning pretrain --federated`): no server data needed.

The denoising autoencoder is trained by FedAvg on the clients' own training images
(`federated.dae_rounds.FederatedDAE`); the server holds no image (`data.server_images` must be
0: the clients keep all of theirs). The result is a normal DAE checkpoint (`dae.ckpt`: prune and
federate take it unchanged) whose provenance says its images were the clients'
(`source: clients`: no server hold-out to check) and which carries the pre-training's cost
(`federated_pretraining`: rounds, bytes each way, client FLOPs and seconds), so a comparison can
add what the DAE cost to what the federation cost.

The run folder holds `dae.ckpt`, `metrics.csv` (one row per round: reconstruction losses,
bytes), `summary.json` (the cost), `config.yaml`, `checkpoint.pt` (the loop's state after the
last finished round: `resume=True` continues from it, to the identical result) and, with W&B on,
`wandb/`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import yaml

from fl_lightning.atomic import (
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    check_can_create,
)
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.dae_rounds import FederatedDAE
from fl_lightning.models.dae import CHECKPOINT_KIND, DAEPretrainer, file_sha256
from fl_lightning.recorded_paths import recorded_tree
from fl_lightning.run_lock import RunLock
from fl_lightning.tracking.wandb_run import DAE_ARTIFACT, WandbRun, use_offline_default
from fl_lightning.version import __version__, code_version
from fl_lightning.write_errors import write_errors_as_usage

#: What the clients' images are called in a checkpoint's provenance (`holdout.source`).
CLIENT_SOURCE = "clients"


@dataclass(frozen=True)
class FederatedWandb:
    """W&B logging of a federated pre-training (offline unless WANDB_MODE says otherwise).

    Args:
        enabled: one W&B run (job type `pretrain`) with a row per round and the checkpoint as
            an Artifact.
        project: W&B project.
    """

    enabled: bool = True
    project: str = "fl-lightning"


@dataclass(frozen=True)
class FederatedPretrainConfig:
    """One federated DAE pre-training.

    Args:
        output: the run folder (dae.ckpt, metrics.csv, summary.json, config.yaml, checkpoint.pt).
        data: `FederatedDataModule` arguments (the clients); `server_images` must be 0.
        model: `DAEPretrainer` arguments (architecture, noise, the clients' optimizer and lr).
        client: local epochs and batch size of every client.
        rounds: rounds of FedAvg (>= 1).
        clients_per_round: clients sampled per round: a count (>= 1) or a fraction in (0, 1).
        seed: round-0 weights, client sampling, batch orders and noise derive from it.
        resume: continue the run in `output` from its checkpoint.pt.
        wandb: W&B logging.
    """

    output: str
    data: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    client: ClientConfig = field(default_factory=ClientConfig)
    rounds: int = 20
    clients_per_round: float = 10
    seed: int = 0
    resume: bool = False
    wandb: FederatedWandb = field(default_factory=FederatedWandb)

    def __post_init__(self) -> None:
        if not str(self.output).strip():
            raise UsageError(f"--output={self.output!r} names no folder; give the run's folder.")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise UsageError(f"--rounds={self.rounds!r} must be a whole number >= 1.")
        if not self.clients_per_round > 0:
            raise UsageError(
                f"--clients_per_round={self.clients_per_round!r}: allowed a count >= 1 or a "
                "fraction in (0, 1)."
            )
        server_images = self.data.get("server_images", 0)
        if server_images:
            raise UsageError(
                f"--data.server_images={server_images!r}: a federated pre-training holds no "
                "server images (the clients keep all theirs); allowed 0."
            )


def federated_pretrain(
    config: FederatedPretrainConfig,
    *,
    on_round: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Run (or resume) the federated pre-training of `config`; the path of its dae.ckpt.

    Every option is checked before anything is written (`UsageError` naming it).
    """
    if not isinstance(config, FederatedPretrainConfig):
        raise UsageError(
            f"federated_pretrain(config={config!r}): allowed a `FederatedPretrainConfig`."
        )
    out = Path(config.output)
    data = FederatedDataModule(**{**config.data, "server_images": 0})
    data.setup()
    if not config.clients_per_round <= data.num_clients:
        raise UsageError(
            f"--clients_per_round={config.clients_per_round!r}: allowed at most the "
            f"{data.num_clients} clients (data.num_clients)."
        )
    pl.seed_everything(config.seed, verbose=False)  # the round-0 weights
    dae = DAEPretrainer(**{**config.model, "dataset": data.hparams["dataset"]})
    loop = FederatedDAE(
        dae=dae,
        data=data,
        client=config.client,
        rounds=config.rounds,
        clients_per_round=config.clients_per_round,
        seed=config.seed,
    )
    checkpoint = out / "checkpoint.pt"
    record = recorded_tree(asdict(config) | {"resume": False})
    if config.resume:
        if not checkpoint.is_file():
            raise UsageError(f"--resume: {str(out)!r} holds no checkpoint.pt to continue from.")
        _check_same_run(out, record)
        loop.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    else:
        check_can_create(out, "--output", folder=True)
        if out.is_dir() and any(out.iterdir()):
            raise UsageError(
                f"--output={str(out)!r} is not empty; choose a new folder or pass --resume."
            )
    with write_errors_as_usage(out, _advice(out)), RunLock(out, "--output"):
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "config.yaml", yaml.safe_dump(record, sort_keys=False).encode())
        run = _wandb_run(config, out, record)
        try:

            def finished(row: dict[str, Any]) -> None:
                atomic_write_bytes(out / "metrics.csv", _csv(loop.history))
                atomic_torch_save(loop.state_dict(), checkpoint)  # last: the round is done
                if run is not None:
                    run.log(row)
                if on_round is not None:
                    on_round(row)

            cost = loop.run(finished)
            path = out / "dae.ckpt"
            atomic_torch_save(_dae_checkpoint(dae, loop, data, config), path)
            summary = {**cost, "history": loop.history, "code": code_version()}
            atomic_write_json(out / "summary.json", summary)
            if run is not None:
                run.summary({k: v for k, v in cost.items()})
                run.log_artifact(
                    path,
                    kind=DAE_ARTIFACT,
                    sha256=file_sha256(path),
                    metadata={"source": CLIENT_SOURCE, **cost},
                )
        finally:
            if run is not None:
                run.finish()
    return path


#: Options a resume may change: how long to run, how to log.
_RESUMABLE = ("rounds", "resume", "wandb")


def _check_same_run(out: Path, record: dict[str, Any]) -> None:
    """`UsageError` unless the run in `out` was started with these options (bar `_RESUMABLE`)."""
    try:
        saved = yaml.safe_load((out / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"--resume: {out / 'config.yaml'} is unreadable ({err}).") from None
    changed = sorted(
        key
        for key in saved.keys() | record.keys()
        if key not in _RESUMABLE and saved.get(key) != record.get(key)
    )
    if changed:
        shown = ", ".join(f"{k}={record.get(k)!r} (was {saved.get(k)!r})" for k in changed[:3])
        raise UsageError(f"--resume: options differ from the run in {str(out)!r}: {shown}.")


def _advice(out: Path) -> Callable[[], str]:
    def advice() -> str:
        return (
            f"checkpoint.pt in {out} holds the last finished round; make room (or fix the "
            "folder) and run again with --resume."
        )

    return advice


def _wandb_run(
    config: FederatedPretrainConfig, out: Path, record: dict[str, Any]
) -> WandbRun | None:
    if not config.wandb.enabled:
        return None
    use_offline_default()
    return WandbRun(
        enabled=True,
        project=config.wandb.project,
        name=f"pretrain-federated/{out.name}",
        group=None,
        save_dir=out,
        config=record,
        job_type="pretrain",
    )


def _csv(history: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue().encode()


def _dae_checkpoint(
    dae: DAEPretrainer,
    loop: FederatedDAE,
    data: FederatedDataModule,
    config: FederatedPretrainConfig,
) -> dict[str, Any]:
    """A checkpoint `load_dae_checkpoint` reads as any `pretrain` checkpoint, with the
    provenance `source: clients` and the pre-training's cost."""
    images = sum(data.num_examples(c) for c in range(data.num_clients))
    return {
        "state_dict": {k: v.clone() for k, v in loop.global_state.items()},
        "hyper_parameters": dict(dae.hparams),
        "initial_encoder_state": dae.initial_encoder_state,
        "fl_lightning": {
            "kind": CHECKPOINT_KIND,
            "model": dae.hparams["model"],
            "dataset": dae.hparams["dataset"],
            "version": __version__,
        },
        "datamodule_hyper_parameters": {
            "dataset": data.hparams["dataset"],
            "source": CLIENT_SOURCE,
            "num_images": images,
            "split_seed": data.hparams["split_seed"],
        },
        "federated_pretraining": {**loop.cost(), "seed": config.seed},
    }
