"""Metric names: per-round figures and `cum_` running totals, and rows from before the renaming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fl_lightning.experiments.report import read_curves_csv
from fl_lightning.experiments.to_target import RunCurve, summary_rows
from fl_lightning.federated import metric_names as names

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


@pytest.mark.parametrize("folder", ["fashion_mnist_seed0_v1", "fashion_mnist"])
def test_committed_curves_csv_gives_the_committed_summary(folder: str) -> None:
    """The results in the repository (old names in the first) are read back from curves.csv
    and give the committed costs and, where committed, the seed-paired ratios."""
    curves = read_curves_csv(RESULTS_DIR / folder / "curves.csv")
    committed = json.loads((RESULTS_DIR / folder / "summary.json").read_text())
    targets = committed["target_acc"]
    targets = targets if isinstance(targets, list) else [targets]
    rows = summary_rows(curves, targets)
    assert len(rows) == len(committed["rows"])
    fields = ["rounds_to_target", "bytes_to_target", "flops_to_target"]
    fields += [f for f in committed["rows"][0] if f.startswith("ratio_bytes")]
    for ours, theirs in zip(rows, committed["rows"], strict=True):
        assert (ours["method"], ours["partition"]) == (theirs["method"], theirs["partition"])
        for field in fields:
            assert ours[field] == pytest.approx(theirs[field]), (ours["method"], field)


def test_old_rows_read_back_under_the_new_names() -> None:
    first = read_curves_csv(OLD_RESULTS / "curves.csv")[0].history[0]
    assert first["comm/cum_bytes"] == 133070320 and first["comm/bytes"] == 133070320
