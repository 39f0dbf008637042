"""The order of the comparison's rows in summary.md and the plots' legend: as planned (`none`),
or cheapest first by a cost to the target (`compare --report.rank_by`).

    total_bytes   traffic to the target, the DAE pre-training's included (`total_bytes_to_target`)
    total_flops   client FLOPs to the target, the pre-training's included
    bytes         the federation's own traffic to the target (`bytes_to_target`)

Rows are ranked within their partition (partitions keep their order); a row that does not
reach the target (on every seed) has no cost and comes after every row that does, in its
planned order, as do equal costs. The equal-traffic table and the plots have no target of their
own: their arms take the order of the first target's table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from fl_lightning.experiments.to_target import RunCurve

RankBy = Literal["none", "total_bytes", "total_flops", "bytes"]

#: the row field each ranking sorts by (none: the planned order)
RANK_FIELDS: dict[str, str] = {
    "total_bytes": "total_bytes_to_target",
    "total_flops": "total_flops_to_target",
    "bytes": "bytes_to_target",
}
#: how summary.md names each ranking
RANK_WORDS: dict[str, str] = {
    "total_bytes": "total traffic to the target, pre-training included",
    "total_flops": "total client FLOPs to the target, pre-training included",
    "bytes": "the federation's traffic to the target (pre-training not included)",
}

Row = TypeVar("Row", bound=Mapping[str, Any])
ArmKey = tuple[str, str, str | None, float | None]


def arm_key(row: Mapping[str, Any]) -> ArmKey:
    """A row's arm: partition, method, codec setting, sparsity."""
    return (row["partition"], row["method"], row.get("codec"), row["sparsity"])


def rank_rows(rows: Sequence[Row], rank_by: RankBy) -> list[Row]:
    """The to-target rows of one target in `rank_by`'s order (see the module)."""
    if rank_by == "none":
        return list(rows)
    field = RANK_FIELDS[rank_by]
    partitions = list(dict.fromkeys(r["partition"] for r in rows))

    def key(row: Row) -> tuple[int, bool, float]:
        cost = row.get(field)
        return (partitions.index(row["partition"]), cost is None, cost or 0.0)

    return sorted(rows, key=key)  # stable: ties and misses keep the planned order


def arm_order(rows: Sequence[Mapping[str, Any]], rank_by: RankBy) -> dict[ArmKey, int]:
    """Each arm's place when the to-target `rows` (the first target's) are ranked."""
    return {arm_key(r): i for i, r in enumerate(rank_rows(rows, rank_by))}


def rank_budget_rows(
    budget: Sequence[Row], rows: Sequence[Mapping[str, Any]], rank_by: RankBy
) -> list[Row]:
    """The equal-traffic rows with their arms in the order of the to-target `rows` (those of
    the first target) ranked by `rank_by`; an arm without a to-target row comes last."""
    if rank_by == "none":
        return list(budget)
    order = arm_order(rows, rank_by)
    return sorted(budget, key=lambda r: order.get(arm_key(r), len(order)))


def rank_curves(
    curves: Sequence[RunCurve], rows: Sequence[Mapping[str, Any]], rank_by: RankBy
) -> list[RunCurve]:
    """The runs in the order of their arms' ranked rows (the first target's `rows`), so the
    plots' legend lists the cheapest first (partitions keep their order)."""
    if rank_by == "none":
        return list(curves)
    order = arm_order(rows, rank_by)

    def key(curve: RunCurve) -> int:
        arm = curve.arm
        return order.get((arm.partition, arm.method, arm.codec, arm.sparsity), len(order))

    return sorted(curves, key=key)


def ranking_note(rank_by: RankBy, first_target: float) -> list[str]:
    """summary.md's sentence on the order of the rows (nothing for the planned order)."""
    if rank_by == "none":
        return []
    return [
        "",
        f"Rows are ranked within each partition by {RANK_WORDS[rank_by]}, cheapest first "
        "(`report.rank_by: " + rank_by + "`); rows that do not reach the target come last. "
        f"The equal-traffic tables and the plots' legend follow the {first_target:.0%} "
        "table's order.",
    ]
