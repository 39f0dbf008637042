"""Metric names: per-round figures and `cum_` running totals, and rows from before the renaming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fl_lightning.experiments.equal_budget import budget_rows
from fl_lightning.experiments.report import read_curves_csv
from fl_lightning.experiments.to_target import RunCurve, summary_rows
from fl_lightning.tracking import metric_names as names

RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"
#: Made before the metric renaming (and with the 36-byte payload header).
OLD_RESULTS = RESULTS_DIR / "fashion_mnist_seed0_v1"


def test_every_traffic_and_compute_name_says_per_round_or_running_total() -> None:
    per_round = {names.DOWN_BYTES, names.UP_BYTES, names.BYTES, names.FLOPS, names.CLIENT_SECONDS}
    totals = {
        names.CUM_DOWN_BYTES,
        names.CUM_UP_BYTES,
        names.CUM_BYTES,
        names.CUM_FLOPS,
        names.CUM_CLIENT_SECONDS,
    }
    assert all("/cum_" in name for name in totals)
    assert not any("cum" in name or "total" in name for name in per_round)
    assert per_round | totals <= set(names.ROUND_METRICS)


def test_upgrade_row_renames_the_old_running_totals() -> None:
    old = {
        "round": 2,
        "comm/down_bytes": 30,
        "comm/up_bytes": 20,
        "comm/total_bytes": 90,  # cumulative: 40 in round 1, 50 in round 2
        "compute/flops": 8.0,  # cumulative
        "compute/client_seconds": 1.5,  # cumulative
    }
    assert names.upgrade_row(old) == {
        "round": 2,
        "comm/down_bytes": 30,
        "comm/up_bytes": 20,
        "comm/bytes": 50,
        "comm/cum_bytes": 90,
        "compute/cum_flops": 8.0,
        "compute/cum_client_seconds": 1.5,
    }
    new = names.upgrade_row(old)
    assert names.upgrade_row(new) == new  # today's rows pass unchanged


def test_run_curve_reads_old_and_new_rows_alike() -> None:
    from fl_lightning.experiments.to_target import Arm

    old = RunCurve(Arm("iid", "fedavg", None), 0, [{"round": 1, "comm/total_bytes": 7}])
    assert old.history == [{"round": 1, "comm/cum_bytes": 7}]


#: Row fields that curves.csv does not hold (each run's summary.json gives them to `compare`).
NOT_IN_CURVES = {"down_bits_per_param", "up_bits_per_param"}
#: The `--budget_rounds` the committed equal-traffic sections were made with
#: (configs/compare/fashion_mnist.yaml).
COMMITTED_BUDGET_ROUNDS = (10, 25, 50)


@pytest.mark.parametrize(
    "folder",
    [
        "fashion_mnist_seed0_v1",
        "fashion_mnist",
        "fashion_mnist_codecs",
        "fashion_mnist_structured",
    ],
)
def test_committed_curves_csv_gives_the_committed_summary(folder: str) -> None:
    """The results in the repository (old names in the first) are read back from curves.csv
    and give every committed figure: costs to target, final accuracy, the best dense reference,
    every ratio (seed-paired, with its spread) and the whole equal-traffic section."""
    curves = read_curves_csv(RESULTS_DIR / folder / "curves.csv")
    committed = json.loads((RESULTS_DIR / folder / "summary.json").read_text())
    targets = committed["target_acc"]
    targets = targets if isinstance(targets, list) else [targets]
    rows = summary_rows(curves, targets)
    assert len(rows) == len(committed["rows"])
    fields = [f for f in committed["rows"][0] if f not in NOT_IN_CURVES]
    assert {"final_test_acc", "best_dense", "ratio_bytes_vs_best_dense"} <= set(fields)
    assert {"ratio_flops_vs_fedavg", "ratio_seconds_vs_best_dense"} <= set(fields)
    for ours, theirs in zip(rows, committed["rows"], strict=True):
        assert (ours["method"], ours["partition"]) == (theirs["method"], theirs["partition"])
        for field in fields:
            assert ours[field] == pytest.approx(theirs[field]), (ours["method"], field)
    if "equal_budget" in committed:
        budget = budget_rows(curves, COMMITTED_BUDGET_ROUNDS)
        assert len(budget) == len(committed["equal_budget"])
        for ours, theirs in zip(budget, committed["equal_budget"], strict=True):
            assert ours.keys() == theirs.keys()
            for field, value in theirs.items():
                assert ours[field] == pytest.approx(value), (ours["method"], field)


def test_old_rows_read_back_under_the_new_names() -> None:
    first = read_curves_csv(OLD_RESULTS / "curves.csv")[0].history[0]
    assert first["comm/cum_bytes"] == 133070320 and first["comm/bytes"] == 133070320
