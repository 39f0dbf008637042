"""To-target maths on hand-made curves: first round reached, costs there, seeds, ratios."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from fl_lightning.experiments.to_target import (
    Arm,
    RunCurve,
    TargetPoint,
    add_ratios,
    arm_row,
    best_dense,
    final_acc,
    first_reach,
    mean_std,
    paired_ratios,
    ratio,
    summary_rows,
)


def curve(accs: list[float | None], bytes_per_round: float = 100.0) -> list[dict[str, Any]]:
    """Rounds 1..n; cumulative bytes n*bytes_per_round, flops 10n, client seconds 0.5n."""
    return [
        {
            "round": r,
            "test/acc": acc,
            "comm/cum_bytes": r * bytes_per_round,
            "compute/cum_flops": 10.0 * r,
            "compute/cum_client_seconds": 0.5 * r,
        }
        for r, acc in enumerate(accs, start=1)
    ]


def test_first_reach_is_the_first_evaluated_round_at_or_above_the_target() -> None:
    history = curve([0.5, None, 0.7, 0.9, 0.6])
    # round 2 was not evaluated; 0.7 >= 0.7 counts (inclusive); later dips do not matter
    expected = TargetPoint(round=3, total_bytes=300, flops=30, client_seconds=1.5)
    assert first_reach(history, 0.7) == expected
    assert first_reach(history, 0.5) == TargetPoint(1, 100, 10, 0.5)
    assert first_reach(history, 0.85) == TargetPoint(4, 400, 40, 2.0)


def test_not_reached_is_none_never_extrapolated() -> None:
    # steadily climbing but never at 0.95 within the rounds run
    assert first_reach(curve([0.8, 0.85, 0.9, 0.94]), 0.95) is None
    assert first_reach(curve([None, None]), 0.1) is None
    assert first_reach([], 0.5) is None


def test_final_acc_is_the_last_evaluated_round() -> None:
    assert final_acc(curve([0.5, 0.9, None])) == 0.9
    assert final_acc(curve([None])) is None


def test_mean_and_sample_std_over_seeds() -> None:
    mean, std = mean_std([2.0, 4.0, 6.0])
    assert mean == 4.0 and std == pytest.approx(2.0)  # sqrt((4 + 0 + 4) / 2)
    assert mean_std([3.0]) == (3.0, 0.0)
    assert mean_std([1.0, None]) == (None, None)  # one seed missed: no mean
    assert mean_std([]) == (None, None)


def test_ratio() -> None:
    assert ratio(50.0, 200.0) == 0.25
    assert ratio(None, 200.0) is None and ratio(50.0, None) is None and ratio(1.0, 0.0) is None


def test_arm_row_over_seeds_and_partial_reach() -> None:
    arm = Arm("iid", "proposed", 0.9)
    seed0 = RunCurve(arm, 0, curve([0.6, 0.8, 0.82, 0.84]))  # reaches 0.8 at round 2
    seed1 = RunCurve(arm, 1, curve([0.5, 0.6, 0.7, 0.8]))  # reaches 0.8 at round 4
    row = arm_row(arm, [seed0, seed1], 0.8)
    assert row["seeds"] == [0, 1] and row["seeds_reached"] == 2
    assert row["rounds_to_target"] == 3.0
    assert row["rounds_to_target_std"] == pytest.approx(math.sqrt(2))  # (1 + 1) / (2 - 1)
    assert row["bytes_to_target"] == 300.0
    assert row["bytes_to_target_std"] == pytest.approx(100 * math.sqrt(2))
    assert row["flops_to_target"] == 30.0 and row["seconds_to_target"] == 1.5
    assert row["final_test_acc"] == pytest.approx(0.82)
    assert row["final_test_acc_std"] == pytest.approx(math.sqrt(2) * 0.02)
    # 0.83 is reached by seed 0 only: null, with its _std, and the count says why
    partial = arm_row(arm, [seed0, seed1], 0.83)
    assert partial["seeds_reached"] == 1
    for field in ("rounds_to_target", "bytes_to_target", "flops_to_target", "seconds_to_target"):
        assert partial[field] is None and partial[f"{field}_std"] is None
    assert partial["final_test_acc"] == pytest.approx(0.82)  # final accuracy is always there
    assert arm.label == "proposed-s0.9" and Arm("iid", "fedavg", None).label == "fedavg"


def _row(method: str, bytes_: float | None, flops: float | None = None) -> dict[str, Any]:
    """A one-seed (seed 0) row, as `arm_row` writes it."""
    flops = bytes_ if flops is None else flops
    return {
        "method": method,
        "seeds": [0],
        "bytes_to_target": bytes_,
        "bytes_to_target_by_seed": [bytes_],
        "flops_to_target": flops,
        "flops_to_target_by_seed": [flops],
        "seconds_to_target": None,
        "seconds_to_target_by_seed": [None],
    }


def test_ratios_against_fedavg_and_the_best_dense_method() -> None:
    rows = [_row("fedavg", 1000.0), _row("dae_dense", 800.0), _row("proposed", 100.0, 400.0)]
    add_ratios(rows)
    proposed = rows[2]
    assert proposed["best_dense"] == "dae_dense"  # fewer bytes than fedavg
    assert proposed["ratio_bytes_vs_fedavg"] == pytest.approx(0.1)
    assert proposed["ratio_flops_vs_fedavg"] == pytest.approx(0.4)
    assert proposed["ratio_bytes_vs_best_dense"] == pytest.approx(0.125)
    assert proposed["ratio_flops_vs_best_dense"] == pytest.approx(0.5)
    assert proposed["ratio_seconds_vs_fedavg"] is None
    assert proposed["ratio_bytes_vs_fedavg_std"] == 0.0  # one seed: no spread
    assert rows[0]["ratio_bytes_vs_fedavg"] == 1.0


def _seeds_row(method: str, seeds: list[int], values: list[float | None]) -> dict[str, Any]:
    """A row of `seeds` whose bytes to target are `values` (FLOPs and seconds the same)."""
    row: dict[str, Any] = {"method": method, "seeds": seeds}
    for field in ("bytes_to_target", "flops_to_target", "seconds_to_target"):
        row[f"{field}_by_seed"] = values
        row[field] = mean_std(values)[0]
    return row


def test_ratios_are_paired_by_seed_with_a_spread() -> None:
    fedavg = _seeds_row("fedavg", [0, 1, 2], [1000.0, 2000.0, 4000.0])
    proposed = _seeds_row("proposed", [0, 1, 2], [100.0, 100.0, 200.0])
    one_seed = _seeds_row("lth_rewind", [0], [500.0])
    add_ratios([fedavg, proposed, one_seed])
    # per seed: 100/1000, 100/2000, 200/4000 = 0.1, 0.05, 0.05 -> mean 0.2/3, sample std
    # sqrt(((0.1 - 1/15)^2 + 2 (0.05 - 1/15)^2) / 2) = sqrt((1/900 + 2/3600) / 2) = 1/(20 sqrt(3))
    assert proposed["ratio_bytes_vs_fedavg"] == pytest.approx(1 / 15)
    assert proposed["ratio_bytes_vs_fedavg_std"] == pytest.approx(1 / (20 * math.sqrt(3)))
    # not the ratio of the means (400/3 / 7000/3 = 0.057)
    assert proposed["ratio_bytes_vs_fedavg"] != pytest.approx(400 / 7000)
    # one seed against three: paired on seed 0 only
    assert one_seed["ratio_bytes_vs_fedavg"] == pytest.approx(0.5)
    assert one_seed["ratio_bytes_vs_fedavg_std"] == 0.0
    assert fedavg["ratio_bytes_vs_best_dense"] == 1.0 and fedavg["ratio_bytes_vs_fedavg_std"] == 0
    # a reference that missed the target on one seed is "not reached": no ratio at all,
    # even over the seeds it did reach
    partial = _seeds_row("fedavg", [0, 1, 2], [1000.0, None, 4000.0])
    again = _seeds_row("proposed", [0, 1, 2], [100.0, 100.0, 200.0])
    add_ratios([partial, again])
    assert again["ratio_bytes_vs_fedavg"] is None and again["ratio_bytes_vs_fedavg_std"] is None
    # rows that share no seed have nothing to pair
    assert paired_ratios(_seeds_row("a", [3], [1.0]), fedavg, "bytes_to_target") == []


def test_unreached_references_give_no_ratio() -> None:
    rows = [_row("fedavg", None), _row("dae_dense", 500.0), _row("proposed", None)]
    add_ratios(rows)
    assert rows[1]["ratio_bytes_vs_fedavg"] is None  # fedavg never got there
    assert rows[2]["ratio_bytes_vs_best_dense"] is None  # proposed never got there
    assert best_dense([_row("fedavg", None), _row("proposed", 1.0)]) is None
    # a tie keeps fedavg, the first reference
    tie = best_dense([_row("dae_dense", 5.0), _row("fedavg", 5.0)])
    assert tie is not None and tie["method"] == "fedavg"


def test_summary_rows_cover_targets_partitions_and_arms() -> None:
    fed_iid, prop_iid = Arm("iid", "fedavg", None), Arm("iid", "proposed", 0.9)
    prop_dir = Arm("dirichlet-0.5", "proposed", 0.9)
    curves = [
        RunCurve(fed_iid, 0, curve([0.5, 0.8], bytes_per_round=1000)),
        RunCurve(prop_iid, 0, curve([0.8, 0.9], bytes_per_round=100)),
        RunCurve(prop_dir, 0, curve([0.4, 0.6], bytes_per_round=100)),
    ]
    rows = summary_rows(curves, [0.8, 0.9])
    keys = [(r["target_acc"], r["partition"], r["method"]) for r in rows]
    assert keys == [
        (0.8, "iid", "fedavg"),
        (0.8, "iid", "proposed"),
        (0.8, "dirichlet-0.5", "proposed"),
        (0.9, "iid", "fedavg"),
        (0.9, "iid", "proposed"),
        (0.9, "dirichlet-0.5", "proposed"),
    ]
    # 0.8: fedavg at round 2 (2000 B), proposed at round 1 (100 B) -> 0.05x
    assert rows[1]["ratio_bytes_vs_fedavg"] == pytest.approx(0.05)
    # no fedavg on the dirichlet partition: nothing to compare against
    assert rows[2]["ratio_bytes_vs_fedavg"] is None and rows[2]["bytes_to_target"] is None
    assert rows[4]["bytes_to_target"] == 200.0 and rows[4]["ratio_bytes_vs_fedavg"] is None


def test_rows_read_back_from_csv_give_numbers() -> None:
    # curves.csv gives strings and floats: the point holds an int round and float costs
    history = [
        {
            "round": 1.0,
            "test/acc": 0.2,
            "comm/total_bytes": "100",
            "compute/flops": "10",
            "compute/client_seconds": "0.5",
        },
        {
            "round": 2.0,
            "test/acc": 0.9,
            "comm/total_bytes": "200",
            "compute/flops": "20",
            "compute/client_seconds": "1.5",
        },
    ]
    point = first_reach(history, 0.5)
    assert point == TargetPoint(round=2, total_bytes=200.0, flops=20.0, client_seconds=1.5)
    assert point is not None and type(point.round) is int
    assert [type(point.cost(f)) for f in ("rounds_to_target", "bytes_to_target")] == [float] * 2
    assert final_acc([{"round": 1, "test/acc": "1"}]) == 1.0


def test_points_and_curves_are_immutable() -> None:
    point = TargetPoint(round=1, total_bytes=1.0, flops=1.0, client_seconds=1.0)
    run = RunCurve(Arm("iid", "fedavg", None), 0, [])
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.round = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.seed = 1  # type: ignore[misc]


def test_final_acc_is_the_last_not_the_best() -> None:
    # a run that peaked and fell: its final figure is where it ended, not its peak
    assert final_acc(curve([0.9, 0.5])) == 0.5
    assert final_acc(curve([0.9, 0.5, None])) == 0.5


def test_best_dense_is_chosen_by_bytes_not_flops() -> None:
    # dae_dense costs fewer bytes, fedavg fewer FLOPs: the reference is the cheaper in bytes
    rows = [
        _row("fedavg", 1000.0, flops=100.0),
        _row("dae_dense", 800.0, flops=400.0),
        _row("proposed", 100.0, flops=200.0),
    ]
    add_ratios(rows)
    proposed = rows[2]
    assert proposed["best_dense"] == "dae_dense"
    assert proposed["ratio_bytes_vs_best_dense"] == pytest.approx(100 / 800)
    assert proposed["ratio_flops_vs_best_dense"] == pytest.approx(200 / 400)  # not 200 / 100
    assert proposed["ratio_flops_vs_fedavg"] == pytest.approx(200 / 100)


def test_references_are_uncompressed_even_when_a_codec_row_comes_first() -> None:
    # fedavg+int8 first (and cheaper in bytes than every plain row): neither reference is it
    int8 = {**_row("fedavg", 250.0, flops=1000.0), "codec": "int8"}
    rows = [int8, _row("fedavg", 1000.0), _row("dae_dense", 800.0), _row("proposed", 100.0)]
    add_ratios(rows)
    proposed = rows[3]
    assert proposed["ratio_bytes_vs_fedavg"] == pytest.approx(100 / 1000)  # not 100 / 250
    assert proposed["ratio_flops_vs_fedavg"] == pytest.approx(100 / 1000)
    assert proposed["best_dense"] == "dae_dense"
    assert proposed["ratio_bytes_vs_best_dense"] == pytest.approx(100 / 800)
    assert int8["ratio_bytes_vs_fedavg"] == pytest.approx(0.25)  # the codec against plain fedavg
