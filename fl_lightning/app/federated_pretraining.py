"""Federated DAE pre-training (step 1 without server data): FedAvg of the DAE on the clients'
own training images, every byte, FLOP and second counted.

    outcome = federated_pretrain(FederatedPretrainConfig(output="runs/fdae", ...))

`fl-lightning pretrain --federated` parses its options into this config. The clients keep every
training image (`data.server_images` must be 0); their labels are never read. The run folder
holds what a federation's holds (metrics.csv with `test/recon_loss` per round, summary.json,
config.yaml, checkpoint.pt for `--resume`) and, at the end, `dae.ckpt`: a normal DAE checkpoint
(`prune` and `federate --checkpoint` take it as they take a server pre-training's) whose
provenance says `source: clients` and what the pre-training cost (`federated_pretraining`).

`engine="flower"` moves the payloads through Flower's simulation (the bytes are the local
engine's); `wandb` logs the rounds, summary and dae.ckpt (an Artifact) to one offline W&B run
under `<output>/wandb/` (`app.federated_pretraining_wandb`), which `--resume` continues.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from fl_lightning.app.federate_checks import check_accelerator, check_resume_config
from fl_lightning.app.federated_pretraining_wandb import (
    log_dae_checkpoint,
    name_wandb_run,
    open_wandb_run,
)
from fl_lightning.app.federation import make_transport
from fl_lightning.atomic import atomic_torch_save, check_can_create
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientConfig, quiet_lightning
from fl_lightning.federated.config import FederationConfig, FederationFailed, Seeds
from fl_lightning.federated.dae_client import ClientDAE, FederatedDAE
from fl_lightning.federated.flower_options import FlowerOptions
from fl_lightning.federated.observers import WandbRecorder
from fl_lightning.federated.progress import ProgressRecorder
from fl_lightning.federated.run_files import RunFiles, RunFilesRecorder
from fl_lightning.models.dae import CHECKPOINT_KIND
from fl_lightning.pruning.mask import Mask
from fl_lightning.run_lock import RunLock
from fl_lightning.tracking.wandb_options import WandbConfig
from fl_lightning.tracking.wandb_run import check_wandb_folder
from fl_lightning.version import __version__, code_version
from fl_lightning.write_errors import write_errors_as_usage

CHECKPOINT_NAME = "dae.ckpt"
#: The method name written into the run's files.
METHOD = "federated_dae"
#: The round engines (`--engine`): in this process, or through Flower's simulation.
ENGINES = ("local", "flower")
#: What a config.yaml written before an option existed meant by leaving it out (`--resume`).
OPTION_DEFAULTS = {"engine": "local"}


@dataclass(frozen=True)
class FederatedPretrainConfig:
    """One federated DAE pre-training.

    Args:
        output: the run folder (dae.ckpt, metrics.csv, summary.json, config.yaml, checkpoint.pt).
        data: `FederatedDataModule` arguments (its `batch_size` is `client.batch_size`);
            `server_images` must be 0: the clients keep every training image.
        model: `DAEPretrainer` arguments (model, noise, noise_std, mask_prob, optimizer, lr,
            weight_decay); its dataset is `data.dataset`.
        client: local training (E, B, accelerator, timeout).
        federation: rounds, clients per round, codecs, faults (its `target_acc` must be unset:
            a DAE has no accuracy).
        seeds: split, sampling, init (the DAE's initial weights), data_order (also each
            client's noise, per round).
        engine: `local` (every client in this process) or `flower` (Flower's simulation
            engine, Ray): the same bytes, FLOPs and clients.
        flower: Flower settings (with `engine="flower"`): client resources, timeouts.
        wandb: W&B logging (offline unless WANDB_MODE says otherwise); off unless asked, as
            for `compare`'s pre-trainings (the command's `--wandb.enabled` is on by default).
        resume: continue the run in `output` from its checkpoint.pt.
        progress: show a progress bar / a line per round.
        config_text: the resolved config as the command recorded it (config.yaml; a resume must
            match it); None: a plain rendering of this config.
    """

    output: str
    data: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    client: ClientConfig = field(default_factory=ClientConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    seeds: Seeds = field(default_factory=Seeds)
    engine: str = "local"
    flower: FlowerOptions = field(default_factory=FlowerOptions)
    wandb: WandbConfig = field(default_factory=lambda: WandbConfig(enabled=False))
    resume: bool = False
    progress: bool = True
    config_text: str | None = None

    def __post_init__(self) -> None:
        server_images = self.data.get("server_images", 0)
        if server_images != 0:
            raise UsageError(
                f"data.server_images={server_images!r}: a federated pre-training keeps every "
                "training image on the clients (the server holds none); allowed: 0."
            )
        if self.federation.target_acc is not None:
            raise UsageError(
                f"federation.target_acc={self.federation.target_acc!r}: a DAE has no accuracy; "
                "allowed: null (run federation.rounds rounds)."
            )
        if self.engine not in ENGINES:
            raise UsageError(
                f"engine={self.engine!r} is not a round engine; allowed: {', '.join(ENGINES)}."
            )
        if "dataset" in self.model:
            raise UsageError("model.dataset: the DAE's dataset is data.dataset; leave it out.")


@dataclass(frozen=True)
class FederatedPretrainOutcome:
    """What a federated pre-training wrote: the checkpoint and the run's summary."""

    checkpoint: Path
    summary: dict[str, Any]


def federated_pretrain(config: FederatedPretrainConfig) -> FederatedPretrainOutcome:
    """Run (or resume) the federated pre-training of `config`; write `<output>/dae.ckpt`.

    Every option is checked before anything is written. The folder is locked for the run's
    life; a killed run resumes (`resume=True`) to the same checkpoint as an uninterrupted one.
    """
    quiet_lightning()
    files = RunFiles(config.output)
    check_can_create(files.dir, "--output", folder=True)
    if config.wandb.enabled:
        check_wandb_folder(files.dir)
    final = files.dir / CHECKPOINT_NAME
    with write_errors_as_usage(files.dir, lambda: _advice(files)), RunLock(files.dir, "--output"):
        if final.exists():
            raise UsageError(
                f"--output={config.output!r} already holds a finished pre-training "
                f"({CHECKPOINT_NAME}); choose another --output."
            )
        resumed = _resumed(files, config)
        engine = _engine(config)
        if resumed is not None:
            engine.load_state_dict(resumed)
        text = config.config_text or plain_config_text(config)
        files.create()
        files.remove_stale_temporaries()
        files.run_config = text
        previous = name_wandb_run(files, resumed, config.wandb)  # in every checkpoint
        if resumed is None:
            files.write_checkpoint(engine.state_dict())
        files.write_config(text)
        wandb = open_wandb_run(
            files,
            config.wandb,
            previous=previous,
            engine=engine,
            config_text=text,
            default_name=f"{METHOD}-seed{engine.seeds.of('init')}",
        )
        try:
            recorders = [
                WandbRecorder(wandb),
                RunFilesRecorder(files),
                ProgressRecorder(config.progress),
            ]
            summary = engine.run(observers=recorders)
            cost = {**engine.cost(), "num_clients": engine.data.num_clients}
            saved = dae_checkpoint(engine, cost)
            atomic_torch_save(saved, final)
            log_dae_checkpoint(wandb, final, saved, cost)
        except FederationFailed as err:
            raise UsageError(str(err)) from None
        finally:
            wandb.finish()
        summary["federated_pretraining"] = cost
        summary["seeds"] = vars(engine.seeds)
        summary["code"] = code_version()
        files.write_summary(summary)
        files.write_done({"rounds": summary["rounds"], "checkpoint": CHECKPOINT_NAME})
    return FederatedPretrainOutcome(final, summary)


def _advice(files: RunFiles) -> str:
    return (
        "checkpoint.pt of the last finished round is intact; make room (or fix the folder), "
        f"then resume with the same options and --resume true (--output {files.dir})."
    )


def _resumed(files: RunFiles, config: FederatedPretrainConfig) -> dict[str, Any] | None:
    """The checkpoint to continue from, or None for a new run; refuses a folder in use."""
    if not config.resume:
        if files.checkpoint.exists() or files.run_files():
            raise UsageError(
                f"--output={config.output!r} already holds a run: pass --resume to continue "
                "it, or choose another --output."
            )
        return None
    if not files.checkpoint.exists():
        return None  # killed before its first checkpoint: from round 0
    state = files.read_engine_checkpoint()
    text = config.config_text or plain_config_text(config)
    check_resume_config(files, text, state, OPTION_DEFAULTS)
    return state


def _engine(config: FederatedPretrainConfig) -> FederatedDAE:
    """The round loop of `config`: the data, the seeded initial DAE, the meters."""
    data_args = {**config.data, "server_images": 0, "batch_size": config.client.batch_size}
    data = FederatedDataModule(**data_args)
    data.setup()
    config.federation.validate(data.num_clients)
    if config.engine == "local":  # Flower's clients check their own
        check_accelerator(config.client)
    seeds = config.seeds
    torch.manual_seed(seeds.of("init"))
    model = ClientDAE(dataset=data.hparams["dataset"], images_to_log=0, **config.model)
    return FederatedDAE(
        model=model,
        initial_state={k: v.detach().clone() for k, v in model.state_dict().items()},
        mask=Mask({}),
        data=data,
        client=config.client,
        federation=config.federation,
        seeds=seeds,
        method=METHOD,
        transport=make_transport(config.engine, config.flower),
    )


def dae_checkpoint(engine: FederatedDAE, cost: Mapping[str, Any]) -> dict[str, Any]:
    """The final global DAE as a DAE checkpoint (`models.dae.load_dae_checkpoint` reads it):
    weights, hyper-parameters, the initial encoder, and the provenance `source: clients`."""
    model = engine.model
    hparams = dict(model.hparams)
    data = engine.data
    client_images = sum(data.num_examples(c) for c in range(data.num_clients))
    return {
        "state_dict": dict(engine.global_state),
        "hyper_parameters": hparams,
        "initial_encoder_state": model.initial_encoder_state,
        "fl_lightning": {
            "kind": CHECKPOINT_KIND,
            "model": hparams["model"],
            "dataset": hparams["dataset"],
            "version": __version__,
        },
        # read by `holdout_provenance`: the clients' own images, none held out on the server
        "datamodule_hyper_parameters": {
            "dataset": data.hparams["dataset"],
            "source": "clients",
            "num_images": client_images,
            "split_seed": data.hparams["split_seed"],
        },
        "provenance": {"source": "clients", "federated_pretraining": dict(cost)},
    }


def plain_config_text(config: FederatedPretrainConfig) -> str:
    """`config` as YAML (what config.yaml records when no command rendered it)."""
    plain = json.loads(json.dumps(asdict(config), default=str))
    plain.pop("config_text")
    plain["resume"] = False
    return yaml.safe_dump(plain, sort_keys=True)
