"""The comparison's plots: test accuracy against cumulative traffic, client FLOPs and round.

One PNG per x-axis, one subplot per partition, one line per arm (method at one sparsity): the
mean over seeds at each evaluated round, with a band from the lowest to the highest seed (one
seed: its curve, no band), and each target accuracy as a line of its own style; one legend for
all panels, right of them. Every x-axis is logarithmic: costs span orders of magnitude across
methods, and a grid's long runs (300 rounds for the equal-traffic rows) would otherwise squeeze
its 50-round runs into a corner. Files are written atomically (Agg backend, no display).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from fl_lightning.atomic import atomic_write_bytes
from fl_lightning.experiments.to_target import Arm, RunCurve
from fl_lightning.tracking.metric_names import CUM_BYTES, CUM_FLOPS, ROUND, TEST_ACC

XAxis = Literal["traffic", "flops", "round"]
#: x-axis -> (history column, axis label, scale, divisor)
AXES: dict[XAxis, tuple[str, str, str, float]] = {
    "traffic": (CUM_BYTES, "cumulative traffic, down + up (MB)", "log", 1e6),
    "flops": (CUM_FLOPS, "cumulative client training FLOPs (GFLOPs)", "log", 1e9),
    "round": (ROUND, "round", "log", 1.0),
}
#: Size of one partition's panel and width of the shared legend right of the panels (inches).
PANEL_INCHES: tuple[float, float] = (6.0, 4.5)
LEGEND_INCHES = 2.75
PLOT_FILES: dict[XAxis, str] = {
    "traffic": "acc_vs_traffic.png",
    "flops": "acc_vs_flops.png",
    "round": "acc_vs_round.png",
}


def log_tick(value: float, _pos: int | None = None) -> str:
    """Label of a log-axis tick: `20`, `0.5`, `1000` for 1-2-5 values, none for the others."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if round(mantissa, 6) in (1.0, 2.0, 5.0) else ""


def seed_band(
    curves: Sequence[RunCurve], column: str
) -> tuple[list[float], list[float], list[float], list[float]]:
    """x (mean over seeds), accuracy mean, min and max, at the rounds every seed evaluated."""
    per_seed = [
        {int(r[ROUND]): r for r in c.history if r.get(TEST_ACC) is not None} for c in curves
    ]
    rounds = sorted(set.intersection(*(set(s) for s in per_seed))) if per_seed else []
    xs, mean, low, high = [], [], [], []
    for rnd in rounds:
        accs = [float(s[rnd][TEST_ACC]) for s in per_seed]
        xs.append(sum(float(s[rnd][column]) for s in per_seed) / len(per_seed))
        mean.append(sum(accs) / len(accs))
        low.append(min(accs))
        high.append(max(accs))
    return xs, mean, low, high


#: Line styles of the target accuracies, one per target, so the legend tells them apart.
TARGET_STYLES: tuple[str | tuple[int, tuple[int, ...]], ...] = (
    "--",
    ":",
    "-.",
    (0, (5, 1, 1, 1, 1, 1)),
)


def target_style(index: int) -> dict[str, Any]:
    """Matplotlib keywords of the `index`-th target line: a style (and shade) of its own."""
    shades = ("dimgrey", "black", "grey", "darkgrey")
    return {
        "linestyle": TARGET_STYLES[index % len(TARGET_STYLES)],
        "color": shades[index % len(shades)],
        "linewidth": 1.2,
    }


def accuracy_label(seeds: int) -> str:
    """The y-axis label: a mean and a band over seeds only when there are several."""
    if seeds > 1:
        return f"test accuracy (mean over {seeds} seeds; band: min-max)"
    return "test accuracy (one seed)"


def arm_colours(labels: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """A distinct colour per arm label, in order: tab10 for up to 10 arms, tab20 for up to 20,
    evenly spaced along `turbo` beyond (a colour used twice would merge two arms' lines)."""
    n = len(labels)
    if n <= 10:
        picks = [plt.get_cmap("tab10")(i) for i in range(n)]
    elif n <= 20:
        picks = [plt.get_cmap("tab20")(i) for i in range(n)]
    else:
        picks = [plt.get_cmap("turbo")(i / (n - 1)) for i in range(n)]
    return {label: tuple(colour) for label, colour in zip(labels, picks, strict=True)}


def plot_accuracy(
    curves: Sequence[RunCurve], x: XAxis, targets: Sequence[float], path: str | Path
) -> Path:
    """Write one PNG of test accuracy against `x`; returns its path."""
    column, label, scale, divisor = AXES[x]
    arms: dict[Arm, list[RunCurve]] = {}
    for curve in curves:
        arms.setdefault(curve.arm, []).append(curve)
    partitions = list(dict.fromkeys(a.partition for a in arms))
    labels = list(dict.fromkeys(a.label for a in arms))
    colours = arm_colours(labels)
    plots_width = PANEL_INCHES[0] * len(partitions)
    fig, axes = plt.subplots(
        1,
        len(partitions),
        figsize=(plots_width + LEGEND_INCHES, PANEL_INCHES[1]),
        squeeze=False,
        sharey=True,
    )
    for ax, partition in zip(axes[0], partitions, strict=True):
        for arm, group in arms.items():
            if arm.partition != partition:
                continue
            xs, mean, low, high = seed_band(group, column)
            xs = [v / divisor for v in xs]
            seeds = f" ({len(group)} seeds)" if len(group) > 1 else ""
            colour = colours[arm.label]
            ax.plot(
                xs,
                mean,
                color=colour,
                label=f"{arm.label}{seeds}",
                linewidth=1.6,
                marker="o",
                markersize=2.5,
            )
            if len(group) > 1:
                ax.fill_between(xs, low, high, color=colour, alpha=0.2, linewidth=0)
        for index, target in enumerate(targets):
            ax.axhline(target, label=f"target {target:.0%}", **target_style(index))
        ax.set_xscale(scale)
        if scale == "log":  # plain 1-2-5 numbers (20, 50, 100) rather than 2x10^1
            ax.xaxis.set_major_formatter(FuncFormatter(log_tick))
            ax.xaxis.set_minor_formatter(FuncFormatter(log_tick))
        ax.set_xlabel(label)
        ax.set_title(f"partition: {partition}")
        ax.grid(True, which="major", alpha=0.3)
    most_seeds = max((len(group) for group in arms.values()), default=1)
    axes[0][0].set_ylabel(accuracy_label(most_seeds))
    # One legend for all panels, right of them: a dozen arms inside a panel would cover curves.
    entries: dict[str, Any] = {}
    for ax in axes[0]:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(text, handle)
    split = plots_width / (plots_width + LEGEND_INCHES)
    fig.tight_layout(rect=(0.0, 0.0, split, 1.0))
    fig.legend(
        list(entries.values()),
        list(entries),
        loc="center left",
        bbox_to_anchor=(split, 0.5),
        fontsize="small",
        frameon=False,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    target_path = Path(path)
    atomic_write_bytes(target_path, buffer.getvalue())
    return target_path


def write_plots(
    curves: Sequence[RunCurve], targets: Sequence[float], directory: str | Path
) -> dict[str, Path]:
    """All three plots into `directory`; returns {x-axis: path}."""
    return {
        x: plot_accuracy(curves, x, targets, Path(directory) / name)
        for x, name in PLOT_FILES.items()
    }
