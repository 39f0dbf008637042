"""Equal traffic: each arm's test accuracy at the traffic fedavg spends in N rounds.

The to-target tables ask "what does it cost to reach X %?"; this view asks the reverse: "with
the same bandwidth, who ends up more accurate?". For a partition, the budget of N rounds is
uncompressed fedavg's cumulative traffic (down + up) after round N, the mean over its seeds. A
run's accuracy within a budget is that of its last evaluated round whose cumulative traffic is
at most the budget. A run that stops before spending the budget (a sparse method whose 50
rounds cost a fraction of fedavg's 10) is reported at its last evaluated round and flagged
(`seeds_spent` < seeds): it would need more rounds to use that bandwidth, and its accuracy is
what it reached on less traffic.

Pure functions over the per-round history rows the engine writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fl_lightning.experiments.to_target import Arm, RunCurve, mean_std
from fl_lightning.tracking.metric_names import CUM_BYTES, ROUND, TEST_ACC, upgrade_row

#: fedavg's rounds whose traffic makes the budgets of the equal-traffic table.
DEFAULT_BUDGET_ROUNDS: tuple[int, ...] = (10, 25, 50)


@dataclass(frozen=True)
class BudgetPoint:
    """A run's last evaluated round within a traffic budget.

    `round` / `test_acc` are None when no evaluated round fits in the budget; `spent` says the
    run went on past the budget (a later round's traffic exceeds it, or one equals it).
    """

    round: int | None
    test_acc: float | None
    spent: bool


def within_budget(history: Iterable[Mapping[str, Any]], budget: float) -> BudgetPoint:
    """The last evaluated round of `history` whose cumulative traffic is <= `budget`."""
    point: tuple[int, float] | None = None
    spent = False
    for row in map(upgrade_row, history):
        if row[CUM_BYTES] > budget:
            spent = True
            break
        spent = row[CUM_BYTES] == budget
        if row.get(TEST_ACC) is not None:
            point = (int(row[ROUND]), float(row[TEST_ACC]))
    if point is None:
        return BudgetPoint(None, None, spent)
    return BudgetPoint(point[0], point[1], spent)


def budget_of(curves: Sequence[RunCurve], rounds: int) -> float | None:
    """The mean cumulative traffic of `curves` after round `rounds` (None if a run stopped
    before it)."""
    spent = []
    for curve in curves:
        row = next((r for r in curve.history if r[ROUND] == rounds), None)
        if row is None:
            return None
        spent.append(float(row[CUM_BYTES]))
    return sum(spent) / len(spent) if spent else None


def budget_rows(
    curves: Sequence[RunCurve], budget_rounds: Sequence[int] = DEFAULT_BUDGET_ROUNDS
) -> list[dict[str, Any]]:
    """Rows for every partition x budget x arm (arms in the order they first appear).

    A partition without an uncompressed fedavg arm has no budget, hence no rows; a budget of
    more rounds than fedavg ran is left out.
    """
    arms: dict[Arm, list[RunCurve]] = {}
    for curve in curves:
        arms.setdefault(curve.arm, []).append(curve)
    rows: list[dict[str, Any]] = []
    for partition in dict.fromkeys(arm.partition for arm in arms):
        reference = next(
            (cs for a, cs in arms.items() if a.partition == partition and a.name == "fedavg"),
            None,
        )
        if reference is None:
            continue
        for rounds in budget_rounds:
            budget = budget_of(reference, rounds)
            if budget is None:
                continue
            for arm, runs in arms.items():
                if arm.partition == partition:
                    rows.append(_row(arm, runs, rounds, budget))
    return rows


def _row(arm: Arm, runs: Sequence[RunCurve], rounds: int, budget: float) -> dict[str, Any]:
    points = [within_budget(c.history, budget) for c in runs]
    acc, acc_std = mean_std([p.test_acc for p in points])
    at_round, _ = mean_std([None if p.round is None else float(p.round) for p in points])
    return {
        "partition": arm.partition,
        "method": arm.method,
        "codec": arm.codec,
        "sparsity": arm.sparsity,
        "budget_rounds": rounds,
        "budget_bytes": budget,
        "seeds": [c.seed for c in runs],
        "seeds_spent": sum(p.spent for p in points),
        "test_acc": acc,
        "test_acc_std": acc_std,
        "round": at_round,
    }
