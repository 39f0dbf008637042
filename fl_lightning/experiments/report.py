"""The comparison's files: summary.md (the paper's table), summary.json and curves.csv.

summary.json  {"target_acc": ..., "rows": [...], "equal_budget": [...], ...}: one row per
              target x partition x method x codec setting x sparsity (fields in
              `fl_lightning.experiments.to_target.arm_row`), and one per partition x budget x
              arm of the equal-traffic view (`fl_lightning.experiments.equal_budget`)
summary.md    one table per target: final accuracy and rounds / MB / GFLOPs / client seconds
              to the target (mean ± std over seeds, or one seed's values, "not reached"
              unless every seed got there), the ratios of traffic and FLOPs against
              (uncompressed) fedavg and the best dense (paired by seed, mean ± std), and
              the bits per parameter of one download and one upload; then the
              equal-traffic tables: each arm's accuracy at the traffic fedavg spends in
              10 / 25 / 50 rounds
curves.csv    every run's every round: partition, method (`fedavg+int8` with a codec
              setting), sparsity, seed, then the metrics
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fl_lightning.atomic import atomic_write_bytes, atomic_write_json
from fl_lightning.experiments.ranking import rank_budget_rows, rank_rows, ranking_note
from fl_lightning.experiments.report_options import ReportOptions
from fl_lightning.experiments.server_data import COLUMN as SERVER_DATA
from fl_lightning.experiments.server_data import server_data
from fl_lightning.experiments.to_target import Arm, RunCurve
from fl_lightning.tracking.metric_names import ROUND_METRICS

NOT_REACHED = "not reached"


def fmt_mean_std(mean: float | None, std: float | None, scale: float = 1.0, digits: int = 1) -> str:
    """`12.3 ± 0.4` (values divided by `scale`), `12.3` without a spread."""
    if mean is None:
        return NOT_REACHED
    exact = mean == int(mean) and not std
    text = f"{mean / scale:.0f}" if exact and scale == 1.0 else f"{mean / scale:.{digits}f}"
    if std:
        text += f" ± {std / scale:.{digits}f}"
    return text


def fmt_ratio(value: float | None, std: float | None = None) -> str:
    """`0.18x`, `0.094x` (three decimals below 0.1), `0.18 ± 0.02x` over seeds, or `-` when
    there is nothing to compare."""
    if value is None:
        return "-"
    digits = 2 if abs(value) >= 0.1 else 3
    spread = f" ± {std:.{digits}f}" if std else ""
    return f"{value:.{digits}f}{spread}x"


def _cost(row: Mapping[str, Any], field: str, scale: float, digits: int) -> str:
    text = fmt_mean_std(row[field], row[f"{field}_std"], scale, digits)
    if row[field] is None and row["seeds_reached"] > 0:
        text += f" ({row['seeds_reached']}/{len(row['seeds'])} seeds)"
    return text


def _accuracy(mean: float | None, std: float | None) -> str:
    return "-" if mean is None else fmt_mean_std(mean, std, 0.01, 1) + " %"


def _bits(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


COLUMNS = (
    "partition",
    "method",
    "sparsity",
    "seeds",
    "final acc",
    "rounds",
    "MB",
    "GFLOPs",
    "client s",
    "MB vs fedavg",
    "FLOPs vs fedavg",
    "MB vs best dense",
    "FLOPs vs best dense",
    "bits/param down",
    "bits/param up",
)


def markdown_row(row: Mapping[str, Any]) -> list[str]:
    """The cells of one summary row, as printed in summary.md."""
    return [
        row["partition"],
        row["method"] if not row.get("codec") else f"{row['method']}+{row['codec']}",
        "-" if row["sparsity"] is None else f"{row['sparsity']:g}",
        str(len(row["seeds"])),
        _accuracy(row["final_test_acc"], row["final_test_acc_std"]),
        _cost(row, "rounds_to_target", 1.0, 1),
        _cost(row, "bytes_to_target", 1e6, 1),
        _cost(row, "flops_to_target", 1e9, 1),
        _cost(row, "seconds_to_target", 1.0, 0),
        fmt_ratio(row["ratio_bytes_vs_fedavg"], row.get("ratio_bytes_vs_fedavg_std")),
        fmt_ratio(row["ratio_flops_vs_fedavg"], row.get("ratio_flops_vs_fedavg_std")),
        fmt_ratio(row["ratio_bytes_vs_best_dense"], row.get("ratio_bytes_vs_best_dense_std")),
        fmt_ratio(row["ratio_flops_vs_best_dense"], row.get("ratio_flops_vs_best_dense_std")),
        _bits(row.get("down_bits_per_param")),
        _bits(row.get("up_bits_per_param")),
    ]


def summary_markdown(
    rows: Sequence[Mapping[str, Any]],
    targets: Sequence[float],
    meta: Mapping[str, Any],
    budget: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The whole summary.md: a header naming the setup, one table per target, then the
    equal-traffic tables (`budget`: rows of `equal_budget.budget_rows`), laid out as
    `meta["report"]` asks (`ReportOptions`: the rows' order, a `server data` column)."""
    options = ReportOptions.of_meta(meta)
    lines = [f"# {meta.get('title', 'Comparison')}", ""]
    seeds = sorted({s for row in rows for s in row["seeds"]})
    if len(seeds) > 1:
        lines.append(
            f"Seeds: {', '.join(map(str, seeds))}. Values are mean ± std over each row's seeds "
            "(column `seeds`)."
        )
    else:
        lines.append(
            f"Seed: {', '.join(map(str, seeds))} (one seed: values of that run, no spread)."
        )
    if meta.get("command"):
        lines.append(f"Command: `{meta['command']}`.")
    if meta.get("code"):
        lines.append(f"Code: {describe_code(meta['code'])}.")
    lines += _pending_lines(meta.get("pending") or [])
    pairing = (
        "Ratios are paired by seed: each seed's cost over the reference's cost for the same "
        "seed (same data split and pre-training), mean ± std over the seeds both rows ran."
        if len(seeds) > 1
        else "Ratios: the run's cost over the reference's."
    )
    lines += [
        "",
        "To the target: the first evaluated round whose test accuracy reaches it, and the "
        "cumulative traffic (down + up, real payload bytes, 1 MB = 10^6 B), client training "
        "FLOPs and client seconds at that round; *not reached* unless every seed reached it "
        f"(never extrapolated). {pairing} *Best dense* is whichever of "
        "`fedavg` and `dae_dense` needed the least traffic; both references are uncompressed "
        "(`fedavg+int8` is compared to plain `fedavg`). Bits per parameter: mean bits of one "
        "download and one upload per parameter of the dense model.",
    ]
    lines += ranking_note(options.rank_by, targets[0])
    columns = list(COLUMNS)
    if options.server_data:  # what each row's method needs on the server, after `sparsity`
        columns.insert(3, SERVER_DATA)
    texts = len(columns) - len(COLUMNS) + 3
    for target in targets:
        group = rank_rows([r for r in rows if r["target_acc"] == target], options.rank_by)
        lines += ["", f"## Target test accuracy {target:.2%}", ""]
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join(["---"] * texts + ["---:"] * (len(columns) - texts)) + "|")
        for r in group:
            cells = markdown_row(r)
            if options.server_data:
                cells.insert(3, server_data(r))
            lines.append("| " + " | ".join(cells) + " |")
        refs = {r["partition"]: r["best_dense"] for r in group}
        named = [f"{p}: `{m}`" for p, m in refs.items() if m]
        if named:
            lines += ["", "Best dense method: " + ", ".join(named) + "."]
        lines += total_cost_markdown(group)
    first = [r for r in rows if r["target_acc"] == targets[0]]
    lines += budget_markdown(rank_budget_rows(budget, first, options.rank_by))
    return "\n".join(lines) + "\n"


TOTAL_COLUMNS = (
    "partition",
    "method",
    "sparsity",
    "pre-training",
    "pre rounds",
    "pre MB",
    "pre client GFLOPs",
    "pre client s",
    "pre server GFLOPs",
    "total rounds",
    "total MB",
    "total client GFLOPs",
    "total client s",
    "total MB vs fedavg",
)


def total_cost_markdown(group: Sequence[Mapping[str, Any]]) -> list[str]:
    """The total-cost table of one target's rows: each row's pre-training cost (a server
    pre-training: 0 traffic and client cost, its server FLOPs stated; a federated one: its
    rounds, traffic, client FLOPs and seconds) and the totals to the target including it.
    Nothing when no row has a pre-training."""
    if not any(r.get("pretraining_source") for r in group):
        return []
    lines = [
        "",
        "Total cost to the target, pre-training included (pre = the DAE pre-training: *server* "
        "sends nothing and costs the clients nothing, its server FLOPs stated; *clients* is "
        "FedAvg on the clients' own images, `pretrain --federated`). Totals add the "
        "pre-training's rounds, traffic, client FLOPs and client seconds to the federation's.",
        "",
        "| " + " | ".join(TOTAL_COLUMNS) + " |",
        "|" + "|".join(["---"] * 4 + ["---:"] * (len(TOTAL_COLUMNS) - 4)) + "|",
    ]
    for r in group:
        cells = [
            r["partition"],
            r["method"] if not r.get("codec") else f"{r['method']}+{r['codec']}",
            "-" if r["sparsity"] is None else f"{r['sparsity']:g}",
            r.get("pretraining_source") or "none",
            fmt_mean_std(r.get("pretraining_rounds"), None, 1.0, 0),
            fmt_mean_std(r.get("pretraining_total_bytes"), None, 1e6, 1),
            fmt_mean_std(r.get("pretraining_client_flops"), None, 1e9, 1),
            fmt_mean_std(r.get("pretraining_client_seconds"), None, 1.0, 0),
            fmt_mean_std(r.get("pretraining_server_flops"), None, 1e9, 1),
            _cost(r, "total_rounds_to_target", 1.0, 1),
            _cost(r, "total_bytes_to_target", 1e6, 1),
            _cost(r, "total_flops_to_target", 1e9, 1),
            _cost(r, "total_seconds_to_target", 1.0, 0),
            fmt_ratio(
                r.get("ratio_total_bytes_vs_fedavg"), r.get("ratio_total_bytes_vs_fedavg_std")
            ),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def describe_code(code: Mapping[str, Any]) -> str:
    """`fl_lightning 0.4.0, commit 0123456789ab (uncommitted changes)`: `version.code_version`
    in words."""
    text = f"fl_lightning {code.get('fl_lightning_version')}"
    if code.get("git_commit"):
        text += f", commit {str(code['git_commit'])[:12]}"
        text += " (with uncommitted changes)" if code.get("git_dirty") else ""
    return text


def _pending_lines(pending: Sequence[str]) -> list[str]:
    """The partial report's warning: which runs of the grid are in no figure yet."""
    if not pending:
        return []
    runs = "run" if len(pending) == 1 else "runs"
    return [
        "",
        f"**Partial report**: {len(pending)} {runs} of the grid had not finished and are in no "
        "figure below (rows and seeds missing; a row's `seeds` says which it averages):",
        "",
        *(f"- {run}" for run in pending),
    ]


def budget_markdown(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The equal-traffic section of summary.md: per partition, each arm's test accuracy at the
    traffic fedavg spends in N rounds (`equal_budget.budget_rows`); nothing without rows."""
    if not rows:
        return []
    lines = [
        "",
        "## Equal traffic: test accuracy at fedavg's traffic after N rounds",
        "",
        "Each cell: the test accuracy of the last evaluated round whose cumulative traffic "
        "(down + up) is within the budget, mean ± std over seeds, and that round (r). † the run "
        "ended before spending the budget (all its rounds cost less): its accuracy after its "
        "last round, on less traffic; it would need more rounds to use the bandwidth.",
    ]
    for partition in dict.fromkeys(r["partition"] for r in rows):
        group = [r for r in rows if r["partition"] == partition]
        budgets = list(dict.fromkeys((r["budget_rounds"], r["budget_bytes"]) for r in group))
        header = [f"{n} rounds ({b / 1e6:,.0f} MB)" for n, b in budgets]
        lines += ["", f"### {partition}", ""]
        lines.append("| method | sparsity | seeds | " + " | ".join(header) + " |")
        lines.append("|---|---|---:|" + "---:|" * len(header))
        arms = dict.fromkeys((r["method"], r.get("codec"), r["sparsity"]) for r in group)
        for method, codec, sparsity in arms:
            cells = []
            for n, _ in budgets:
                row = next(
                    r
                    for r in group
                    if (r["method"], r.get("codec"), r["sparsity"], r["budget_rounds"])
                    == (method, codec, sparsity, n)
                )
                cells.append(_budget_cell(row))
            first = next(r for r in group if (r["method"], r.get("codec")) == (method, codec))
            name = method if not codec else f"{method}+{codec}"
            spars = "-" if sparsity is None else f"{sparsity:g}"
            seeds = str(len(first["seeds"]))
            lines.append(f"| {name} | {spars} | {seeds} | " + " | ".join(cells) + " |")
    return lines


def _budget_cell(row: Mapping[str, Any]) -> str:
    if row["test_acc"] is None:
        return "-"
    text = f"{_accuracy(row['test_acc'], row['test_acc_std'])} (r {row['round']:.0f})"
    if row["seeds_spent"] < len(row["seeds"]):
        text += " †"
    return text


def curves_csv(curves: Sequence[RunCurve]) -> str:
    """Every run's every round as CSV text (empty cells for missing values)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["partition", "method", "sparsity", "seed", *ROUND_METRICS])
    for curve in curves:
        sparsity = "" if curve.arm.sparsity is None else curve.arm.sparsity
        for row in curve.history:
            values = ["" if row.get(k) is None else row[k] for k in ROUND_METRICS]
            writer.writerow([curve.arm.partition, curve.arm.name, sparsity, curve.seed, *values])
    return buffer.getvalue()


def read_curves_csv(path: str | Path) -> list[RunCurve]:
    """The runs of a curves.csv (this version's or one written before the metric renaming).

    Cells become numbers (empty: None); rows of one partition x method x sparsity x seed form
    one `RunCurve`, whose rows carry today's metric names (`RunCurve` upgrades old ones). A
    method cell `fedavg+int8` is method `fedavg` with codec setting `int8`.
    """
    runs: dict[tuple[str, str, float | None, int], list[dict[str, Any]]] = {}
    with Path(path).open(newline="") as f:
        for raw in csv.DictReader(f):
            sparsity = float(raw["sparsity"]) if raw["sparsity"] else None
            key = (raw["partition"], raw["method"], sparsity, int(raw["seed"]))
            skip = ("partition", "method", "sparsity", "seed")
            row = {k: _number(v) for k, v in raw.items() if k not in skip}
            runs.setdefault(key, []).append(row)
    curves = []
    for (partition, name, sparsity, seed), rows in runs.items():
        method, codec = Arm.split_name(name)
        curves.append(RunCurve(Arm(partition, method, sparsity, codec), seed, rows))
    return curves


def _number(cell: str) -> int | float | None:
    if cell == "":
        return None
    try:
        return int(cell)
    except ValueError:
        return float(cell)


def write_reports(
    directory: str | Path,
    rows: Sequence[Mapping[str, Any]],
    curves: Sequence[RunCurve],
    targets: Sequence[float],
    meta: Mapping[str, Any],
    budget: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Path]:
    """Write summary.md, summary.json and curves.csv into `directory` (atomically).

    `meta` goes into summary.json beside `target_acc`, `rows` and `equal_budget` (the
    equal-traffic rows `budget`) (e.g. seeds, config); its `title` and `command` also head
    summary.md.
    """
    out = Path(directory)
    paths = {name: out / name for name in ("summary.md", "summary.json", "curves.csv")}
    target_acc: float | list[float] = targets[0] if len(targets) == 1 else list(targets)
    summary = {"target_acc": target_acc, "rows": list(rows), "equal_budget": list(budget), **meta}
    atomic_write_json(paths["summary.json"], summary)
    markdown = summary_markdown(rows, targets, meta, budget)
    atomic_write_bytes(paths["summary.md"], markdown.encode())
    atomic_write_bytes(paths["curves.csv"], curves_csv(curves).encode())
    return paths
