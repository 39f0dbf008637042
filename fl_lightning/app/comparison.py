"""Comparing the methods side by side (step 5): traffic and compute to a target accuracy.

    report = compare(compare_config("configs/compare/smoke.yaml", output="runs/c"))

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
from dataclasses import dataclass, is_dataclass
from pathlib import Path
from typing import Any

from fl_lightning.app.compare_output import check_compare_output
from fl_lightning.app.compare_settings import CompareConfig
from fl_lightning.app.federation import LABELS_PNG
from fl_lightning.app.grid import Grid, PlannedRun, finished_runs, plan_runs, run_grid
from fl_lightning.atomic import atomic_write_bytes, check_can_create
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.console import library_messages
from fl_lightning.errors import UsageError
from fl_lightning.experiments.equal_budget import budget_rows
from fl_lightning.experiments.plots import write_plots
from fl_lightning.experiments.ranking import rank_curves
from fl_lightning.experiments.report import write_reports
from fl_lightning.experiments.to_target import RunCurve, summary_rows
from fl_lightning.interrupts import Interrupted
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


def grid_of(config: CompareConfig) -> Grid:
    """The `Grid` of a compare config (its options were checked when it was built); the
    federate config and the DAE checkpoint must exist (`UsageError`)."""
    federate_config = resolve_config_path(config.federate_config, "federate_config")
    if config.checkpoint and not Path(config.checkpoint).is_file():
        raise UsageError(f"--checkpoint={config.checkpoint!r}: no such file.")
    output = Path(config.output)
    return Grid(
        federate_config=federate_config,
        methods=list(config.methods),
        sparsities=list(config.sparsities),
        partitions=list(config.partitions),
        seeds=list(config.seeds),
        output=output,
        overrides=list(config.overrides),
        wandb_enabled=config.wandb.enabled,
        wandb_project=config.wandb.project,
        wandb_group=config.wandb.group or f"compare-{output.resolve().name}",
        checkpoint=config.checkpoint,
        codecs=list(config.codecs),
        row_seeds={row: list(seeds) for row, seeds in config.row_seeds.items()},
        verbose=config.verbose,
        fdae=config.fdae,
    )


def check_compare_config(config: object) -> None:
    """`UsageError` unless `config` is a `CompareConfig` (a path, None or another step's config
    is named, not run into)."""
    if isinstance(config, CompareConfig):
        return
    if is_dataclass(config) and not isinstance(config, type):  # another step's typed config
        raise UsageError(
            f"compare(config): not a compare config (a {type(config).__name__}); allowed the "
            "config `fl.compare_config(...)` returns."
        )
    raise UsageError(
        f"compare(config={config!r}): allowed the config `fl.compare_config(...)` returns, "
        f"not a {type(config).__name__}."
    )


def wandb_config(config: CompareConfig) -> dict[str, Any]:
    """The summary run's W&B config: the options, the YAML files they were read from, paths
    as recorded (`recorded_paths`: never a machine path)."""
    logged = config.to_dict()
    logged["federate_config"] = recorded_path(config.federate_config)
    if config.config:
        logged["config"] = [recorded_path(p) for p in config.config]
    return logged


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


def compare(config: CompareConfig, *, command: str | None = None) -> CompareReport:
    """Run (or reuse) the grid of `config`, write the reports and plots, log them to W&B.

    Args:
        config: the comparison's options (`compare_config(...)`, or a parse of
            `fl-lightning compare` turned into one by the command).
        command: how it was started, shown in summary.md (default: none).

    Every option and every run's federate config is checked before any run starts, and so is
    the output: a report file there that an earlier comparison did not write is never replaced
    (`compare_output`). Runs go on when one fails; `grid.GridFailed` (or `UsageError`) names
    every failed run at the end.

    With `config.report_only` nothing runs and no lock is taken: the report covers the runs
    finished so far (summary.json's `pending` names the others) and is not logged to W&B.
    """
    check_compare_config(config)
    grid = grid_of(config)
    targets = config.targets()
    check_can_create(grid.output, "--output", folder=True)
    check_compare_output(grid.output, [p.folder for p in grid.partitions])
    with library_messages(config.verbose):
        if config.report_only:
            with write_errors_as_usage(grid.output, _report_unwritten):
                return _report_finished(config, grid, targets, command)
        if grid.wandb_enabled:  # the summary run goes there after every run: check it first
            check_wandb_folder(grid.output)
        # one comparison at a time in a folder
        with (
            write_errors_as_usage(grid.output, _report_unwritten),
            RunLock(grid.output, "--output"),
        ):
            return _compare_locked(config, grid, targets, command)


def _report_unwritten() -> str:
    return (
        "every finished run is kept (and each report file is whole, old or new); make room "
        "(or fix the folder), then run the same command again: finished runs are reused."
    )


def _report_finished(
    config: CompareConfig, grid: Grid, targets: list[float], command: str | None
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
    return _report(config, grid, targets, command, plan_runs(grid), curves, pending)


def _compare_locked(
    config: CompareConfig, grid: Grid, targets: list[float], command: str | None
) -> CompareReport:
    planned = plan_runs(grid)
    runs = f"{len(planned)} run" + ("" if len(planned) == 1 else "s")
    print(f"compare: {runs} into {grid.output}/ (W&B group {grid.wandb_group!r})")
    try:
        curves = run_grid(grid, progress=config.progress, execution=config.execution())
    except Interrupted as err:
        err.detail = (
            f"interrupted ({err.signal_name}); finished runs are kept and unfinished ones "
            f"resume from their checkpoints: run the same command again to continue "
            f"({err.detail or 'no run had started'})."
        )
        raise
    return _report(config, grid, targets, command, planned, curves, [])


def _report(
    config: CompareConfig,
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
        "title": config.title or grid.output.name,
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
        "threads": config.threads,  # torch threads per federation (None: cores // jobs)
        "pending": [run.describe() for run in pending],  # not finished: in no figure
        "code": code_version(),  # the package version and git commit that wrote the report
    }
    meta.update(config.report.meta())  # nothing at the defaults: summary.json as before
    budget = budget_rows(curves, config.budget_rounds)
    files = write_reports(grid.output, rows, curves, targets, meta, budget)
    files.update(label_heatmaps(planned, grid.output))
    first = [r for r in rows if r["target_acc"] == targets[0]]
    plots = write_plots(rank_curves(curves, first, config.report.rank_by), targets, grid.output)
    wandb_dir = None if pending else log_to_wandb(grid, wandb_config(config), rows, plots)
    return CompareReport(rows, grid.output, files, plots, wandb_dir, grid.wandb_group)
