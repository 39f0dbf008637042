"""To a target accuracy: when a run first reaches it, what it cost, and the same over seeds.

Pure functions over the per-round history rows the engine writes (keys as in
`fl_lightning.tracking.metric_names`). A run that never reaches the target has no cost to it:
`None`, never an extrapolation. Over seeds, a mean exists only when every seed reached the target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fl_lightning.tracking.metric_names import (
    CUM_BYTES,
    CUM_CLIENT_SECONDS,
    CUM_FLOPS,
    ROUND,
    TEST_ACC,
    upgrade_row,
)

#: Methods without pruning: the "best dense" reference is chosen among these.
DENSE_REFERENCES: tuple[str, ...] = ("fedavg", "dae_dense")
#: The costs compared to a target: (row field, history column).
COSTS: tuple[tuple[str, str], ...] = (
    ("rounds_to_target", ROUND),
    ("bytes_to_target", CUM_BYTES),
    ("flops_to_target", CUM_FLOPS),
    ("seconds_to_target", CUM_CLIENT_SECONDS),
)
#: Ratio fields: (ratio name, cost field).
RATIOS: tuple[tuple[str, str], ...] = (
    ("bytes", "bytes_to_target"),
    ("flops", "flops_to_target"),
    ("seconds", "seconds_to_target"),
    ("total_bytes", "total_bytes_to_target"),
)
#: The totals to a target, pre-training included: (row field, cost field, pre-training field).
TOTALS: tuple[tuple[str, str, str], ...] = (
    ("total_rounds_to_target", "rounds_to_target", "rounds"),
    ("total_bytes_to_target", "bytes_to_target", "total_bytes"),
    ("total_flops_to_target", "flops_to_target", "client_flops"),
    ("total_seconds_to_target", "seconds_to_target", "client_seconds"),
)
#: The pre-training fields of a row (`pretraining_<field>`), each a mean over seeds.
PRETRAINING_FIELDS = (
    "rounds",
    "total_bytes",
    "client_flops",
    "client_seconds",
    "server_flops",
    "server_images",
)


@dataclass(frozen=True)
class Arm:
    """One line of the comparison: a method (at one sparsity, None if dense) on one partition,
    with one named codec setting (None: the federate config's payloads)."""

    partition: str
    method: str
    sparsity: float | None
    codec: str | None = None

    @property
    def label(self) -> str:
        """`proposed-s0.9`, `fedavg` or `fedavg+int8`: the run folder name and plot legend."""
        base = self.method if self.sparsity is None else f"{self.method}-s{self.sparsity:g}"
        return base if self.codec is None else f"{base}+{self.codec}"

    @property
    def name(self) -> str:
        """`fedavg` or `fedavg+int8`: the method with its codec setting (reports, curves.csv)."""
        return self.method if self.codec is None else f"{self.method}+{self.codec}"

    @staticmethod
    def split_name(name: str) -> tuple[str, str | None]:
        """`fedavg+int8` -> (`fedavg`, `int8`); `fedavg` -> (`fedavg`, None)."""
        method, plus, codec = name.partition("+")
        return method, (codec if plus else None)


@dataclass(frozen=True)
class RunCurve:
    """The per-round history of one run of an arm with one seed.

    Rows are kept under today's metric names: rows written before the per-round / running-total
    renaming (`comm/total_bytes`, ...) are converted on construction (`upgrade_row`).
    `down_bits_per_param` / `up_bits_per_param`: the run's mean bits per parameter of the
    dense model in one payload of each direction (its summary.json; None when unknown).
    """

    arm: Arm
    seed: int
    history: list[dict[str, Any]]
    down_bits_per_param: float | None = None
    up_bits_per_param: float | None = None
    #: the cost of the run's DAE pre-training (`experiments.pretraining_cost`); None: no DAE
    pretraining: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "history", [upgrade_row(row) for row in self.history])


@dataclass(frozen=True)
class TargetPoint:
    """Where a run first reached the target, and the cumulative costs at that round."""

    round: int
    total_bytes: float
    flops: float
    client_seconds: float

    def cost(self, field: str) -> float:
        """The value of a `COSTS` field (`bytes_to_target`, ...) at this point."""
        return {
            "rounds_to_target": float(self.round),
            "bytes_to_target": self.total_bytes,
            "flops_to_target": self.flops,
            "seconds_to_target": self.client_seconds,
        }[field]


def first_reach(history: Iterable[Mapping[str, Any]], target: float) -> TargetPoint | None:
    """The first evaluated round with `test/acc >= target`, or None if no round reaches it."""
    for row in map(upgrade_row, history):  # rows of old files too
        acc = row.get(TEST_ACC)
        if acc is not None and acc >= target:
            return TargetPoint(
                round=int(row[ROUND]),
                total_bytes=float(row[CUM_BYTES]),
                flops=float(row[CUM_FLOPS]),
                client_seconds=float(row[CUM_CLIENT_SECONDS]),
            )
    return None


def final_acc(history: Iterable[Mapping[str, Any]]) -> float | None:
    """The test accuracy of the last evaluated round (None if nothing was evaluated)."""
    accs = [row[TEST_ACC] for row in history if row.get(TEST_ACC) is not None]
    return float(accs[-1]) if accs else None


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1; 0.0 for one value) over seeds.

    `(None, None)` when there are no values or any is None: a cost is reported only when
    every seed reached the target.
    """
    if not values or any(v is None for v in values):
        return None, None
    xs = [float(v) for v in values if v is not None]
    mean = sum(xs) / len(xs)
    if len(xs) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def ratio(value: float | None, reference: float | None) -> float | None:
    """`value / reference`, or None when either is missing or the reference is zero."""
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def arm_row(arm: Arm, curves: Sequence[RunCurve], target: float) -> dict[str, Any]:
    """One row of the summary: an arm's costs to `target` and final accuracy over its seeds."""
    points = [first_reach(c.history, target) for c in curves]
    row: dict[str, Any] = {
        "method": arm.method,
        "codec": arm.codec,
        "sparsity": arm.sparsity,
        "partition": arm.partition,
        "target_acc": target,
        "seeds": [c.seed for c in curves],
        "seeds_reached": sum(p is not None for p in points),
    }
    for field, _column in COSTS:
        values = [p.cost(field) if p is not None else None for p in points]
        row[field], row[f"{field}_std"] = mean_std(values)
        row[f"{field}_by_seed"] = values
    row["final_test_acc"], row["final_test_acc_std"] = mean_std(
        [final_acc(c.history) for c in curves]
    )
    add_pretraining(row, curves)
    row["down_bits_per_param"] = mean_std([c.down_bits_per_param for c in curves])[0]
    row["up_bits_per_param"] = mean_std([c.up_bits_per_param for c in curves])[0]
    return row


def add_pretraining(row: dict[str, Any], curves: Sequence[RunCurve]) -> None:
    """The row's pre-training cost (`pretraining_source`, `pretraining_<field>`: means over
    seeds; 0 without a DAE) and its totals to the target, pre-training included
    (`total_<cost>_to_target`, per seed then mean and std: not reached stays None)."""
    costs = [c.pretraining or {} for c in curves]
    sources = {cost.get("source") for cost in costs}
    row["pretraining_source"] = sources.pop() if len(sources) == 1 else None
    for name in PRETRAINING_FIELDS:
        row[f"pretraining_{name}"] = mean_std([float(c.get(name, 0.0)) for c in costs])[0]
    for field, cost_field, pre_field in TOTALS:
        values = [
            None if v is None else v + float(cost.get(pre_field, 0.0))
            for v, cost in zip(row[f"{cost_field}_by_seed"], costs, strict=True)
        ]
        row[field], row[f"{field}_std"] = mean_std(values)
        row[f"{field}_by_seed"] = values


def best_dense(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Among the uncompressed rows of methods without pruning, the one with the fewest bytes
    to target.

    Rows that did not reach the target (every seed) and rows of a codec setting are not
    candidates; ties keep the order of `DENSE_REFERENCES`. None when no dense method reached
    the target.
    """
    candidates = [
        r
        for r in rows
        if r["method"] in DENSE_REFERENCES
        and r.get("codec") is None
        and r["bytes_to_target"] is not None
    ]
    candidates.sort(key=lambda r: (r["bytes_to_target"], DENSE_REFERENCES.index(r["method"])))
    return candidates[0] if candidates else None


def paired_ratios(
    row: Mapping[str, Any], reference: Mapping[str, Any], field: str
) -> list[float | None]:
    """Seed by seed, `row`'s cost over `reference`'s cost for the same seed (same data split,
    same pre-training), over the seeds both rows ran; empty when they share none.

    Uses the `<field>_by_seed` lists of `arm_row`, aligned with `seeds`.
    """
    by_seed = dict(zip(reference["seeds"], reference[f"{field}_by_seed"], strict=True))
    pairs = zip(row["seeds"], row[f"{field}_by_seed"], strict=True)
    return [ratio(value, by_seed[seed]) for seed, value in pairs if seed in by_seed]


def seed_ratio(
    row: Mapping[str, Any], reference: Mapping[str, Any] | None, field: str
) -> tuple[float | None, float | None]:
    """Mean and sample std over seeds of the paired ratios of `field` (`paired_ratios`).

    `(None, None)` unless both rows reached the target on every seed they ran (their means
    exist) and they share a seed: a ratio never rests on a reference that is "not reached".
    """
    if reference is None or row[field] is None or reference[field] is None:
        return None, None
    return mean_std(paired_ratios(row, reference, field))


def add_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add `ratio_<cost>_vs_fedavg` and `ratio_<cost>_vs_best_dense` (each with `_std`) to rows
    of one partition and one target, and `best_dense`, the reference's method.

    A ratio is paired by seed: each seed's cost over the reference's cost for the same seed,
    then mean ± std over the seeds both ran (`seed_ratio`); with one seed it is that seed's
    ratio. References are uncompressed (codec None): fedavg+int8 is compared to plain fedavg.
    """
    fedavg = next((r for r in rows if r["method"] == "fedavg" and r.get("codec") is None), None)
    best = best_dense(rows)
    for row in rows:
        row["best_dense"] = best["method"] if best is not None else None
        for name, field in RATIOS:
            if field not in row:  # a row made without the totals (`arm_row` adds them)
                continue
            for ref_name, reference in (("fedavg", fedavg), ("best_dense", best)):
                key = f"ratio_{name}_vs_{ref_name}"
                row[key], row[f"{key}_std"] = seed_ratio(row, reference, field)
    return rows


def summary_rows(curves: Sequence[RunCurve], targets: Sequence[float]) -> list[dict[str, Any]]:
    """Rows for every target x partition x arm (in the order the arms first appear)."""
    arms: dict[Arm, list[RunCurve]] = {}
    for curve in curves:
        arms.setdefault(curve.arm, []).append(curve)
    partitions = list(dict.fromkeys(arm.partition for arm in arms))
    rows: list[dict[str, Any]] = []
    for target in targets:
        for partition in partitions:
            group = [arm_row(a, cs, target) for a, cs in arms.items() if a.partition == partition]
            rows += add_ratios(group)
    return rows
