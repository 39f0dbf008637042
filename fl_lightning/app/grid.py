"""The comparison grid: every method x sparsity x partition x seed, run with `app.federate`.

    OUTPUT/pretrain/seed<S>/                     one DAE pre-training per seed, shared by all runs
    OUTPUT/runs/<partition>/<method>[-s<sparsity>][+<codec>]/seed<S>/   one federation

The codec axis: each named `CodecSpec` (its federate overrides, e.g. int8 payloads or top-k
uploads with error feedback) runs for its own list of methods, beside the plain runs; its run
folders and report rows carry the setting's name (`fedavg+int8`).

All runs of one seed share `seed: S` (the data split, client sampling and init seeds) and, for
the methods that need a DAE, the same checkpoint: the server hold-out is drawn before the
clients' partition, so one pre-training serves every partition of that seed. A given
`Grid.checkpoint` replaces the pre-trainings (every seed then shares that one checkpoint).

Restarting an interrupted comparison with the same config and output reuses every finished run
(its completion marker DONE.json exists, written after summary.json and model.pt), continues
an unfinished one from its checkpoint.pt (`resume`) and keeps each seed's pre-training; a
finished run whose config.yaml differs from what the grid asks now is refused rather than
silently mixed in. `finished_runs` reads what has finished so far without running anything (the
report of a comparison still running elsewhere: `compare --report_only`).

The federations run one after the other here, in N worker processes (`--jobs N`) or as Ray
tasks (`--executor ray`); see `grid_executors`. Each seed's pre-training runs first, here. A run
that fails is reported while the others go on; `GridFailed` names every failed run at the end.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from fl_lightning.app.compare_groups import CodecSpec, PartitionSpec
from fl_lightning.app.federate_resolution import resolved
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.federation import federate, pretrain_config_for, summary_lines
from fl_lightning.app.grid_configs import GridConfigs, read_federate_yaml, run_values
from fl_lightning.app.grid_fdae import fdae_checkpoint, fdae_folder
from fl_lightning.app.grid_fdae_wandb import fdae_wandb
from fl_lightning.app.grid_plan import Grid, PlannedRun, plan_runs
from fl_lightning.app.pretraining import CHECKPOINT_NAME, PretrainConfig, pretrain
from fl_lightning.app.run_identity import grid_relative, recorded_identity, wanted_identity
from fl_lightning.atomic import atomic_write_json
from fl_lightning.errors import UsageError
from fl_lightning.experiments.grid_executors import Execution, ItemsInterrupted, run_all
from fl_lightning.experiments.grid_progress import GridProgress
from fl_lightning.experiments.methods import method_named
from fl_lightning.experiments.pretraining_cost import pretraining_cost
from fl_lightning.experiments.to_target import RunCurve
from fl_lightning.federated.progress import RoundLines
from fl_lightning.federated.run_files import RunFiles
from fl_lightning.recorded_paths import recorded_arg

__all__ = [  # the plan's names too: callers import the grid's whole interface from here
    "CodecSpec",
    "Grid",
    "GridConfigs",
    "GridFailed",
    "PartitionSpec",
    "PlannedRun",
    "check_grid",
    "finished_runs",
    "grid_relative",
    "plan_runs",
    "run_grid",
    "run_values",
]


class GridFailed(RuntimeError):
    """Some runs of the grid failed (the others finished and are kept for the next attempt)."""


def check_grid(grid: Grid, configs: GridConfigs | None = None) -> list[PlannedRun]:
    """Validate every run's options before any work starts; returns the plan.

    Each run's config is built, resolved and range-checked, and its data and federation
    settings built and validated (as `federate` does when the run starts), so a bad partition
    or option of the last run stops the comparison before the first one.
    """
    configs = configs or GridConfigs(grid)
    read_federate_yaml(grid.federate_config)
    methods = dict.fromkeys([*grid.methods, *(m for c in grid.codecs for m in c.methods)])
    pruned = [m for m in methods if method_named(m).pruned]
    if pruned and not grid.sparsities:
        raise UsageError(
            f"--sparsities=[]: the pruned methods ({', '.join(pruned)}) need at least one "
            "sparsity; give one or leave them out of --methods (and --codecs)."
        )
    runs = plan_runs(grid)
    checked: set[tuple[str, ...]] = set()
    for run in runs:
        what = f"run {run.describe()}"
        config = configs.run(run, None)
        try:
            config = resolved(config)
            key = (run.partition.folder, str(run.seed), run.arm.codec or "")
            if key not in checked:  # data and federation settings of each partition x seed x codec
                checked.add(key)
                data = config.data.module()
                data.setup()
                config.federation.validate(data.num_clients)
        except UsageError as err:
            raise UsageError(f"{what}: {err}") from None
    return runs


def pretrain_for_seed(grid: Grid, seed: int, configs: GridConfigs, *, train: bool = True) -> str:
    """The DAE checkpoint of `seed`: pre-trained once into OUTPUT/pretrain/seed<S>/.

    An existing pre-training made with other arguments than the grid asks for is refused
    (`UsageError`); with `train=False` a missing one is not made (its path is returned).
    """
    out = grid.output / "pretrain" / f"seed{seed}"
    federate_config = resolved(configs.seed(seed))
    base = pretrain_config_for(federate_config, out)
    # compare shows its own progress; a second live display would clash with it
    quiet = {"trainer.enable_progress_bar": False, "trainer.enable_model_summary": False}
    config = PretrainConfig(base.config, base.output, base.settings, (*base.args, *_flags(quiet)))
    args = config.cli_args()
    ckpt = out / CHECKPOINT_NAME
    record = out / "compare_pretrain_args.json"
    if ckpt.is_file():
        if record.is_file() and _placeless(json.loads(record.read_text())) != _placeless(args):
            raise UsageError(
                f"{out} was pre-trained with other arguments than this comparison asks for; "
                "delete it or choose another --output."
            )
        return str(ckpt)
    if not train:
        return str(ckpt)
    if grid.verbose:  # how it shows, not what it computes: not part of the record
        config = replace(config, args=(*config.args, *_flags({"verbose": True})))
    if grid.wandb_enabled and not _sets_logger(federate_config):
        logger = {
            "trainer.logger.init_args.group": grid.wandb_group,
            "trainer.logger.init_args.name": f"pretrain/seed{seed}",
        }
        config = PretrainConfig(
            config.config, config.output, config.settings, (*config.args, *_flags(logger))
        )
    pretrain(config, config_option="--pretrain_config")
    atomic_write_json(record, [recorded_arg(arg) for arg in args])
    return str(ckpt)


def federated_dae_for(
    grid: Grid, run: PlannedRun, configs: GridConfigs, *, train: bool = True
) -> str:
    """The federated DAE checkpoint of `run`'s partition and seed (`grid_fdae`): made once into
    OUTPUT/pretrain_fdae/<partition>/seed<S>/ (with `train=False` only its path), logged to
    its own W&B run when the grid's W&B is on (`grid_fdae_wandb`)."""
    config = resolved(configs.run(run, None))
    out = fdae_folder(grid.output, run.partition.folder, run.seed)
    wandb = fdae_wandb(config.wandb, run.partition.folder, run.seed)
    return fdae_checkpoint(config, grid.fdae, out, train=train, wandb=wandb)


def _placeless(args: Sequence[str]) -> list[str]:
    """Pre-training arguments without where they were read and written (`--config FILE`,
    `--output DIR`): a moved comparison folder or repository keeps its pre-trainings, as
    `run_identity.VOLATILE_FIELDS` lets it keep its runs."""
    kept: list[str] = []
    skip = False
    for arg in args:
        option, given, _ = arg.partition("=")
        if skip:
            skip = False
        elif option.startswith("--") and option[2:] in _PLACES:
            skip = not given  # `--output DIR`: DIR is the next argument
        else:
            kept.append(recorded_arg(arg))  # an older record may hold absolute paths
    return kept


#: The pre-training options that say where it was read and written (`_placeless`).
_PLACES = frozenset({"config", "output"})


def _flags(settings: dict[str, Any]) -> list[str]:
    return PretrainConfig(settings=settings).cli_args()


def _sets_logger(config: FederateConfig) -> bool:
    """Whether the pre-training config or overrides choose their own logger (then keep it)."""
    text = yaml.safe_load(Path(config.pretrain_config).read_text()) or {}
    in_yaml = "logger" in (text.get("trainer") or {})
    return in_yaml or any(a.startswith("--trainer.logger") for a in config.pretrain_overrides)


def run_one(config: FederateConfig, run: PlannedRun) -> tuple[dict[str, Any], bool]:
    """Run (or reuse, or resume) one federation of the resolved `config`; returns its summary
    and whether it ran."""
    if RunFiles(run.directory).complete:  # not summary.json: model.pt is written after it
        return _checked_summary(run, config), False
    config = replace(config, resume=(run.directory / "checkpoint.pt").is_file())
    summary = federate(config, on_round=RoundLines(run.describe(), config.federation.rounds))
    for line in summary_lines(summary, run.directory):
        print(line)
    return summary, True


def _checked_summary(run: PlannedRun, config: FederateConfig) -> dict[str, Any]:
    """The summary of the finished `run`, once the options it ran with are checked against
    `config`, what the grid asks for now (`run_identity`): a finished run made with another
    config, or one whose options cannot be read, is refused (`UsageError`) rather than
    silently mixed in."""
    if recorded_identity(_run_options(run), config) != wanted_identity(config):
        raise UsageError(
            f"{run.directory} holds a finished run made with another config than this "
            "comparison asks for; delete it or choose another --output."
        )
    summary: dict[str, Any] = json.loads((run.directory / "summary.json").read_text())
    return summary


def _run_options(run: PlannedRun) -> str:
    """The options the finished `run` ran with, as config.yaml text: its checkpoint.pt's own
    copy (which a removed or edited config.yaml cannot change), else config.yaml (a run from
    before checkpoints carried one); `UsageError` when neither is there to check."""
    files = RunFiles(run.directory)
    text = files.recorded_config()
    if text is not None:
        return text
    if files.config.is_file():
        return files.config.read_text(errors="replace")
    raise UsageError(
        f"{run.directory} holds a finished run whose options are gone (no config.yaml, and no "
        "checkpoint.pt that records them), so it cannot be checked against this comparison; "
        "delete it or choose another --output."
    )


def _dae_checkpoint(
    grid: Grid,
    run: PlannedRun,
    configs: GridConfigs,
    checkpoints: dict[int, str],
    *,
    train: bool,
) -> str | None:
    """The DAE checkpoint `run` starts from: its partition and seed's federated pre-training,
    the seed's pre-training (made once, kept in `checkpoints`), the grid's own, or None for a
    method without one."""
    method = method_named(run.arm.method)
    if method.dae == "federated":
        return federated_dae_for(grid, run, configs, train=train)
    if not method.needs_checkpoint(None):
        return None
    if run.seed not in checkpoints:
        checkpoints[run.seed] = grid.checkpoint or pretrain_for_seed(
            grid, run.seed, configs, train=train
        )
    return checkpoints[run.seed]


def finished_runs(grid: Grid) -> tuple[list[RunCurve], list[PlannedRun]]:
    """The grid's finished runs as curves (in plan order) and the runs not finished yet.

    Runs and pre-trains nothing, and takes no lock: it reads while the grid may be running in
    another process (a run counts once its completion marker exists). Finished runs and
    pre-trainings are checked against what the grid asks for, as when running (`UsageError`).
    """
    read_federate_yaml(grid.federate_config)
    configs = GridConfigs(grid)
    checkpoints: dict[int, str] = {}
    curves: list[RunCurve] = []
    pending: list[PlannedRun] = []
    for run in plan_runs(grid):
        if not RunFiles(run.directory).complete:
            pending.append(run)
            continue
        checkpoint = _dae_checkpoint(grid, run, configs, checkpoints, train=False)
        config = resolved(configs.run(run, checkpoint))
        curves.append(run_curve(run, _checked_summary(run, config), checkpoint))
    return curves, pending


def run_curve(
    run: PlannedRun, summary: Mapping[str, Any], checkpoint: str | None = None
) -> RunCurve:
    """A finished run's per-round history, payload widths and the cost of the DAE it started
    from (`checkpoint`, None for a method without one), as the report reads them."""
    return RunCurve(
        run.arm,
        run.seed,
        list(summary["history"]),
        summary.get("down_bits_per_param"),
        summary.get("up_bits_per_param"),
        pretraining_cost(checkpoint) if checkpoint is not None else None,
    )


@dataclass(frozen=True)
class RunJob:
    """One run as handed to an executor (picklable: it may travel to a worker or a cluster)."""

    run: PlannedRun
    config: FederateConfig  # the run's federate config, resolved in the worker
    checkpoint: str | None
    cwd: str | None = None  # where relative paths (configs, output) resolve; None: unchanged


def run_job(job: RunJob) -> tuple[dict[str, Any], bool, float]:
    """Run (or reuse, or resume) one federation: its summary, whether it ran, its seconds."""
    if job.cwd is not None:  # a worker process or Ray task starts elsewhere
        os.chdir(job.cwd)
    began = time.perf_counter()
    summary, executed = run_one(resolved(job.config), job.run)
    return summary, executed, time.perf_counter() - began


@contextmanager
def _say_where_stopped(runs: list[PlannedRun]) -> Iterator[None]:
    """An interrupted parallel grid's `Interrupted.detail`: each run stopped mid-way (and the
    round its checkpoint holds), and how many had not started."""
    try:
        yield
    except ItemsInterrupted as err:
        parts = [
            f"{runs[i].describe()} stopped ({_checkpoint_note(runs[i].directory)})"
            for i in sorted(err.stopped)
        ]
        if err.not_started:
            n = len(err.not_started)
            parts.append(f"{n} run{'' if n == 1 else 's'} had not started")
        err.detail = "; ".join(parts) or None
        raise


def _checkpoint_note(directory: Path) -> str:
    try:
        return f"checkpoint.pt of round {int(RunFiles(directory).read_checkpoint()['round'])} kept"
    except UsageError:
        return "before its first checkpoint"


def run_grid(
    grid: Grid, *, progress: bool = True, execution: Execution | None = None
) -> list[RunCurve]:
    """Run (or reuse) every run of the grid; returns each run's per-round history, in plan
    order whatever the order the runs finished in. `GridFailed` if any run failed."""
    execution = execution or Execution()
    configs = GridConfigs(grid)
    runs = check_grid(grid, configs)
    checkpoints: dict[int, str] = {}
    serial = execution.executor == "local" and execution.jobs == 1
    cwd = None if serial else os.getcwd()
    jobs: list[RunJob] = []
    for run in runs:
        checkpoint = _dae_checkpoint(grid, run, configs, checkpoints, train=True)
        jobs.append(RunJob(run, configs.run(run, checkpoint), checkpoint, cwd))
    summaries: dict[int, dict[str, Any]] = {}
    failed: list[str] = []
    usage: list[str] = []  # failures that are user mistakes (exit code 2, as before)
    with GridProgress(len(runs), progress) as bar, _say_where_stopped(runs):
        if serial:
            bar.start(1, runs[0], reused=RunFiles(runs[0].directory).complete)
        for i, outcome in run_all(run_job, jobs, execution):
            run = runs[i]
            if isinstance(outcome, Exception):
                failed.append(f"{run.describe()}: {type(outcome).__name__}: {outcome}")
                if isinstance(outcome, UsageError):
                    usage.append(failed[-1])
                bar.failed(i + 1, run, outcome)
            else:
                summary, executed, seconds = outcome
                summaries[i] = summary
                if not serial:
                    bar.done(i + 1, run, seconds, executed)
                bar.finish(len(summaries) + len(failed), seconds, executed)
            if serial and i + 1 < len(runs):
                bar.start(i + 2, runs[i + 1], reused=RunFiles(runs[i + 1].directory).complete)
    if failed:
        error = UsageError if len(usage) == len(failed) else GridFailed
        raise error(
            f"{len(failed)} of {len(runs)} runs failed (the others are kept; run the same "
            "command again to retry them):\n  " + "\n  ".join(failed)
        )
    return [run_curve(r, summaries[i], jobs[i].checkpoint) for i, r in enumerate(runs)]
