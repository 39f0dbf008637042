"""summary.md / summary.json / curves.csv and the plots, from hand-made curves."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pytest

from fl_lightning.experiments.plots import (
    PLOT_FILES,
    accuracy_label,
    arm_colours,
    log_tick,
    seed_band,
    target_style,
    write_plots,
)
from fl_lightning.experiments.report import (
    fmt_mean_std,
    fmt_ratio,
    markdown_row,
    summary_markdown,
    write_reports,
)
from fl_lightning.experiments.to_target import PRETRAINING_FIELDS, Arm, RunCurve, summary_rows

FEDAVG = Arm("iid", "fedavg", None)
PROPOSED = Arm("iid", "proposed", 0.9)


def curve(accs: list[float | None], mb_per_round: float) -> list[dict[str, Any]]:
    return [
        {
            "round": r,
            "test/acc": acc,
            "test/loss": 1.0,
            "comm/cum_bytes": r * mb_per_round * 1e6,
            "compute/cum_flops": r * 2e9,
            "compute/cum_client_seconds": 3.0 * r,
        }
        for r, acc in enumerate(accs, start=1)
    ]


@pytest.fixture
def curves() -> list[RunCurve]:
    return [
        RunCurve(FEDAVG, 0, curve([0.5, 0.7, 0.8], 10.0)),
        RunCurve(FEDAVG, 1, curve([0.6, 0.8, 0.85], 10.0)),
        RunCurve(PROPOSED, 0, curve([0.7, 0.75, 0.79], 1.0)),
        RunCurve(PROPOSED, 1, curve([0.8, 0.85, 0.9], 1.0)),
    ]


def test_formatting() -> None:
    assert fmt_mean_std(12_340_000.0, 560_000.0, 1e6, 1) == "12.3 ± 0.6"
    assert fmt_mean_std(3.0, 0.0) == "3"  # a whole number of rounds, one seed
    assert fmt_mean_std(2.5, 0.5) == "2.5 ± 0.5"
    assert fmt_mean_std(None, None) == "not reached"


def test_reports_write_every_file_with_the_issue_fields(
    tmp_path: Path, curves: list[RunCurve]
) -> None:
    rows = summary_rows(curves, [0.8])
    paths = write_reports(tmp_path, rows, curves, [0.8], {"title": "T", "seeds": [0, 1]})
    summary = json.loads(paths["summary.json"].read_text())
    assert summary["target_acc"] == 0.8 and summary["seeds"] == [0, 1]
    fed, prop = summary["rows"]
    # fedavg reaches 0.8 at round 3 (seed 0: 30 MB, 6 GFLOPs, 9 s) and round 2 (seed 1: 20 MB,
    # 4 GFLOPs, 6 s); sample std of two values a, b is |a - b| / sqrt(2).
    half = 1 / math.sqrt(2)
    expected_fed = {
        "method": "fedavg",
        "codec": None,
        "sparsity": None,
        "partition": "iid",
        "target_acc": 0.8,
        "seeds": [0, 1],
        "seeds_reached": 2,
        "rounds_to_target": 2.5,
        "rounds_to_target_std": pytest.approx(half),
        "rounds_to_target_by_seed": [3, 2],
        "bytes_to_target": 25e6,
        "bytes_to_target_std": pytest.approx(10e6 * half),
        "bytes_to_target_by_seed": [30e6, 20e6],
        "flops_to_target": 5e9,
        "flops_to_target_std": pytest.approx(2e9 * half),
        "flops_to_target_by_seed": [6e9, 4e9],
        "seconds_to_target": 7.5,
        "seconds_to_target_std": pytest.approx(3 * half),
        "seconds_to_target_by_seed": [9, 6],
        "final_test_acc": pytest.approx(0.825),
        "final_test_acc_std": pytest.approx(0.05 * half),
        "down_bits_per_param": None,  # curves without their runs' summaries
        "up_bits_per_param": None,
        "best_dense": "fedavg",
        "ratio_bytes_vs_fedavg": 1.0,
        "ratio_bytes_vs_fedavg_std": 0.0,
        "ratio_flops_vs_fedavg": 1.0,
        "ratio_flops_vs_fedavg_std": 0.0,
        "ratio_seconds_vs_fedavg": 1.0,
        "ratio_seconds_vs_fedavg_std": 0.0,
        "ratio_bytes_vs_best_dense": 1.0,
        "ratio_bytes_vs_best_dense_std": 0.0,
        "ratio_flops_vs_best_dense": 1.0,
        "ratio_flops_vs_best_dense_std": 0.0,
        "ratio_seconds_vs_best_dense": 1.0,
        "ratio_seconds_vs_best_dense_std": 0.0,
        # no DAE behind fedavg: no pre-training cost, and the totals are the federation's
        "pretraining_source": None,
        **{f"pretraining_{f}": 0.0 for f in PRETRAINING_FIELDS},
        "total_rounds_to_target": 2.5,
        "total_rounds_to_target_std": pytest.approx(half),
        "total_rounds_to_target_by_seed": [3, 2],
        "total_bytes_to_target": 25e6,
        "total_bytes_to_target_std": pytest.approx(10e6 * half),
        "total_bytes_to_target_by_seed": [30e6, 20e6],
        "total_flops_to_target": 5e9,
        "total_flops_to_target_std": pytest.approx(2e9 * half),
        "total_flops_to_target_by_seed": [6e9, 4e9],
        "total_seconds_to_target": 7.5,
        "total_seconds_to_target_std": pytest.approx(3 * half),
        "total_seconds_to_target_by_seed": [9, 6],
        "ratio_total_bytes_vs_fedavg": 1.0,
        "ratio_total_bytes_vs_fedavg_std": 0.0,
        "ratio_total_bytes_vs_best_dense": 1.0,
        "ratio_total_bytes_vs_best_dense_std": 0.0,
    }
    assert fed == expected_fed
    # proposed: seed 0 never reaches 0.8, so every cost and ratio is null; final accuracy
    # (0.79 and 0.9) is always there
    nulls = [f for f in expected_fed if f.endswith(("_to_target", "_to_target_std"))]
    nulls += [f for f in expected_fed if f.startswith("ratio_")]
    assert prop == {
        **expected_fed,
        **dict.fromkeys(nulls),
        # seed 1 reaches 0.8 at round 1: 1 MB, 2 GFLOPs, 3 s
        "rounds_to_target_by_seed": [None, 1],
        "bytes_to_target_by_seed": [None, 1e6],
        "flops_to_target_by_seed": [None, 2e9],
        "seconds_to_target_by_seed": [None, 3],
        "total_rounds_to_target_by_seed": [None, 1],
        "total_bytes_to_target_by_seed": [None, 1e6],
        "total_flops_to_target_by_seed": [None, 2e9],
        "total_seconds_to_target_by_seed": [None, 3],
        "method": "proposed",
        "sparsity": 0.9,
        "seeds_reached": 1,
        "final_test_acc": pytest.approx(0.845),
        "final_test_acc_std": pytest.approx(0.11 * half),
    }
    md = paths["summary.md"].read_text()
    assert "# T" in md and "## Target test accuracy 80.00%" in md
    assert "| iid | fedavg | - | 2 | 82.5 ± 3.5 % | 2.5 ± 0.7 | 25.0 ± 7.1 |" in md
    assert "not reached (1/2 seeds)" in md
    with paths["curves.csv"].open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 12  # 4 runs x 3 rounds
    assert table[0]["method"] == "fedavg" and table[0]["sparsity"] == "" and table[0]["seed"] == "0"
    assert table[-1]["sparsity"] == "0.9" and float(table[-1]["test/acc"]) == 0.9
    assert table[0]["train/loss"] == ""  # missing values stay empty


def test_ratio_cells(curves: list[RunCurve]) -> None:
    rows = summary_rows(curves, [0.7])  # proposed: round 1 (1 MB); fedavg: round 2 (20 MB)
    cells = markdown_row(rows[1])
    assert cells[:4] == ["iid", "proposed", "0.9", "2"]  # two seeds
    assert cells[6] == "1.0" and cells[9] == "0.050x"  # 1 MB / 20 MB on both seeds
    assert cells[11] == "0.050x"  # fedavg is also the best dense method here
    # 0.75: fedavg at round 3 (30 MB) / round 2 (20 MB), proposed at round 2 (2 MB) / round 1
    # (1 MB): seed ratios 1/15 and 1/20, mean 7/120 = 0.0583, std (1/15 - 1/20) / sqrt(2) = 0.0118
    spread = markdown_row(summary_rows(curves, [0.75])[1])
    assert spread[9] == "0.058 ± 0.012x"
    assert spread[10] == "0.58 ± 0.12x"  # FLOPs: 4/6 and 2/4


def test_fmt_ratio() -> None:
    assert fmt_ratio(None) == "-"
    assert fmt_ratio(0.18) == "0.18x" and fmt_ratio(0.094) == "0.094x"
    assert fmt_ratio(0.18, 0.02) == "0.18 ± 0.02x" and fmt_ratio(0.0583, 0.0118) == "0.058 ± 0.012x"
    assert fmt_ratio(1.0, 0.0) == "1.00x"  # no spread shown for a zero std


def test_seed_band_and_plots(tmp_path: Path, curves: list[RunCurve]) -> None:
    xs, mean, low, high = seed_band(curves[:2], "comm/cum_bytes")
    assert xs == [10e6, 20e6, 30e6]
    assert mean == pytest.approx([0.55, 0.75, 0.825])
    assert low == [0.5, 0.7, 0.8] and high == [0.6, 0.8, 0.85]
    # a round one seed did not evaluate is left out rather than averaged over fewer seeds
    gap = [RunCurve(FEDAVG, 0, curve([0.5, None, 0.8], 1.0)), curves[1]]
    assert seed_band(gap, "round")[0] == [1.0, 3.0]
    paths = write_plots(curves, [0.8], tmp_path)
    assert {p.name for p in paths.values()} == set(PLOT_FILES.values())
    for path in paths.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = (mpimg.imread(path)[..., :3] * 255).round().astype(np.int64)
        # one partition: a 6 x 4.5 inch panel and a 2.75 inch legend right of it, at 120 dpi
        assert pixels.shape == (540, 720 + 330, 3)
        for area in (pixels[:, :720], pixels[:, 720:]):  # the panel, then the legend
            colours = {tuple(int(c) for c in rgb) for rgb in area.reshape(-1, 3)}
            # one line per arm, in tab10 order: fedavg blue, proposed-s0.9 orange
            assert (31, 119, 180) in colours and (255, 127, 14) in colours, path.name
    two = write_plots(
        [*curves, RunCurve(Arm("dir", "fedavg", None), 0, curves[0].history)], [], tmp_path / "two"
    )
    wide = mpimg.imread(two["round"])
    assert wide.shape[:2] == (540, 1440 + 330)  # a panel per partition, one legend


def test_every_arm_gets_its_own_colour() -> None:
    few = arm_colours(["fedavg", "proposed-s0.9"])
    assert few["fedavg"][:3] == pytest.approx((31 / 255, 119 / 255, 180 / 255))  # tab10 order
    for n in (10, 12, 20, 25):  # the issue-17 grid has 12 arms: tab10 would repeat two
        colours = arm_colours([f"arm{i}" for i in range(n)])
        assert len(set(colours.values())) == n, n


def test_log_axis_labels_only_1_2_5_ticks() -> None:
    assert [log_tick(v) for v in (20.0, 30.0, 50.0, 100.0, 0.5, 0.3, 2000.0)] == [
        "20",
        "",
        "50",
        "100",
        "0.5",
        "",
        "2000",
    ]


def test_one_seed_is_not_reported_as_a_mean_over_seeds(curves: list[RunCurve]) -> None:
    one = [c for c in curves if c.seed == 0]
    text = summary_markdown(summary_rows(one, [0.75]), [0.75], {"title": "T"})
    assert "Seed: 0 (one seed" in text and "mean ± std" not in text
    two = summary_markdown(summary_rows(curves, [0.75]), [0.75], {"title": "T"})
    assert "Seeds: 0, 1. Values are mean ± std over each row's seeds (column `seeds`)." in two
    assert accuracy_label(1) == "test accuracy (one seed)"
    assert "band: min-max" in accuracy_label(3) and "3 seeds" in accuracy_label(3)


def test_each_target_line_has_its_own_style() -> None:
    styles = [target_style(i) for i in range(4)]
    assert len({str(s["linestyle"]) for s in styles}) == 4


def test_label_distribution_names_the_classes() -> None:
    from fl_lightning.data.sources import dataset_info

    names = dataset_info("fashion_mnist").class_names
    assert len(names) == 10 and names[0] == "T-shirt/top" and names[9] == "Ankle boot"
    assert dataset_info("cifar10").class_names[3] == "cat"
