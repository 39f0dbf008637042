"""`fl-lightning compare` end to end on tiny data: every output, shared pre-training, restarts."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import pytest
import yaml

import fl_lightning as fl
from fl_lightning.app.compare_loader import compare_config
from fl_lightning.app.compare_settings import CompareConfig
from fl_lightning.app.comparison import grid_of
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.cli import main
from fl_lightning.data.sources import load_split
from fl_lightning.errors import UsageError
from fl_lightning.experiments.grid_progress import GridProgress, clock
from fl_lightning.federated.engine import RoundEngine
from fl_lightning.federated.run_files import RunFiles
from fl_lightning.run_lock import RunLock
from fl_lightning.tracking.offline_reader import read_offline_run
from tests.reliability.runs import federate_args
from tests.smoke_runs import without_wall_clock

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The configs name each other relative to the repository root, as `make` runs them."""
    monkeypatch.chdir(REPO)


#: Smaller still than the smoke config: 2 clients per round, a 2-batch pre-training.
LEAN = (
    "--overrides+=--federation.clients_per_round=2",
    "--overrides+=--pretrain_overrides=[--trainer.limit_train_batches=2,"
    "--trainer.limit_val_batches=1,--trainer.enable_progress_bar=false]",
)


def compare(root: Path, out: Path, *extra: str) -> None:
    root_arg = f"--overrides+=--data.root={root}"
    main(["compare", "--config", SMOKE, root_arg, "--output", str(out), *LEAN, *extra])


@pytest.fixture(scope="module")
def smoke(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The smoke comparison (W&B on, offline; lean clients), run once for this module."""
    out = tmp_path_factory.mktemp("compare") / "smoke"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        compare(tiny_fashion_root, out, "--budget_rounds=[2]")
    yield out


def test_smoke_compare_writes_every_output(smoke: Path) -> None:
    for name in (
        "summary.md",
        "summary.json",
        "curves.csv",
        "acc_vs_traffic.png",
        "acc_vs_flops.png",
        "acc_vs_round.png",
    ):
        assert (smoke / name).is_file(), name
    # the partition's heatmap is seed 0's split, the same file every run of that seed wrote
    heatmap = (smoke / "label_distribution_iid.png").read_bytes()
    assert (
        heatmap
        == (smoke / "runs" / "iid" / "fedavg" / "seed0" / "label_distribution.png").read_bytes()
    )
    for axis in ("traffic", "flops", "round"):  # a real picture: one partition, two lines
        pixels = (mpimg.imread(smoke / f"acc_vs_{axis}.png")[..., :3] * 255).round()
        assert pixels.shape == (540, 720 + 330, 3)  # one 6-inch panel, the legend right of it
        colours = {tuple(int(c) for c in rgb) for rgb in pixels.reshape(-1, 3)}
        assert (31, 119, 180) in colours and (255, 127, 14) in colours, axis
    summary = json.loads((smoke / "summary.json").read_text())
    assert summary["target_acc"] == [0.25, 0.5]
    keys = [(r["target_acc"], r["method"], r["sparsity"], r["partition"]) for r in summary["rows"]]
    assert keys == [
        (0.25, "fedavg", None, "iid"),
        (0.25, "proposed", 0.8, "iid"),
        (0.5, "fedavg", None, "iid"),
        (0.5, "proposed", 0.8, "iid"),
    ]
    assert all(r["seeds"] == [0] for r in summary["rows"])
    for row in summary["rows"]:  # each ratio is this row's bytes over fedavg's at its target
        [fedavg] = [
            r
            for r in summary["rows"]
            if r["method"] == "fedavg" and r["target_acc"] == row["target_acc"]
        ]
        mine, theirs = row["bytes_to_target"], fedavg["bytes_to_target"]
        expected = mine / theirs if mine is not None and theirs is not None else None
        assert row["ratio_bytes_vs_fedavg"] == expected
    with (smoke / "curves.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 3  # two runs, three rounds each
    # each run's curve is exactly that run's metrics
    run = smoke / "runs" / "iid" / "proposed-s0.8" / "seed0"
    history = json.loads((run / "summary.json").read_text())["history"]
    mine = [r for r in rows if r["method"] == "proposed"]
    assert [float(r["comm/cum_bytes"]) for r in mine] == [h["comm/cum_bytes"] for h in history]
    assert (smoke / "runs" / "iid" / "fedavg" / "seed0" / "metrics.csv").is_file()
    md = (smoke / "summary.md").read_text()
    assert "| iid | fedavg | - | 1 |" in md and "| iid | proposed | 0.8 | 1 |" in md
    # the equal-traffic view at fedavg's 2-round traffic, from the runs' own histories
    runs = smoke / "runs" / "iid"
    fed = json.loads((runs / "fedavg" / "seed0" / "summary.json").read_text())["history"]
    budget = fed[1]["comm/cum_bytes"]
    [fed_row, prop_row] = summary["equal_budget"]
    assert (fed_row["method"], fed_row["budget_rounds"], fed_row["budget_bytes"]) == (
        "fedavg",
        2,
        budget,
    )
    assert (fed_row["round"], fed_row["test_acc"], fed_row["seeds_spent"]) == (
        2.0,
        fed[1]["test/acc"],
        1,
    )
    within = [h for h in history if h["comm/cum_bytes"] <= budget]
    assert (
        prop_row["round"] == within[-1]["round"] and prop_row["test_acc"] == within[-1]["test/acc"]
    )
    assert prop_row["seeds_spent"] == int(len(within) < len(history))
    assert "## Equal traffic: test accuracy at fedavg's traffic after N rounds" in md
    assert "## Target test accuracy 25.00%" in md and "## Target test accuracy 50.00%" in md


def test_smoke_compare_logs_one_group_and_a_summary_run(smoke: Path) -> None:
    [summary_run] = (smoke / "wandb").glob("offline-run-*")
    logged = read_offline_run(summary_run)
    keys = {k for row in logged["history"] for k in row}
    # the wandb.Table holds summary.json's rows, column by column
    [table_row] = [row for row in logged["history"] if "summary/_type" in row]
    table = json.loads((summary_run / "files" / table_row["summary/path"]).read_text())
    rows = json.loads((smoke / "summary.json").read_text())["rows"]
    assert table["columns"] == list(rows[0])
    assert len(table["data"]) == len(rows)
    for logged_row, row in zip(table["data"], rows, strict=True):
        for column, value in zip(table["columns"], logged_row, strict=True):
            if not isinstance(row[column], list):
                assert value == row[column], column
    assert {f"plots/acc_vs_{x}/_type" for x in ("traffic", "flops", "round")} <= keys
    for method in ("fedavg", "proposed-s0.8"):
        [fed_run] = (smoke / "runs" / "iid" / method / "seed0" / "wandb").glob("offline-run-*")
        assert read_offline_run(fed_run)["config"]["wandb"]["group"] == "compare-smoke"


def test_pretraining_is_shared_once_per_seed(tiny_fashion_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "shared"
    compare(
        tiny_fashion_root,
        out,
        "--methods=[proposed]",
        "--seeds=[0, 1]",
        "--partitions=[{name: iid}, {name: dirichlet, alpha: 0.5}]",
        "--overrides+=--rounds=1",
        "--wandb.enabled=false",
        "--target_acc=0.5",
    )
    assert sorted(p.name for p in (out / "pretrain").iterdir()) == ["seed0", "seed1"]
    shas = {}
    for seed in (0, 1):
        ckpt = out / "pretrain" / f"seed{seed}" / "dae.ckpt"
        shas[seed] = hashlib.sha256(ckpt.read_bytes()).hexdigest()
        runs = sorted(out.glob(f"runs/*/*/seed{seed}/summary.json"))
        assert len(runs) == 2  # one per partition
        for path in runs:
            assert json.loads(path.read_text())["provenance"]["source_sha256"] == shas[seed]
            config = yaml.safe_load((path.parent / "config.yaml").read_text())
            assert set(config["seeds"].values()) == {seed}  # split, sampling, init, data order
            assert config["data"]["partition"] == path.parts[-4].split("-")[0]
    assert shas[0] != shas[1]
    assert not list(out.glob("runs/**/pretrain"))  # no run pre-trained on its own
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [(r["partition"], r["method"], r["seeds"]) for r in rows] == [
        ("iid", "proposed", [0, 1]),
        ("dirichlet-0.5", "proposed", [0, 1]),
    ]


def test_a_given_checkpoint_replaces_the_pretraining(
    smoke: Path, tiny_fashion_root: Path, tmp_path: Path
) -> None:
    ckpt = smoke / "pretrain" / "seed0" / "dae.ckpt"
    out = tmp_path / "given"
    extra = ("--methods=[proposed]", "--overrides+=--rounds=1", "--wandb.enabled=false")
    compare(tiny_fashion_root, out, f"--checkpoint={ckpt}", *extra)
    assert not (out / "pretrain").exists()
    summary = json.loads((out / "runs/iid/proposed-s0.8/seed0/summary.json").read_text())
    sha = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert summary["provenance"]["source_sha256"] == sha


def test_the_grid_runs_the_structured_methods_from_the_dae_checkpoint(
    smoke: Path, tiny_fashion_root: Path, tmp_path: Path
) -> None:
    """Without a ticket, `proposed_structured` cuts the grid's DAE to the sparsity's widths
    (its hold-out checked) and `random_structured` trains the same widths from scratch."""
    ckpt = smoke / "pretrain" / "seed0" / "dae.ckpt"
    out = tmp_path / "structured"
    extra = (
        "--methods=[proposed_structured, random_structured]",
        "--overrides+=--rounds=1",
        "--wandb.enabled=false",
    )
    compare(tiny_fashion_root, out, f"--checkpoint={ckpt}", *extra)
    runs = {
        m: out / f"runs/iid/{m}-s0.8/seed0" for m in ("proposed_structured", "random_structured")
    }
    summaries = {m: json.loads((d / "summary.json").read_text()) for m, d in runs.items()}
    proposed = summaries["proposed_structured"]["provenance"]
    assert proposed["source_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert proposed["holdout"]["num_images"] > 0  # the grid's DAE records its hold-out
    assert "source_checkpoint" not in summaries["random_structured"]["provenance"]
    widths = {m: s["provenance"]["widths"] for m, s in summaries.items()}
    assert widths["proposed_structured"] == widths["random_structured"] == {"fc1": 47, "fc2": 47}


def test_restart_reuses_resumes_and_refuses_a_changed_config(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "restart"
    args = ("--methods=[fedavg]", "--overrides+=--rounds=2", "--wandb.enabled=false")
    compare(tiny_fashion_root, out, *args)
    run = out / "runs" / "iid" / "fedavg" / "seed0"
    first = (run / "summary.json").read_text()
    stamp = (run / "metrics.csv").stat().st_mtime_ns
    # a finished run is reused as it is
    compare(tiny_fashion_root, out, *args)
    assert (run / "metrics.csv").stat().st_mtime_ns == stamp
    # an interrupted one (checkpoint, no summary) is resumed, not redone
    (run / "summary.json").unlink()
    compare(tiny_fashion_root, out, *args)
    assert json.loads((run / "summary.json").read_text())["history"] == json.loads(first)["history"]
    assert (run / "metrics.csv").stat().st_mtime_ns == stamp
    # asking for something else in the same folder is refused, naming the run
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        compare(tiny_fashion_root, out, *args, "--overrides+=--model.lr=0.2")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "another config" in err and "fedavg" in err


def test_a_moved_comparison_folder_keeps_its_runs(
    smoke: Path, tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the smoke grid's proposed run read OUTPUT/pretrain/seed0/dae.ckpt; after a move the same
    # pre-training has another absolute path, and every run is still reused, not refused
    moved = tmp_path / "elsewhere" / "smoke"
    shutil.copytree(smoke, moved, symlinks=True)
    run = moved / "runs" / "iid" / "proposed-s0.8" / "seed0"
    stamp = (run / "metrics.csv").stat().st_mtime_ns
    # recorded relative to the folder the comparison ran in: it names the old place, not the new
    recorded = yaml.safe_load((run / "config.yaml").read_text())["checkpoint"]
    assert Path(os.path.abspath(recorded)).is_relative_to(smoke / "pretrain"), recorded
    compare(tiny_fashion_root, moved, "--budget_rounds=[2]")
    assert (run / "metrics.csv").stat().st_mtime_ns == stamp
    rows = json.loads((moved / "summary.json").read_text())["rows"]
    assert rows == json.loads((smoke / "summary.json").read_text())["rows"]
    # what the pre-training did still counts: other pre-training arguments are refused
    other = "--overrides+=--pretrain_overrides=[--trainer.limit_train_batches=3]"
    with pytest.raises(SystemExit) as exc:
        compare(tiny_fashion_root, moved, "--budget_rounds=[2]", other)
    assert exc.value.code == 2
    assert "pre-trained with other arguments" in capsys.readouterr().err


def test_a_finished_run_without_config_yaml_is_checked_against_its_checkpoint(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gone"
    plain = ("--methods=[fedavg]", "--wandb.enabled=false")
    compare(tiny_fashion_root, out, *plain, "--overrides+=--rounds=2")
    run = out / "runs" / "iid" / "fedavg" / "seed0"
    (run / "config.yaml").unlink()
    stamp = (run / "metrics.csv").stat().st_mtime_ns
    # the 2-round run is not the 3-round grid's: checkpoint.pt records its options
    capsys.readouterr()
    for report_only in ("false", "true"):
        with pytest.raises(SystemExit) as exc:
            compare(tiny_fashion_root, out, *plain, f"--report_only={report_only}")
        assert exc.value.code == 2
        assert f"{run} holds a finished run made with another config" in capsys.readouterr().err
    compare(tiny_fashion_root, out, *plain, "--overrides+=--rounds=2")  # its own: reused
    assert (run / "metrics.csv").stat().st_mtime_ns == stamp
    assert json.loads((out / "summary.json").read_text())["rows"][0]["final_test_acc"] is not None
    # nothing left that says how it ran: refused, not trusted
    (run / "checkpoint.pt").unlink()
    with pytest.raises(SystemExit) as exc:
        compare(tiny_fashion_root, out, *plain, "--overrides+=--rounds=2")
    assert exc.value.code == 2
    assert "whose options are gone" in capsys.readouterr().err


class SimulatedKill(BaseException):
    """Stands for SIGKILL: a BaseException, so no `except Exception` in the code catches it."""


def test_a_moved_comparison_folder_resumes_its_unfinished_run(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    """dae_dense reads OUTPUT/pretrain/seed0/dae.ckpt; after the folder moved, its interrupted
    run resumes from the same pre-training at its new path (checked by sha256), and ends as the
    uninterrupted run does."""
    args = ("--methods=[dae_dense]", "--overrides+=--rounds=3", "--wandb.enabled=false")
    reference = tmp_path / "reference"
    compare(tiny_fashion_root, reference, *args)
    out = tmp_path / "before" / "cmp"
    shutil.copytree(reference / "pretrain", out / "pretrain")  # the same pre-training, kept
    original = RoundEngine.train_here

    def stop_in_round_3(engine: RoundEngine, r: int, *rest: Any) -> Any:
        if r == 3:
            raise SimulatedKill
        return original(engine, r, *rest)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RoundEngine, "train_here", stop_in_round_3)
        with pytest.raises(SimulatedKill):
            compare(tiny_fashion_root, out, *args)
    run = Path("runs", "iid", "dae_dense", "seed0")
    assert int(RunFiles(out / run).read_checkpoint()["round"]) == 2
    moved = tmp_path / "after" / "cmp"
    shutil.move(out.parent, moved.parent)
    compare(tiny_fashion_root, moved, *args)
    summary = json.loads((moved / run / "summary.json").read_text())
    expected = json.loads((reference / run / "summary.json").read_text())
    assert summary["rounds"] == 3
    assert without_wall_clock(summary["history"]) == without_wall_clock(expected["history"])
    with (moved / run / "metrics.csv").open() as f:
        assert [int(row["round"]) for row in csv.DictReader(f)] == [1, 2, 3]


def test_compare_never_replaces_report_files_it_did_not_write(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Into a finished federate run, or a folder holding someone's summary.md or curves.csv,
    compare refuses before running anything; into its own folder it rewrites its report."""
    plain = ("--methods=[fedavg]", "--overrides+=--rounds=1", "--wandb.enabled=false")
    run = tmp_path / "federate-run"
    main(["federate", *federate_args(tiny_fashion_root, run, "--rounds", "1")])
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "summary.md").write_text("# my notes\n")
    (notes / "curves.csv").write_text("x,y\n1,2\n")
    cases = {
        run: "holds a federation run (checkpoint.pt), not a comparison",
        notes: "holds summary.md, curves.csv, which `fl-lightning compare` did not write",
    }
    for folder, named in cases.items():
        before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        for report_only in ("false", "true"):
            capsys.readouterr()
            with pytest.raises(SystemExit) as exc:
                compare(tiny_fashion_root, folder, *plain, f"--report_only={report_only}")
            assert exc.value.code == 2
            assert f"--output='{folder}' {named}" in capsys.readouterr().err
        assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    (run / "checkpoint.pt").unlink()  # a finished run's summary.json alone is not compare's
    capsys.readouterr()
    with pytest.raises(SystemExit):
        compare(tiny_fashion_root, run, *plain)
    assert "holds summary.json, which `fl-lightning compare` did not write" in (
        capsys.readouterr().err
    )
    # a comparison's own folder: its report is rewritten
    own = tmp_path / "own"
    compare(tiny_fashion_root, own, *plain)
    compare(tiny_fashion_root, own, *plain, "--title=again")
    assert (own / "summary.md").read_text().startswith("# again\n")


def test_report_only_reports_the_finished_runs_while_the_grid_holds_its_lock(
    smoke: Path, tiny_fashion_root: Path, tmp_path: Path
) -> None:
    # the smoke grid asked for seed 1 too: seed 0's runs have finished, seed 1's have not
    out = tmp_path / "partial"
    shutil.copytree(smoke, out, symlinks=True)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/seed0/metrics.csv")}
    with RunLock(out, "--output"):  # as if the grid were running in another shell
        compare(tiny_fashion_root, out, "--budget_rounds=[2]", "--seeds=[0,1]", "--report_only")
    summary = json.loads((out / "summary.json").read_text())
    full = json.loads((smoke / "summary.json").read_text())
    assert full["pending"] == [] and "Partial report" not in (smoke / "summary.md").read_text()
    assert summary["pending"] == ["fedavg, iid, seed 1", "proposed (sparsity 0.8), iid, seed 1"]
    assert summary["seeds"] == [0, 1]
    # every figure is the finished runs' own: seed 0's rows, curves and equal-traffic cells
    assert summary["rows"] == full["rows"] and summary["equal_budget"] == full["equal_budget"]
    assert (out / "curves.csv").read_text() == (smoke / "curves.csv").read_text()
    md = (out / "summary.md").read_text()
    assert "**Partial report**: 2 runs of the grid had not finished" in md
    assert "- fedavg, iid, seed 1\n- proposed (sparsity 0.8), iid, seed 1\n" in md
    # nothing ran, nothing was pre-trained, no W&B run was added: only the report changed
    after = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert after == before
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # a finished run made with another config than asked for is refused, as when running
    with pytest.raises(SystemExit) as exc:
        compare(tiny_fashion_root, out, "--report_only", "--overrides+=--model.lr=0.2")
    assert exc.value.code == 2


def test_report_only_needs_a_finished_run(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        compare(tiny_fashion_root, tmp_path / "empty", "--report_only=true")
    assert exc.value.code == 2
    assert "no run of this comparison has finished" in capsys.readouterr().err
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--target_acc=1.5"], "--target_acc"),
        (["--sparsities=[0.9, 1.0]"], "--sparsities"),
        (["--seeds=[]"], "--seeds"),
        (["--federate_config=nope.yaml"], "nope.yaml"),
        (["--checkpoint=missing.ckpt"], "missing.ckpt"),
        (["--overrides+=--model.optimizer=rmsprop"], "rmsprop"),
        (["--partitions=[{name: iid}, {name: iid}]"], "--partitions"),
        # the whole grid is checked before the first run: a bad second partition, no sparsity
        (
            ["--partitions=[{name: iid}, {name: dirichlet, alpha: -1}]"],
            "run fedavg, dirichlet--1, seed 0: data.alpha=-1.0 must be > 0",
        ),
        (["--sparsities=[]"], "--sparsities=[]: the pruned methods (proposed"),
        (["--seeds=[4294967296]"], "--seeds=4294967296 must be <= 4294967295"),
        (["--output="], "--output='' names no folder"),
        (["--config", "TMP/wandb_7.yaml"], "`wandb: 7` is not allowed"),
    ],
)
def test_usage_errors_exit_2_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    out = tmp_path / "bad"
    (tmp_path / "wandb_7.yaml").write_text("wandb: 7\n")
    extra = [arg.replace("TMP", str(tmp_path)) for arg in extra]
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--config", SMOKE, "--output", str(out), *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (out / "runs").exists()


def test_time_left_counts_only_runs_that_ran() -> None:
    assert clock(3725.2) == "1:02:05" and clock(90_000) == "25:00:00"
    bar = GridProgress(total=6, enabled=False)
    assert bar.left(0) == "?"
    bar.finish(1, 0.01, executed=False)  # reused: says nothing about speed
    bar.finish(2, 40.0, executed=True)
    bar.finish(3, 60.0, executed=True)
    assert bar.left(3) == "0:02:30"  # 3 runs left x 50 s


@pytest.mark.slow
def test_smoke_config_on_real_fashion_mnist(tmp_path: Path) -> None:
    """The smoke config as shipped, on the real data: every file, costs consistent with curves."""
    try:
        load_split("fashion_mnist", train=False)
    except UsageError:
        pytest.skip("real Fashion-MNIST is not installed (make data)")
    out = tmp_path / "real"
    main(["compare", "--config", SMOKE, "--output", str(out), "--wandb.enabled=false"])
    summary = json.loads((out / "summary.json").read_text())
    for row in summary["rows"]:
        run = out / "runs" / "iid" / ("fedavg" if row["method"] == "fedavg" else "proposed-s0.8")
        history = json.loads((run / "seed0" / "summary.json").read_text())["history"]
        reached = [h for h in history if h["test/acc"] >= row["target_acc"]]
        if reached:
            assert row["bytes_to_target"] == reached[0]["comm/cum_bytes"]
        else:
            assert row["bytes_to_target"] is None
    assert (out / "acc_vs_traffic.png").is_file()


def test_compare_takes_only_its_typed_config() -> None:
    with pytest.raises(UsageError, match=r"compare\(config='smoke.yaml'\): allowed the config"):
        fl.compare("smoke.yaml")  # type: ignore[arg-type]
    assert CompareConfig().targets() == [0.8]
    assert CompareConfig(target_acc=(0.7, 1)).targets() == [0.7, 1.0]


def test_grid_of_names_the_wandb_group_after_the_output_folder(tmp_path: Path) -> None:
    grid = grid_of(compare_config(SMOKE, output=str(tmp_path / "my_cmp"), seeds=[2, 5]))
    assert grid.wandb_group == "compare-my_cmp"
    assert (grid.output, grid.seeds) == (tmp_path / "my_cmp", [2, 5])
    given = compare_config(SMOKE, output=str(tmp_path / "c"), wandb={"group": "shared"})
    assert grid_of(given).wandb_group == "shared"
    with pytest.raises(UsageError, match=r"^--checkpoint='missing.ckpt': no such file\.$"):
        grid_of(compare_config(SMOKE, checkpoint="missing.ckpt"))
    with pytest.raises(
        UsageError, match=r"compare\(config\): not a compare config \(a FederateConfig\)"
    ):
        fl.compare(FederateConfig())  # type: ignore[arg-type]
