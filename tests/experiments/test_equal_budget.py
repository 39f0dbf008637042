"""Equal-traffic maths on hand-made curves: the budget, the last round within it, spent or not,
over seeds; and its section of summary.md."""

from __future__ import annotations

import math

import pytest

from fl_lightning.experiments.equal_budget import (
    BudgetPoint,
    budget_of,
    budget_rows,
    within_budget,
)
from fl_lightning.experiments.report import budget_markdown
from fl_lightning.experiments.to_target import Arm, RunCurve
from tests.experiments.test_to_target import curve


def test_the_last_evaluated_round_within_the_budget_counts() -> None:
    # cumulative bytes 100, 200, 300, 400, 500; round 3 not evaluated
    history = curve([0.5, 0.6, None, 0.8, 0.9])
    assert within_budget(history, 350.0) == BudgetPoint(2, 0.6, True)  # 300 fits, unevaluated
    assert within_budget(history, 400.0) == BudgetPoint(4, 0.8, True)  # equal to it counts
    assert within_budget(history, 99.0) == BudgetPoint(None, None, True)  # nothing fits


def test_a_run_that_ends_under_the_budget_is_not_spent() -> None:
    history = curve([0.5, 0.7])  # 200 bytes in all
    assert within_budget(history, 1000.0) == BudgetPoint(2, 0.7, False)
    assert within_budget(history, 200.0) == BudgetPoint(2, 0.7, True)  # it spent it exactly


def test_the_budget_is_fedavgs_mean_traffic_after_n_rounds() -> None:
    a = RunCurve(Arm("iid", "fedavg", None), 0, curve([0.1] * 4, bytes_per_round=100.0))
    b = RunCurve(Arm("iid", "fedavg", None), 1, curve([0.1] * 4, bytes_per_round=110.0))
    assert budget_of([a, b], 2) == pytest.approx((200.0 + 220.0) / 2)
    assert budget_of([a, b], 5) is None  # fedavg never ran 5 rounds


def test_rows_compare_every_arm_at_fedavgs_traffic_over_seeds() -> None:
    fedavg = [
        RunCurve(Arm("iid", "fedavg", None), s, curve([0.5, 0.6, 0.7, 0.8], 100.0)) for s in (0, 1)
    ]
    # a sparse arm: 10 bytes a round, 30 rounds (300 bytes in all); two seeds
    sparse_accs = {0: [0.6 + 0.01 * r for r in range(30)], 1: [0.62 + 0.01 * r for r in range(30)]}
    sparse = [RunCurve(Arm("iid", "proposed", 0.9), s, curve(sparse_accs[s], 10.0)) for s in (0, 1)]
    rows = budget_rows([*fedavg, *sparse], budget_rounds=(1, 2, 4))
    assert [(r["method"], r["budget_rounds"]) for r in rows] == [
        ("fedavg", 1),
        ("proposed", 1),
        ("fedavg", 2),
        ("proposed", 2),
        ("fedavg", 4),
        ("proposed", 4),
    ]
    by = {(r["method"], r["budget_rounds"]): r for r in rows}
    assert by["fedavg", 2]["budget_bytes"] == 200.0
    assert by["fedavg", 2]["test_acc"] == pytest.approx(0.6)
    assert by["fedavg", 2]["test_acc_std"] == 0.0
    # 100 bytes = the sparse arm's round 10: accuracies 0.69 and 0.71
    p1 = by["proposed", 1]
    assert p1["round"] == 10.0 and p1["seeds_spent"] == 2
    assert p1["test_acc"] == pytest.approx(0.70)
    assert p1["test_acc_std"] == pytest.approx(math.sqrt(2 * 0.01**2 / 1))
    # 400 bytes is more than its 30 rounds spent: reported at round 30, not spent
    p4 = by["proposed", 4]
    assert (p4["round"], p4["seeds_spent"]) == (30.0, 0)
    assert p4["test_acc"] == pytest.approx((0.89 + 0.91) / 2)


def test_no_fedavg_means_no_budget_and_a_short_fedavg_drops_the_longer_budgets() -> None:
    only_sparse = [RunCurve(Arm("iid", "proposed", 0.9), 0, curve([0.5] * 3))]
    assert budget_rows(only_sparse) == []
    fedavg = [RunCurve(Arm("iid", "fedavg", None), 0, curve([0.5] * 12))]
    assert {r["budget_rounds"] for r in budget_rows(fedavg)} == {10}  # 25 and 50 not run
    # a compressed fedavg is not the reference
    int8 = [RunCurve(Arm("iid", "fedavg", None, "int8"), 0, curve([0.5] * 12))]
    assert budget_rows(int8) == []


def test_the_markdown_section_shows_accuracy_round_and_the_unspent_mark() -> None:
    fedavg = [RunCurve(Arm("iid", "fedavg", None), 0, curve([0.5, 0.6, 0.7, 0.8], 1e8))]
    sparse = [RunCurve(Arm("iid", "proposed", 0.9, "int8"), 0, curve([0.61, 0.62, 0.63], 1e7))]
    text = "\n".join(budget_markdown(budget_rows([*fedavg, *sparse], (1, 4))))
    assert "| method | sparsity | seeds | 1 rounds (100 MB) | 4 rounds (400 MB) |" in text
    assert "| fedavg | - | 1 | 50.0 % (r 1) | 80.0 % (r 4) |" in text
    # 100 MB is more than its 3 rounds (30 MB) spent: † on both budgets
    assert "| proposed+int8 | 0.9 | 1 | 63.0 % (r 3) † | 63.0 % (r 3) † |" in text
    assert budget_markdown([]) == []


def test_each_partition_has_its_own_budget_and_only_its_own_arms() -> None:
    # iid fedavg spends 100 bytes a round, dirichlet fedavg 300: two budgets per round count
    runs = [
        RunCurve(Arm("iid", "fedavg", None), 0, curve([0.5, 0.6], 100.0)),
        RunCurve(Arm("iid", "proposed", 0.9), 0, curve([0.4, 0.5, 0.6, 0.7], 50.0)),
        RunCurve(Arm("dirichlet-0.5", "fedavg", None), 0, curve([0.3, 0.4], 300.0)),
        RunCurve(Arm("dirichlet-0.5", "proposed", 0.9), 0, curve([0.2] * 12, 50.0)),
    ]
    rows = budget_rows(runs, budget_rounds=(1, 2))
    assert [(r["partition"], r["method"], r["budget_rounds"]) for r in rows] == [
        ("iid", "fedavg", 1),
        ("iid", "proposed", 1),
        ("iid", "fedavg", 2),
        ("iid", "proposed", 2),
        ("dirichlet-0.5", "fedavg", 1),
        ("dirichlet-0.5", "proposed", 1),
        ("dirichlet-0.5", "fedavg", 2),
        ("dirichlet-0.5", "proposed", 2),
    ]
    assert [r["budget_bytes"] for r in rows] == [100.0] * 2 + [200.0] * 2 + [300.0] * 2 + [
        600.0
    ] * 2
    by = {(r["partition"], r["method"], r["budget_rounds"]): r for r in rows}
    assert by["iid", "proposed", 2]["round"] == 4.0  # 200 bytes: 4 rounds of 50
    assert by["dirichlet-0.5", "proposed", 2]["round"] == 12.0  # 600 bytes: 12 rounds of 50


def test_a_seed_with_no_evaluated_round_within_the_budget_leaves_no_mean() -> None:
    fedavg = [RunCurve(Arm("iid", "fedavg", None), 0, curve([0.5, 0.6, 0.7], 100.0))]
    # seed 1 is first evaluated at round 3 (300 bytes), after the 1-round budget (100 bytes)
    sparse = [
        RunCurve(Arm("iid", "proposed", 0.9), 0, curve([0.6, 0.7, 0.8], 100.0)),
        RunCurve(Arm("iid", "proposed", 0.9), 1, curve([None, None, 0.8], 100.0)),
    ]
    rows = budget_rows([*fedavg, *sparse], budget_rounds=(1, 3))
    by = {(r["method"], r["budget_rounds"]): r for r in rows}
    one = by["proposed", 1]
    assert (one["test_acc"], one["test_acc_std"], one["round"]) == (None, None, None)
    assert one["seeds"] == [0, 1] and one["seeds_spent"] == 2
    three = by["proposed", 3]  # within 3 rounds both seeds have a value
    assert three["test_acc"] == pytest.approx(0.8) and three["round"] == 3.0


def test_budget_rounds_in_any_order_each_get_their_rows() -> None:
    # a 12-round fedavg: 25 rounds is more than it ran, 10 is not; the order must not matter
    fedavg = [RunCurve(Arm("iid", "fedavg", None), 0, curve([0.5] * 12))]
    assert [r["budget_rounds"] for r in budget_rows(fedavg, (25, 10))] == [10]
    assert [r["budget_rounds"] for r in budget_rows(fedavg, (50, 10, 25, 12))] == [10, 12]
