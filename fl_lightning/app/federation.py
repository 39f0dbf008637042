"""Federating one method's (sparse) model (step 3 of the method): bytes, FLOPs, seconds counted.

    summary = federate(federate_config("configs/federate/smoke.yaml", method="proposed"))

`fl-lightning federate` parses its options into the same config and calls `federate`. It writes
DIR/metrics.csv, summary.json, config.yaml, model.pt, checkpoint.pt and an offline W&B
run. A method that needs a DAE and gets neither `--checkpoint` nor `--ticket` pre-trains one
first (`pretrain_config`, into DIR/pretrain/), on the same server hold-out as the clients' split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fl_lightning.app.federate_checks import (
    check_accelerator,
    check_output,
    check_resume_config,
    check_reused_pretraining,
    recorded_options,
    wandb_rounds_logged,
    wandb_run_id,
)
from fl_lightning.app.federate_resolution import resolved
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.pretraining import CHECKPOINT_NAME, PretrainConfig, pretrain
from fl_lightning.atomic import check_can_create
from fl_lightning.config_files import PRETRAIN_GROUPS, check_config_file
from fl_lightning.console import library_messages
from fl_lightning.data.holdout import check_holdout
from fl_lightning.errors import UsageError
from fl_lightning.experiments.methods import build_start, method_named, needs_checkpoint
from fl_lightning.federated.client import quiet_lightning
from fl_lightning.federated.config import FederationConfig, FederationFailed
from fl_lightning.federated.engine import RoundEngine
from fl_lightning.federated.flower_options import FlowerOptions
from fl_lightning.federated.holdout_score import holdout_score, summary_fields
from fl_lightning.federated.observers import WandbRecorder
from fl_lightning.federated.progress import ProgressRecorder, human_bytes
from fl_lightning.federated.run_files import LABELS_PNG, RunFiles, RunFilesRecorder
from fl_lightning.federated.transport import InProcess, Transport
from fl_lightning.interrupts import Interrupted
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.dae import file_sha256
from fl_lightning.models.saved_classifier import model_file_info
from fl_lightning.recorded_paths import recorded_config_text
from fl_lightning.run_lock import RunLock
from fl_lightning.tracking.wandb_run import (
    DAE_ARTIFACT,
    MODEL_ARTIFACT,
    TICKET_ARTIFACT,
    WandbRun,
    artifact_name,
    check_wandb_folder,
    new_run_id,
    use_offline_default,
)
from fl_lightning.version import code_version
from fl_lightning.write_errors import write_errors_as_usage

if TYPE_CHECKING:
    from flwr.serverapp import Grid

__all__ = ["LABELS_PNG", "federate", "pretrain_config_for"]


def ensure_checkpoint(config: FederateConfig, files: RunFiles) -> str:
    """The DAE checkpoint for this run: given, or pre-trained into DIR/pretrain/ (once)."""
    if config.checkpoint:
        return str(config.checkpoint)
    # its DAE is federated, never this server pre-training
    if method_named(config.method).dae == "federated":
        raise UsageError(
            f"--method={config.method} needs --checkpoint: a DAE from `fl-lightning pretrain "
            "--federated` (docs/federated_pretraining.md)."
        )
    out = files.dir / "pretrain"
    ckpt = out / CHECKPOINT_NAME
    if ckpt.is_file():
        check_reused_pretraining(ckpt, config)
    else:
        pretraining = pretrain_config_for(config, out)
        if config.verbose:  # how it shows, not what it computes: not in pretrain_config_for
            pretraining = replace(pretraining, settings={**pretraining.settings, "verbose": True})
        pretrain(pretraining, config_option="--pretrain_config")
    return str(ckpt)


def pretrain_config_for(config: FederateConfig, out: Path) -> PretrainConfig:
    """The pre-training of a resolved federate config: its hold-out matches the client split."""
    check_config_file("--pretrain_config", config.pretrain_config, PRETRAIN_GROUPS)
    settings: dict[str, Any] = {
        "data.dataset": config.data.dataset,
        "data.num_images": config.data.server_images,
        "data.split_seed": config.data.split_seed,
        "model.model": config.model.model,
        "seed_everything": config.seeds.init,
    }
    if config.data.root:
        settings["data.root"] = config.data.root
    if not config.wandb.enabled:
        settings["trainer.logger"] = False
    return PretrainConfig(
        config=str(config.pretrain_config),
        output=str(out),
        settings=settings,
        args=tuple(config.pretrain_overrides),
    )


def federate(
    config: FederateConfig,
    grid: Grid | None = None,
    on_round: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run one federation; returns its summary (also written to `<output>/summary.json`).

    Args:
        config: the federation's options, as `federate_config` (or the command, from its
            parse: `FederateConfig.from_dict`) builds them; resolved here
            (seeds, rounds, output filled in: `federate_resolution.resolved`), never changed.
        grid: a Flower deployment's grid to run the rounds over (its ServerApp passes it);
            None runs `config.engine` (`local`, or `flower`: Flower's simulation).
        on_round: called with each finished round's metrics row (`compare` prints a line).

    Every option is checked before anything is written (`UsageError` naming it); a federation
    that cannot gather enough clients raises `UsageError` too, its last checkpoint intact.
    The run folder is locked for the run's life (`RunLock`): a second run on it stops at once.
    SIGINT / SIGTERM (`Interrupted`) leave the last checkpoint intact and say how to resume; a
    full or unwritable disk is a `UsageError` that says the same.
    """
    config = typed_config(config)
    with library_messages(config.verbose):
        if not config.verbose:
            quiet_lightning()  # before the first Trainer (the accelerator check builds one)
        return _federate(config, grid, on_round)


def typed_config(config: object) -> FederateConfig:
    """`config` if it is a `FederateConfig`; anything else (a path, None, another step's
    config) refused with a `UsageError` naming it."""
    if isinstance(config, FederateConfig):
        return config
    allowed = "allowed the config `fl.federate_config(...)` returns"
    if config is None or isinstance(config, str | bytes | PathLike | int | float | dict | list):
        raise UsageError(f"federate(cfg={config!r}): {allowed}, not a {type(config).__name__}.")
    raise UsageError(
        f"federate(cfg): not a federate config (a {type(config).__name__}); {allowed}."
    )


def _federate(
    config: FederateConfig,
    grid: Grid | None,
    on_round: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    config = resolved(config)
    files = RunFiles(str(config.output))
    check_can_create(files.dir, "--output", folder=True)
    if config.wandb.enabled:
        check_wandb_folder(files.dir)

    def advice() -> str:
        return (
            f"{_kept(files)} make room (or fix the folder), then resume with "
            f"`fl-lightning federate --config {files.config} --resume true`."
        )

    with write_errors_as_usage(files.dir, advice), RunLock(files.dir, "--output"):
        try:
            return _federate_locked(config, files, grid, on_round)
        except Interrupted as err:
            err.detail = interrupted_detail(files, err)
            raise


def _checkpoint_round(files: RunFiles) -> int | None:
    """The round the run's checkpoint.pt holds, or None when there is none (yet)."""
    try:
        return int(files.read_checkpoint()["round"])
    except UsageError:
        return None


def _kept(files: RunFiles) -> str:
    done = _checkpoint_round(files)
    if done is None:
        return "no checkpoint was written yet;"
    return f"checkpoint.pt (round {done}) is intact;"


def interrupted_detail(files: RunFiles, err: Interrupted) -> str:
    """The one line an interrupted federation prints: where it stopped, how to go on."""
    resume = (
        f"`fl-lightning federate --config {files.config} --resume true`"
        if files.config.is_file()
        else "the same command and --resume true"
    )
    at = (_checkpoint_round(files) or 0) + 1
    return f"interrupted at round {at} ({err.signal_name}); {_kept(files)} resume with {resume}."


def _federate_locked(
    config: FederateConfig,
    files: RunFiles,
    grid: Grid | None,
    on_round: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    resumed = check_output(files, config.resume)
    if config.resume and resumed is None:
        print(f"--resume: {files.dir} was stopped before its first checkpoint; from round 0")
    saved = replace(config, resume=False)  # config.yaml describes the run, not this part's start
    config_text = recorded_config_text(saved.to_yaml())
    if resumed is not None:
        check_resume_config(files, config_text, resumed, recorded_options())
    data = config.data.module()
    data.setup()
    federation: FederationConfig = config.federation
    federation.validate(data.num_clients)
    if grid is not None and resumed is not None and int(resumed["round"]) > 0:
        check_deployment_resume(federation)
    if config.engine == "local" and grid is None:
        check_accelerator(config.client)
    checkpoint = (
        ensure_checkpoint(config, files) if needs_checkpoint(config.method, config.ticket) else None
    )
    start = build_start(
        config.method,
        model=config.model.model,
        dataset=config.data.dataset,
        init_seed=config.seeds.of("init"),
        sparsity=0.0 if config.sparsity is None else config.sparsity,  # None: dense, unread
        scope=config.scope,
        checkpoint=checkpoint,
        ticket=config.ticket,
    )
    check_holdout(
        start.provenance,
        option="--ticket" if config.ticket else "--checkpoint",
        value=config.ticket or checkpoint,
        dataset=config.data.dataset,
        server_images=config.data.server_images,
        split_seed=config.data.split_seed,
    )
    config = replace(config, provenance=start.provenance)
    config_text = recorded_config_text(replace(saved, provenance=start.provenance).to_yaml())
    # A structured method's model is the family's network at the ticket's narrower widths.
    model = Classifier(
        dataset=config.data.dataset, widths=start.widths or None, **asdict(config.model)
    )
    engine = RoundEngine(
        model=model,
        initial_state=start.state,
        mask=start.mask,
        data=data,
        client=config.client,
        federation=federation,
        seeds=config.seeds,
        method=config.method,
        transport=make_transport(config.engine, config.flower, grid),
    )
    if resumed is not None:
        engine.load_state_dict(resumed)  # refuses a mismatch before anything is written
    # Every check is done: from here on, files are written.
    files.create()
    files.remove_stale_temporaries()  # the lock is ours: any temporary is a killed run's
    files.done.unlink(missing_ok=True)  # the run changes again: complete only at its end
    files.run_config = config_text
    # The run's own W&B run, named in every checkpoint: a resume continues it, never another
    # command's run in the same folder's wandb/ (`prune --output DIR/ticket.pt` writes one).
    previous = wandb_run_id(files, resumed)
    files.wandb_run_id = previous or (new_run_id() if config.wandb.enabled else None)
    files.model_info = model_file_info(model)
    if resumed is None:  # the checkpoint first: a run killed from here on can be resumed
        files.write_checkpoint(engine.state_dict())
    files.write_config(config_text)
    labels_png = data.plot_label_distribution(files.labels)
    use_offline_default()
    run_id = files.wandb_run_id
    logged = wandb_rounds_logged(files.dir, previous) if previous else set()
    wandb = WandbRun(
        enabled=config.wandb.enabled,
        project=config.wandb.project,
        name=config.wandb.name or f"{config.method}-seed{config.seed}",
        group=config.wandb.group,
        save_dir=files.dir,
        config=config.to_dict() | ({"config": list(config.config)} if config.config else {}),
        run_id=run_id,
    )
    if resumed is None:
        wandb.log_image("data/label_distribution", labels_png)
    for row in engine.history:  # rounds that a killed process never flushed to W&B
        if row["round"] not in logged:
            wandb.log(row)
    # The W&B run opened once every check passed: it records each round before the round's
    # files are written (the checkpoint last marks the round as done), then the bar moves.
    recorders = [WandbRecorder(wandb), RunFilesRecorder(files), ProgressRecorder(config.progress)]
    try:
        summary = engine.run(on_round, observers=recorders)
        score = holdout_score(engine.model, engine.global_state, data, engine.eval_device)
        wandb.summary(score)  # `val/acc`: what a sweep maximises (examples/sweep.yaml)
        summary.update(summary_fields(score))
        log_model(wandb, files, config)
    except FederationFailed as err:
        raise UsageError(str(err)) from None
    finally:
        wandb.finish()
    summary["provenance"] = start.provenance
    summary["seeds"] = asdict(config.seeds)
    summary["code"] = code_version()  # the package version and git commit that ran it
    files.write_summary(summary)
    files.write_done({"rounds": summary["rounds"], "stopped": summary["stopped"]})
    return summary


def check_deployment_resume(federation: FederationConfig) -> None:
    """A Flower deployment cannot resume a run with error feedback exactly: refuse it."""
    if federation.upload.error_feedback:
        raise UsageError(
            "--resume: federation.error_feedback=true on a Flower deployment cannot resume "
            "exactly: each SuperNode kept its residual in its Context, which a new run starts "
            "empty (the simulation and the local engine checkpoint them); start the run again "
            "without --resume, into a new --output."
        )


def log_model(wandb: WandbRun, files: RunFiles, config: FederateConfig) -> None:
    """The final model as a W&B Artifact made from the ticket's or DAE checkpoint's artifact
    (the one this run started from): pretrain -> ticket -> federation lineage."""
    inputs = []
    provenance = config.provenance or {}
    if config.ticket:
        inputs.append(artifact_name(TICKET_ARTIFACT, file_sha256(Path(config.ticket))))
    elif provenance.get("source_sha256"):
        inputs.append(artifact_name(DAE_ARTIFACT, provenance["source_sha256"]))
    wandb.log_artifact(
        files.model,
        kind=MODEL_ARTIFACT,
        sha256=file_sha256(files.model),
        inputs=inputs,
        metadata={
            "method": config.method,
            "seeds": asdict(config.seeds),
            "provenance": config.provenance,
        },
    )


def make_transport(
    engine: str, flower: FlowerOptions | None = None, grid: Grid | None = None
) -> Transport:
    """The transport of `engine` (`local`: in process; `flower`: over `grid` if given, else
    Flower's simulation), with the Flower settings `flower`."""
    if grid is not None:
        from fl_lightning.federated.flower import FlowerGrid

        return FlowerGrid(grid, flower)
    if engine == "flower":
        from fl_lightning.federated.flower import FlowerSimulation

        return FlowerSimulation(flower)
    return InProcess()


def summary_lines(summary: dict[str, Any], directory: Path) -> list[str]:
    """A finished federation in a few lines: accuracy, traffic, compute, where the files are."""
    acc = summary["final_test_acc"]
    lines = [
        f"{summary['method']}: {summary['rounds']} rounds, final test/acc "
        f"{acc:.4f}, best {summary['best_test_acc']:.4f}; "
        f"traffic {human_bytes(summary['total_bytes'])} "
        f"(down {human_bytes(summary['down_bytes'])}, up {human_bytes(summary['up_bytes'])}); "
        f"client compute {summary['client_flops']:.3g} FLOPs, {summary['client_seconds']:.0f} s; "
        f"density {summary['density']:.3f}"
        if acc is not None
        else f"{summary['method']}: {summary['rounds']} rounds, no evaluation",
        f"results: {directory}/ (metrics.csv, summary.json, config.yaml, model.pt, {LABELS_PNG})",
    ]
    runs = sorted((directory / "wandb").glob("*run-*"))
    if runs:
        lines.append(f"W&B run: {runs[-1]}  (upload with `wandb sync {runs[-1]}`)")
    return lines
