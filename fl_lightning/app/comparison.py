"""Comparing the methods side by side (step 5): traffic and compute to a target accuracy.

    report = compare(compare_config("configs/compare/smoke.yaml", values={"output": "runs/c"}))

Runs every method x sparsity x partition x seed of the grid with `federate` (one
DAE pre-training per seed, shared), then writes DIR/summary.md, summary.json, curves.csv and
acc_vs_traffic.png, acc_vs_flops.png, acc_vs_round.png, label_distribution_<partition>.png
(the first seed's split), and logs the summary table and plots
to one W&B run (job type `compare`) in the comparison's group, beside the federation runs.
Run the same command again to continue an interrupted comparison: finished runs are reused.
`report_only` (`--report_only`) writes the same files from the runs finished so far, running
nothing, e.g. while the comparison runs in another shell; the runs still missing are listed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonargparse import Namespace

from fl_lightning.app.compare_options import build_parser
from fl_lightning.app.compare_output import check_compare_output
from fl_lightning.app.federation import LABELS_PNG
from fl_lightning.app.grid import (
    CodecSpec,
    Grid,
    PartitionSpec,
    PlannedRun,
    finished_runs,
    plan_runs,
    run_grid,
)
from fl_lightning.app.grid_fdae import FdaeSpec
from fl_lightning.atomic import atomic_write_bytes, check_can_create
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.console import library_messages
from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.experiments.equal_budget import budget_rows
from fl_lightning.experiments.grid_executors import Execution, RayOptions
from fl_lightning.experiments.methods import method_named
from fl_lightning.experiments.plots import write_plots
from fl_lightning.experiments.ranking import rank_curves
from fl_lightning.experiments.report import write_reports
from fl_lightning.experiments.report_options import ReportOptions
from fl_lightning.experiments.to_target import RunCurve, summary_rows
from fl_lightning.federated.config import check_seed
from fl_lightning.interrupts import Interrupted
from fl_lightning.parsers.config_builder import check_built_config, config_files
from fl_lightning.recorded_paths import recorded_arg, recorded_path
from fl_lightning.run_lock import RunLock
from fl_lightning.tracking.offline_reader import offline_run_parts
from fl_lightning.tracking.wandb_run import (
    WandbRun,
    check_wandb_folder,
    stable_run_id,
    use_offline_default,
)
from fl_lightning.version import code_version
from fl_lightning.write_errors import write_errors_as_usage


def targets_of(value: float | list[float]) -> list[float]:
    """The target accuracies as a checked list."""
    targets = [value] if isinstance(value, int | float) else list(value)
    if not targets:
        raise UsageError("--target_acc=[]: give at least one target accuracy in (0, 1].")
    for t in targets:
        check_range("--target_acc", t, 0.0, 1.0, low_inclusive=False, high_inclusive=True)
    return [float(t) for t in targets]


def grid_of(cfg: Namespace) -> Grid:
    """The `Grid` of a parsed compare config; `UsageError` for an empty or invalid axis."""
    for option in ("methods", "partitions", "seeds"):
        if not cfg[option]:
            raise UsageError(f"--{option}=[]: the comparison needs at least one.")
    for option in ("methods", "seeds", "sparsities"):
        if len(set(cfg[option])) != len(cfg[option]):
            raise UsageError(f"--{option}={cfg[option]!r} repeats a value.")
    for s in cfg.sparsities:
        check_range("--sparsities", s, 0.0, 1.0)
    for seed in cfg.seeds:
        check_seed("--seeds", seed)
    if not str(cfg.output).strip():
        raise UsageError(f"--output={cfg.output!r} names no folder; give the comparison's folder.")
    partitions = [
        PartitionSpec(**vars(p)) if isinstance(p, Namespace) else p for p in cfg.partitions
    ]
    folders = [p.folder for p in partitions]
    if len(set(folders)) != len(folders):
        raise UsageError(f"--partitions: two partitions share a name ({folders}); give a label.")
    codecs = codecs_of(cfg)
    row_seeds = row_seeds_of(cfg, codecs)
    federate_config = resolve_config_path(cfg.federate_config, "federate_config", config_files(cfg))
    if cfg.checkpoint and not Path(cfg.checkpoint).is_file():
        raise UsageError(f"--checkpoint={cfg.checkpoint!r}: no such file.")
    output = Path(cfg.output)
    return Grid(
        federate_config=federate_config,
        methods=list(cfg.methods),
        sparsities=[float(s) for s in cfg.sparsities],
        partitions=partitions,
        seeds=list(cfg.seeds),
        output=output,
        overrides=list(cfg.overrides),
        wandb_enabled=cfg.wandb.enabled,
        wandb_project=cfg.wandb.project,
        wandb_group=cfg.wandb.group or f"compare-{output.resolve().name}",
        checkpoint=cfg.checkpoint,
        codecs=codecs,
        row_seeds=row_seeds,
        verbose=cfg.verbose,
        fdae=FdaeSpec(**vars(cfg.fdae)) if isinstance(cfg.fdae, Namespace) else cfg.fdae,
    )


def codecs_of(cfg: Namespace) -> list[CodecSpec]:
    """The codec axis of a parsed compare config, checked: unique names fit for a folder,
    each with at least one known method."""
    codecs = [CodecSpec(**vars(c)) if isinstance(c, Namespace) else c for c in cfg.codecs]
    names = [c.name for c in codecs]
    if len(set(names)) != len(names):
        raise UsageError(f"--codecs: two settings share a name ({names}).")
    for c in codecs:
        if not c.name.strip() or "/" in c.name or "+" in c.name:
            raise UsageError(f"--codecs: name {c.name!r} must be non-empty, without '/' or '+'.")
        if not c.methods:
            raise UsageError(f"--codecs: setting {c.name!r} lists no methods.")
        if len(set(c.methods)) != len(c.methods):
            raise UsageError(f"--codecs: setting {c.name!r} repeats a method ({list(c.methods)}).")
        for m in c.methods:
            method_named(m, f"--codecs ({c.name}) methods")
    return codecs


def row_seeds_of(cfg: Namespace, codecs: list[CodecSpec]) -> dict[str, list[int]]:
    """`--row_seeds`, checked: each key a row of the grid (`method` or `method+codec`), each
    value a non-empty subset of `--seeds`."""
    rows = [*cfg.methods, *(f"{m}+{c.name}" for c in codecs for m in c.methods)]
    row_seeds: dict[str, list[int]] = {}
    for row, seeds in (cfg.row_seeds or {}).items():
        check_choice("--row_seeds row", row, tuple(rows))
        outside = [s for s in seeds if s not in cfg.seeds]
        if not seeds or outside or len(set(seeds)) != len(seeds):
            raise UsageError(
                f"--row_seeds: {row}: {list(seeds)!r} must be distinct seeds of --seeds "
                f"{list(cfg.seeds)!r}, at least one."
            )
        row_seeds[row] = list(seeds)
    return row_seeds


def log_to_wandb(
    grid: Grid, config: dict[str, Any], rows: list[dict[str, Any]], plots: dict[str, Path]
) -> Path | None:
    """One W&B run (job type `compare`) in the grid's group: the summary table and the plots.

    One per comparison folder: its id is fixed by the folder (`stable_run_id`), so running the
    comparison again continues that run, and the earlier local copy, superseded, is removed
    once the new one is complete."""
    if not grid.wandb_enabled:
        return None
    use_offline_default()
    run_id = stable_run_id("compare-summary", grid.output)
    run = WandbRun(
        enabled=True,
        project=grid.wandb_project,
        name=f"{grid.wandb_group}/summary",
        group=grid.wandb_group,
        save_dir=grid.output,
        config=config,
        job_type="compare",
        run_id=run_id,
        round_metrics=False,  # a table and plots, no rounds
    )
    try:
        run.log_table("summary", rows)
        for axis, path in plots.items():
            run.log_image(f"plots/acc_vs_{axis}", path)
        directory = run.directory
    finally:
        run.finish()  # waits for the offline file (see `finish_wandb_writes`)
    for older in offline_run_parts(grid.output / "wandb", run_id):
        if directory is not None and older.name != directory.name:
            shutil.rmtree(older)
    return directory


def label_heatmaps(runs: list[PlannedRun], output: Path) -> dict[str, Path]:
    """Each partition's clients x classes heatmap, copied from its first run (the first seed:
    every method of a seed shares that seed's split) to `label_distribution_<partition>.png`.

    Returns {file name: path}; a partition whose runs wrote no heatmap is left out.
    """
    written: dict[str, Path] = {}
    for run in runs:
        name = f"label_distribution_{run.partition.folder}.png"
        source = run.directory / LABELS_PNG
        if name not in written and source.is_file():
            atomic_write_bytes(output / name, source.read_bytes())
            written[name] = output / name
    return written


@dataclass(frozen=True)
class CompareReport:
    """What a comparison wrote: the summary rows and where the files and the W&B run are."""

    rows: list[dict[str, Any]]
    output: Path
    files: dict[str, Path]
    plots: dict[str, Path]
    wandb_run: Path | None
    wandb_group: str

    @property
    def summary_md(self) -> str:
        """The comparison table, as in summary.md."""
        return self.files["summary.md"].read_text()


def compare(cfg: Namespace, *, command: str | None = None) -> CompareReport:
    """Run (or reuse) the grid of `cfg`, write the reports and plots, log them to W&B.

    Args:
        cfg: the config, as `compare_config` builds it (the parser of `fl-lightning compare`).
        command: how it was started, shown in summary.md (default: none).

    Every option and every run's federate config is checked before any run starts, and so is
    the output: a report file there that an earlier comparison did not write is never replaced
    (`compare_output`). Runs go on when one fails; `grid.GridFailed` (or `UsageError`) names
    every failed run at the end.

    With `cfg.report_only` nothing runs and no lock is taken: the report covers the runs
    finished so far (summary.json's `pending` names the others) and is not logged to W&B.
    """
    check_built_config(cfg, build_parser(), "compare", "compare_config")
    grid = grid_of(cfg)
    targets = targets_of(cfg.target_acc)
    if any(n < 1 for n in cfg.budget_rounds):
        raise UsageError(f"--budget_rounds={cfg.budget_rounds!r}: rounds must be >= 1.")
    check_can_create(grid.output, "--output", folder=True)
    check_compare_output(grid.output, [p.folder for p in grid.partitions])
    with library_messages(cfg.verbose):
        if cfg.report_only:
            with write_errors_as_usage(grid.output, _report_unwritten):
                return _report_finished(cfg, grid, targets, command)
        if grid.wandb_enabled:  # the summary run goes there after every run: check it first
            check_wandb_folder(grid.output)
        # one comparison at a time in a folder
        with (
            write_errors_as_usage(grid.output, _report_unwritten),
            RunLock(grid.output, "--output"),
        ):
            return _compare_locked(cfg, grid, targets, command)


def _report_unwritten() -> str:
    return (
        "every finished run is kept (and each report file is whole, old or new); make room "
        "(or fix the folder), then run the same command again: finished runs are reused."
    )


def _report_finished(
    cfg: Namespace, grid: Grid, targets: list[float], command: str | None
) -> CompareReport:
    curves, pending = finished_runs(grid)
    if not curves:
        raise UsageError(
            f"--report_only: no run of this comparison has finished in {grid.output}/ yet "
            f"({len(pending)} planned); run it without --report_only first."
        )
    print(
        f"compare: report of the {len(curves)} finished runs of {len(curves) + len(pending)} "
        f"in {grid.output}/ (nothing runs)"
    )
    return _report(cfg, grid, targets, command, plan_runs(grid), curves, pending)


def _compare_locked(
    cfg: Namespace, grid: Grid, targets: list[float], command: str | None
) -> CompareReport:
    planned = plan_runs(grid)
    runs = f"{len(planned)} run" + ("" if len(planned) == 1 else "s")
    print(f"compare: {runs} into {grid.output}/ (W&B group {grid.wandb_group!r})")
    ray = RayOptions(**vars(cfg.ray)) if isinstance(cfg.ray, Namespace) else cfg.ray
    execution = Execution(jobs=cfg.jobs, executor=cfg.executor, ray=ray, threads=cfg.threads)
    try:
        curves = run_grid(grid, progress=cfg.progress, execution=execution)
    except Interrupted as err:
        err.detail = (
            f"interrupted ({err.signal_name}); finished runs are kept and unfinished ones "
            f"resume from their checkpoints: run the same command again to continue "
            f"({err.detail or 'no run had started'})."
        )
        raise
    return _report(cfg, grid, targets, command, planned, curves, [])


def _report(
    cfg: Namespace,
    grid: Grid,
    targets: list[float],
    command: str | None,
    planned: list[PlannedRun],
    curves: list[RunCurve],
    pending: list[PlannedRun],
) -> CompareReport:
    """Write the reports and plots of `curves` and the label heatmaps of the `planned` runs'
    splits (`pending`: runs not finished yet, listed and left out of every figure); log them to
    W&B unless the report is partial."""
    rows = summary_rows(curves, targets)
    meta = {
        "title": cfg.title or grid.output.name,
        "command": command,
        "seeds": list(grid.seeds),
        "partitions": [p.folder for p in grid.partitions],
        "federate_config": recorded_path(grid.federate_config),
        "overrides": [recorded_arg(a) for a in grid.overrides],
        "codecs": [
            {
                "name": c.name,
                "methods": list(c.methods),
                "overrides": [recorded_arg(a) for a in c.overrides],
            }
            for c in grid.codecs
        ],
        "wandb_group": grid.wandb_group,
        "checkpoint": None if grid.checkpoint is None else recorded_path(grid.checkpoint),
        "row_seeds": dict(grid.row_seeds),
        "threads": cfg.threads,  # torch threads per federation (None: cores // jobs)
        "pending": [run.describe() for run in pending],  # not finished: in no figure
        "code": code_version(),  # the package version and git commit that wrote the report
    }
    report = ReportOptions.of(getattr(cfg, "report", None))
    meta.update(report.meta())  # nothing at the defaults: summary.json as before
    budget = budget_rows(curves, cfg.budget_rounds)
    files = write_reports(grid.output, rows, curves, targets, meta, budget)
    files.update(label_heatmaps(planned, grid.output))
    first = [r for r in rows if r["target_acc"] == targets[0]]
    plots = write_plots(rank_curves(curves, first, report.rank_by), targets, grid.output)
    wandb_dir = None if pending else log_to_wandb(grid, cfg.as_dict(), rows, plots)
    return CompareReport(rows, grid.output, files, plots, wandb_dir, grid.wandb_group)
