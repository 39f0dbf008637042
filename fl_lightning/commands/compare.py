"""`fl-lightning compare`: the methods side by side, traffic and compute to a target accuracy.

    fl-lightning compare --config configs/compare/fashion_mnist.yaml [--output DIR]

Runs every method x sparsity x partition x seed of the grid with `fl-lightning federate` (one
DAE pre-training per seed, shared), then writes DIR/summary.md, summary.json, curves.csv and
acc_vs_traffic.png, acc_vs_flops.png, acc_vs_round.png, and logs the summary table and plots
to one W&B run (job type `compare`) in the comparison's group, beside the federation runs.
Run the same command again to continue an interrupted comparison: finished runs are reused.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from fl_lightning.errors import UsageError, check_range
from fl_lightning.experiments.compare import Grid, PartitionSpec, plan_runs, run_grid
from fl_lightning.experiments.methods import METHODS, MethodName
from fl_lightning.experiments.plots import write_plots
from fl_lightning.experiments.report import write_reports
from fl_lightning.experiments.to_target import summary_rows
from fl_lightning.logging import WandbRun, use_offline_default

DESCRIPTION = (
    "Run the methods side by side (every method x sparsity x partition x seed, through "
    "`fl-lightning federate`) and report the rounds, traffic, client FLOPs and client seconds "
    "each needs to reach the target accuracy. Writes --output/summary.md, summary.json, "
    "curves.csv, acc_vs_*.png and runs/<partition>/<method>[-s<sparsity>]/seed<S>/. Running "
    "the same command again reuses finished runs."
)


@dataclass(frozen=True)
class CompareWandb:
    """W&B for the comparison (offline unless WANDB_MODE says otherwise).

    Args:
        enabled: log each federation and the summary run (false: no W&B at all).
        project: W&B project.
        group: W&B group of every run of this comparison (default: `compare-<output folder>`).
    """

    enabled: bool = True
    project: str = "fl-lightning"
    group: str | None = None


def build_parser() -> ArgumentParser:
    """The `fl-lightning compare` parser (also the schema of configs/compare/*.yaml)."""
    parser = ArgumentParser(prog="fl-lightning compare", description=DESCRIPTION)
    parser.add_argument("--config", action=ActionConfigFile, help="YAML config (configs/compare/).")
    parser.add_argument(
        "--federate_config",
        type=str,
        default="configs/federate/fashion_mnist.yaml",
        help="The federate YAML every run starts from.",
    )
    parser.add_argument(
        "--overrides",
        type=list[str],
        default=[],
        help="Extra federate arguments for every run, e.g. ['--rounds=20'].",
    )
    parser.add_argument(
        "--methods",
        type=list[MethodName],
        default=list(METHODS),
        help="Methods to compare: " + ", ".join(METHODS) + ".",
    )
    parser.add_argument(
        "--sparsities",
        type=list[float],
        default=[0.9],
        help="Sparsities of the pruned methods (dense methods run once).",
    )
    parser.add_argument(
        "--partitions",
        type=list[PartitionSpec],
        default=[PartitionSpec()],
        help="Client partitions, e.g. [{name: iid}, {name: dirichlet, alpha: 0.5}].",
    )
    parser.add_argument(
        "--seeds",
        type=list[int],
        default=[0],
        help="Seeds; each sets the data split, client sampling and init seeds.",
    )
    parser.add_argument(
        "--target_acc",
        type=float | list[float],
        default=0.8,
        help="Target test accuracy (or a list of them), in (0, 1].",
    )
    parser.add_argument(
        "--output",
        type=str,
        default="runs/compare/default",
        help="Folder of the comparison (runs/, pretrain/, summary.*, plots).",
    )
    parser.add_argument(
        "--title",
        type=str | None,
        default=None,
        help="Heading of summary.md (default: the output folder's name).",
    )
    parser.add_argument(
        "--progress",
        type=bool,
        default=True,
        help="Show a live progress display (a line per run is printed always).",
    )
    parser.add_argument(
        "--checkpoint",
        type=str | None,
        default=None,
        help="A DAE checkpoint for every seed instead of pre-training one per seed (its "
        "hold-out should match each seed's data split, e.g. one seed).",
    )
    parser.add_argument("--wandb", type=CompareWandb, default=CompareWandb())
    return parser


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
    partitions = [
        PartitionSpec(**vars(p)) if isinstance(p, Namespace) else p for p in cfg.partitions
    ]
    folders = [p.folder for p in partitions]
    if len(set(folders)) != len(folders):
        raise UsageError(f"--partitions: two partitions share a name ({folders}); give a label.")
    if cfg.checkpoint and not Path(cfg.checkpoint).is_file():
        raise UsageError(f"--checkpoint={cfg.checkpoint!r}: no such file.")
    output = Path(cfg.output)
    return Grid(
        federate_config=cfg.federate_config,
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
    )


def log_to_wandb(
    grid: Grid, config: dict[str, Any], rows: list[dict[str, Any]], plots: dict[str, Path]
) -> Path | None:
    """One W&B run (job type `compare`) in the grid's group: the summary table and the plots."""
    if not grid.wandb_enabled:
        return None
    use_offline_default()
    run = WandbRun(
        enabled=True,
        project=grid.wandb_project,
        name=f"{grid.wandb_group}/summary",
        group=grid.wandb_group,
        save_dir=grid.output,
        config=config,
        job_type="compare",
    )
    try:
        run.log_table("summary", rows)
        for axis, path in plots.items():
            run.log_image(f"plots/acc_vs_{axis}", path)
        directory = run.directory
    finally:
        run.finish()  # waits for the offline file (see `finish_wandb_writes`)
    return directory


def main(argv: list[str]) -> None:
    """Parse `argv`, run (or reuse) the grid, write the reports and plots, log them to W&B."""
    parser = build_parser()
    cfg = parser.parse_args(argv)
    grid = grid_of(cfg)
    targets = targets_of(cfg.target_acc)
    planned = len(plan_runs(grid))
    runs = f"{planned} run" + ("" if planned == 1 else "s")
    print(f"compare: {runs} into {grid.output}/ (W&B group {grid.wandb_group!r})")
    curves = run_grid(grid, progress=cfg.progress)
    rows = summary_rows(curves, targets)
    meta = {
        "title": cfg.title or grid.output.name,
        "command": "fl-lightning compare " + shlex.join(argv),
        "seeds": list(grid.seeds),
        "partitions": [p.folder for p in grid.partitions],
        "federate_config": grid.federate_config,
        "overrides": list(grid.overrides),
        "wandb_group": grid.wandb_group,
        "checkpoint": grid.checkpoint,
    }
    files = write_reports(grid.output, rows, curves, targets, meta)
    plots = write_plots(curves, targets, grid.output)
    wandb_dir = log_to_wandb(grid, cfg.as_dict(), rows, plots)
    print()
    print(files["summary.md"].read_text())
    print(f"results: {grid.output}/ (summary.md, summary.json, curves.csv)")
    print(f"plots:   {', '.join(str(p) for p in plots.values())}")
    if wandb_dir is not None:
        print(f"W&B:     {wandb_dir}  (group {grid.wandb_group!r}; upload with `wandb sync`)")
