"""Pre-training a DAE (step 1 of the method), from Python or `fl-lightning pretrain`.

`pretrain(PretrainConfig(...)) -> Path` is LightningCLI's `fit` of `DAEPretrainer` on
`UnlabeledDataModule`, so every Trainer option works (`trainer.max_epochs`, `trainer.accelerator
gpu`, `trainer.devices 4 trainer.strategy ddp`, callbacks such as `IterativeMagnitudePruning`
in the YAML). What it adds:

- an output folder (default `runs/pretrain/<time>`): `dae.ckpt` (the final checkpoint, written
  atomically), `config.yaml` (the resolved config, seed included), `checkpoints/` and `wandb/`;
- a W&B logger by default, offline unless `WANDB_MODE` says otherwise (`trainer.logger false`
  or a `CSVLogger` work as usual);
- `data.dataset` is linked to `model.dataset`, so the two cannot disagree;
- one optimizer setting, `model.optimizer` (with `model.lr`, `model.weight_decay`): LightningCLI's
  own `--optimizer` / `--lr_scheduler` are off, so what `config.yaml`, the checkpoint and W&B
  record is what trains;
- a parse mistake is one line (`fl_lightning.parsers.parse_errors`), the usage only with `--help`.

LightningCLI is Lightning's own configuration front end: it takes option values as arguments,
so `PretrainConfig.cli_args` has the typed settings spelled in its syntax by
`parsers.pretrain_args`, the one place that does.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import ArgumentError
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import WandbLogger

from fl_lightning.app.pretrain_progress import progress_bar
from fl_lightning.atomic import atomic_write_bytes, check_can_create
from fl_lightning.atomic_checkpoint_io import AtomicCheckpointIO
from fl_lightning.console import VERBOSE_HELP, library_messages
from fl_lightning.data.holdout import holdout_provenance
from fl_lightning.data.modules import UnlabeledDataModule
from fl_lightning.errors import UsageError
from fl_lightning.models.dae import DAEPretrainer, file_sha256
from fl_lightning.parsers.parse_errors import explain
from fl_lightning.parsers.pretrain_args import lightning_args, with_bare_flags
from fl_lightning.recorded_paths import recorded_config_text, recorded_tree
from fl_lightning.run_lock import RunLock
from fl_lightning.tracking.wandb_run import (
    DAE_ARTIFACT,
    WandbRun,
    check_wandb_folder,
    finish_wandb_writes,
    use_offline_default,
    wandb_write_errors,
)
from fl_lightning.version import code_version
from fl_lightning.write_errors import write_errors_as_usage

CHECKPOINT_NAME = "dae.ckpt"

DESCRIPTION = (
    "Pre-train the classifier's feature extractor as a denoising autoencoder on unlabeled "
    "images held out from every client. Writes DIR/dae.ckpt (input of `fl-lightning prune` "
    "and `fl-lightning federate --checkpoint`), DIR/config.yaml and an offline W&B run."
)


class PretrainCLI(LightningCLI):
    """LightningCLI with an output folder, a default W&B logger and the dataset link.

    The output folder is locked (`RunLock`) on `locks` as soon as it is known, and the
    libraries' messages are quieted there unless `--verbose` (`console.library_messages`); the
    caller closes `locks` when the pre-training ends, however it ends.
    """

    def __init__(self, *args: Any, locks: ExitStack, **kwargs: Any) -> None:
        self.locks = locks  # before super(): LightningCLI parses and instantiates in __init__
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--output",
            type=str | None,
            default=None,
            help="Run folder for dae.ckpt, config.yaml, checkpoints/ and wandb/ "
            "(default: runs/pretrain/<date-time>).",
        )
        # the same W&B switch as `federate` and `compare` (`--trainer.logger false` works too)
        parser.add_argument(
            "--wandb.enabled",
            type=bool,
            default=True,
            help="Log to W&B (offline unless WANDB_MODE says otherwise); false: no logger.",
        )
        parser.add_argument(
            "--wandb.project", type=str, default="fl-lightning", help="W&B project."
        )
        parser.add_argument(
            "--verbose",
            type=bool,
            default=False,
            help=VERBOSE_HELP,
        )
        parser.link_arguments("data.dataset", "model.dataset")

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """LightningCLI's parse; a mistake raises `ArgumentError` with `explain`'s one line."""
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as err:
            raise ArgumentError(None, explain(parser, list(args or []), str(err))) from None
        # before the seed and the Trainer, which print the first banners
        self.locks.enter_context(library_messages(bool(self.config.get("verbose"))))

    def before_instantiate_classes(self) -> None:
        output = self.config.get("output")
        if output is None:
            output = f"runs/pretrain/{time.strftime('%Y%m%d-%H%M%S')}"
        if not output.strip():
            raise UsageError(f"--output={output!r} names no folder; give the run's own folder.")
        self.config["output"] = output
        out = Path(output)
        check_can_create(out, "--output", folder=True)
        self.locks.enter_context(RunLock(out, "--output"))
        if (out / CHECKPOINT_NAME).exists():
            raise UsageError(
                f"--output={output!r} already holds a finished pre-training ({CHECKPOINT_NAME}); "
                "choose another --output (tickets and runs made from it record its sha256)."
            )
        for name in ("checkpoint.pt", "summary.json"):
            if (out / name).exists():
                raise UsageError(
                    f"--output={output!r} holds a federation run ({name}); choose another --output."
                )
        if (out / "config.yaml").exists() and not is_pretrain_config(out / "config.yaml"):
            raise UsageError(
                f"--output={output!r} holds a config.yaml that `fl-lightning pretrain` did not "
                "write; choose another --output (nothing there is replaced)."
            )
        trainer = self.config["trainer"]
        trainer["default_root_dir"] = str(out)
        if not self.config.get("verbose") and trainer.get("enable_model_summary") is None:
            trainer["enable_model_summary"] = False  # Lightning's table: --verbose (or asked)
        if not self.config.get("wandb.enabled", True):
            trainer["logger"] = False
        logger = trainer.get("logger")
        if _is_wandb(logger):
            check_wandb_folder(out)
            init = logger["init_args"]
            init["save_dir"] = str(out)
            if init.get("project") in (None, "fl-lightning"):
                init["project"] = self.config.get("wandb.project", "fl-lightning")
            if not init.get("name"):
                init["name"] = out.name

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The Trainer, with a progress display unless progress bars are off or one is given:
        a rich bar on a terminal, one line per epoch elsewhere (`pretrain_progress`)."""
        config = self.config_init["trainer"]
        callbacks = list(config.get("callbacks") or [])
        wants_bar = config.get("enable_progress_bar") is not False
        if wants_bar and not any(isinstance(c, ProgressBar) for c in callbacks):
            kwargs["callbacks"] = [*callbacks, progress_bar()]
        if not config.get("plugins"):  # checkpoints/ on a full disk: no half-written file
            kwargs["plugins"] = [AtomicCheckpointIO()]
        return super().instantiate_trainer(**kwargs)

    def after_instantiate_classes(self) -> None:
        out = Path(self.config["output"])
        for callback in self.trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
                callback.dirpath = str(out / "checkpoints")
        if not self.config.get("verbose"):
            for logger in self.trainer.loggers:
                # WandbLogger passes `anonymous=None`, which W&B warns "has no effect"
                init = getattr(logger, "_wandb_init", None)
                if isinstance(logger, WandbLogger) and init and init.get("anonymous") is None:
                    init.pop("anonymous", None)
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger):
                _log_recorded_hyperparameters(logger)

    def write_config(self) -> None:
        """The resolved config (seed included) as DIR/config.yaml, on the main process; its
        paths are recorded relative (`recorded_paths`), never as absolute machine paths."""
        if self.trainer.is_global_zero:
            text = recorded_config_text(self.parser.dump(self.config, skip_none=False))
            atomic_write_bytes(Path(self.config["output"]) / "config.yaml", text.encode())


#: Top-level keys of every config.yaml a pre-training writes (LightningCLI's resolved config).
PRETRAIN_CONFIG_KEYS = frozenset({"seed_everything", "trainer", "model", "data", "output"})


def is_pretrain_config(path: Path) -> bool:
    """Whether `path` is a config.yaml written by a pre-training (one stopped before its
    dae.ckpt leaves it; the next pre-training into that folder rewrites it)."""
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(config, dict) and config.keys() >= PRETRAIN_CONFIG_KEYS


def check_finite(model: DAEPretrainer) -> None:
    """`UsageError` when pre-training diverged (a weight is NaN or infinite): no dae.ckpt then."""
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        lr = model.hparams.get("lr")
        raise UsageError(
            f"pre-training diverged: {len(bad)} weight tensors hold NaN or infinite values "
            f"(first: {bad[0]}); model.lr={lr!r} is likely too high. No dae.ckpt was written."
        )


def _log_recorded_hyperparameters(logger: WandbLogger) -> None:
    """Make `logger` put the model's and data's hyperparameters (Lightning logs them at fit's
    start) into the W&B run config with their paths recorded relative (`recorded_tree`): a
    `--data.root` typed as an absolute path names no machine folder there."""
    log = logger.log_hyperparams

    def log_recorded(params: Any, *args: Any, **kwargs: Any) -> None:
        plain = params if isinstance(params, Mapping) else vars(params)
        log(recorded_tree(dict(plain)), *args, **kwargs)

    logger.log_hyperparams = log_recorded  # type: ignore[method-assign]


def _is_wandb(logger: Any) -> bool:
    """Whether the parsed `trainer.logger` value is a W&B logger given by class path."""
    getter = getattr(logger, "get", None)
    return getter is not None and str(getter("class_path", "")).endswith("WandbLogger")


def _log_checkpoint(trainer: Trainer, cli: PretrainCLI, checkpoint: Path) -> None:
    """The checkpoint as a W&B Artifact (`dae-checkpoint-<sha256>`), with its hold-out and seed
    in the artifact's metadata and the run config: what `prune` and `federate` start from."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            holdout = holdout_provenance(dict(cli.datamodule.hparams))
            seed = cli.config.get("seed_everything")
            run = WandbRun.around(logger.experiment)
            record = {"seed": seed, "holdout": holdout, "code": code_version()}
            run.run.config.update(record, allow_val_change=True)
            run.log_artifact(
                checkpoint,
                kind=DAE_ARTIFACT,
                sha256=file_sha256(checkpoint),
                metadata={"model": cli.model.hparams["model"], "holdout": holdout, "seed": seed},
            )


def _finish_wandb(trainer: Trainer) -> None:
    """Close W&B runs now, so the offline run is complete on disk when the command returns."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and trainer.is_global_zero:
            logger.experiment.finish()
            finish_wandb_writes()


@dataclass(frozen=True)
class PretrainConfig:
    """One pre-training, with the options `fl-lightning pretrain` takes.

    Args:
        config: YAML file of options (configs/pretrain/); None: the defaults.
        output: run folder (None: `runs/pretrain/<date-time>`).
        settings: option values by dotted name, applied after `config`, e.g.
            `{"trainer.max_epochs": 2, "data.num_images": 500, "seed_everything": 1}`.
        args: further options as typed after `fl-lightning pretrain` (applied last).
    """

    config: str | None = None
    output: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    args: Sequence[str] = ()

    def __post_init__(self) -> None:
        for name in ("config", "output"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | Path):
                raise UsageError(f"PretrainConfig({name}={value!r}): allowed a path (str) or None.")
        if not isinstance(self.settings, Mapping):
            raise UsageError(
                f"PretrainConfig(settings={self.settings!r}): allowed a dict of option values "
                'by dotted name, e.g. {"trainer.max_epochs": 2}.'
            )
        if isinstance(self.args, str) or not all(isinstance(a, str) for a in self.args):
            raise UsageError(
                f"PretrainConfig(args={self.args!r}): allowed a list of command-line strings, "
                "e.g. ['--trainer.max_epochs', '2']."
            )

    def cli_args(self) -> list[str]:
        """These options in LightningCLI's argument syntax (`parsers.pretrain_args`)."""
        return lightning_args(self.config, self.output, self.settings, self.args)


@dataclass(frozen=True)
class PretrainOutcome:
    """What a pre-training wrote and how it went."""

    checkpoint: Path
    config: Path
    seconds: float
    val_recon_loss: float | None
    wandb_run: Path | None
    main_process: bool  # False on the other ranks of a multi-device run (they print nothing)


def pretrain(config: PretrainConfig, config_option: str = "pretrain(config)") -> Path:
    """Pre-train the DAE of `config`; returns the final checkpoint (`<output>/dae.ckpt`).

    A bad option raises `UsageError` (one line, see `fl_lightning.parsers.parse_errors`) naming
    `config_option` (how the caller named the pre-training config, e.g. `--pretrain_config`)
    before anything is written; it never exits the interpreter. The checkpoint is written
    atomically.
    """
    if not isinstance(config, PretrainConfig):
        raise UsageError(
            f"{config_option}={config!r}: allowed a `fl.PretrainConfig(...)`, not a "
            f"{type(config).__name__}."
        )
    return run_pretraining(config, config_option).checkpoint


def run_pretraining(config: PretrainConfig, config_option: str | None = None) -> PretrainOutcome:
    """`pretrain`, returning also the seconds, the last validation loss and the W&B run.

    The output folder is locked for the pre-training's life (`RunLock`)."""
    with ExitStack() as locks:
        try:
            return _run_pretraining(config, locks)
        except ArgumentError as err:
            reason = " ".join(str(err).split())
            if config_option is None:
                raise UsageError(reason) from None
            raise UsageError(
                f"{config_option}: the pre-training options are invalid: {reason}"
            ) from None


def _run_pretraining(config: PretrainConfig, locks: ExitStack) -> PretrainOutcome:
    use_offline_default()
    # LightningCLI warns when given arguments from Python; that is this function's purpose.
    warnings.filterwarnings("ignore", ".*args parameter is intended to run from within Python.*")
    cli = PretrainCLI(
        DAEPretrainer,
        UnlabeledDataModule,
        args=with_bare_flags(config.cli_args()),
        locks=locks,
        run=False,
        seed_everything_default=0,
        save_config_callback=None,
        auto_configure_optimizers=False,  # one optimizer setting: model.optimizer
        trainer_defaults={
            "logger": {
                "class_path": "lightning.pytorch.loggers.WandbLogger",
                "init_args": {"project": "fl-lightning", "job_type": "pretrain"},
            },
            "max_epochs": 10,
        },
        parser_kwargs={
            "prog": "fl-lightning pretrain",
            "description": DESCRIPTION,
            "exit_on_error": False,
        },
    )
    out = Path(cli.config["output"])
    # Find and check the data before anything is written: a usage error leaves no output.
    cli.datamodule.setup("fit")
    with write_errors_as_usage(out, lambda: _kept(out)):
        return _train(cli, out)


def _kept(out: Path) -> str:
    """What a pre-training stopped by a full or unwritable disk leaves, and what to do."""
    if (out / CHECKPOINT_NAME).is_file():
        return (
            f"{CHECKPOINT_NAME} is written and whole (use it as is), but its W&B run is not; "
            "make room (or fix the folder) before the next run."
        )
    return (
        f"no {CHECKPOINT_NAME} was written; make room (or fix the folder) and pre-train again "
        "with the same --output."
    )


def _train(cli: PretrainCLI, out: Path) -> PretrainOutcome:
    """Fit, write dae.ckpt (through a temporary file: a failure leaves none), log to W&B."""
    trainer = cli.trainer
    cli.write_config()
    start = time.perf_counter()
    trainer.fit(cli.model, datamodule=cli.datamodule)
    check_finite(cli.model)
    final = out / CHECKPOINT_NAME
    tmp = out / f".{CHECKPOINT_NAME}.tmp"
    try:
        trainer.save_checkpoint(tmp)
        if trainer.is_global_zero:
            os.replace(tmp, final)
    except BaseException:
        if trainer.is_global_zero:  # the one process that writes it removes it
            tmp.unlink(missing_ok=True)
        raise
    if trainer.is_global_zero:
        _log_checkpoint(trainer, cli, final)
    with wandb_write_errors(out):
        _finish_wandb(trainer)
    val = trainer.callback_metrics.get("val/recon_loss")
    wandb_dirs = sorted((out / "wandb").glob("*run-*"))
    return PretrainOutcome(
        checkpoint=final,
        config=out / "config.yaml",
        seconds=time.perf_counter() - start,
        val_recon_loss=float(val) if val is not None else None,
        wandb_run=wandb_dirs[-1] if wandb_dirs else None,
        main_process=trainer.is_global_zero,
    )
