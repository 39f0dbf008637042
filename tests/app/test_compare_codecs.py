"""The compare grid's codec axis: named codec settings applied to their methods."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

from fl_lightning.app.compare_loader import compare_config
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.grid import (
    CodecSpec,
    Grid,
    GridConfigs,
    PartitionSpec,
    check_grid,
    plan_runs,
)
from fl_lightning.cli import main
from fl_lightning.errors import UsageError
from fl_lightning.experiments.report import curves_csv, markdown_row, read_curves_csv
from fl_lightning.experiments.to_target import Arm, RunCurve, summary_rows

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")
FEDERATE_SMOKE = str(REPO / "configs" / "federate" / "smoke.yaml")
INT8 = CodecSpec(
    "int8", ["fedavg", "proposed"], ["--federation.down_codec=int8", "--federation.up_codec=int8"]
)


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def _grid(*codecs: CodecSpec, methods: tuple[str, ...] = ("fedavg",)) -> Grid:
    return Grid(
        federate_config=FEDERATE_SMOKE,
        methods=list(methods),
        sparsities=[0.9],
        partitions=[PartitionSpec("iid")],
        seeds=[0],
        output=Path("OUT"),
        codecs=list(codecs),
    )


def test_codec_settings_add_runs_with_their_overrides() -> None:
    grid = _grid(INT8, CodecSpec("seeded", ["fedavg"], ["--seed=5", "--federation.up_topk=0.1"]))
    runs = plan_runs(grid)
    assert [str(r.directory) for r in runs] == [
        "OUT/runs/iid/fedavg/seed0",
        "OUT/runs/iid/fedavg+int8/seed0",
        "OUT/runs/iid/proposed-s0.9+int8/seed0",
        "OUT/runs/iid/fedavg+seeded/seed0",
    ]
    assert runs[2].describe() == "proposed (sparsity 0.9) with codec int8, iid, seed 0"
    configs = GridConfigs(grid)

    def config(i: int) -> FederateConfig:
        return configs.run(runs[i], None)

    plain, fedavg_int8, proposed_int8, seeded = (config(i) for i in range(4))
    assert (plain.federation.down_codec, plain.federation.up_codec) == (None, None)
    for cfg in (fedavg_int8, proposed_int8):
        assert (cfg.federation.down_codec, cfg.federation.up_codec) == ("int8", "int8")
    assert proposed_int8.method == "proposed" and proposed_int8.sparsity == 0.9
    assert fedavg_int8.wandb.name == "iid/fedavg+int8/seed0"
    # the codec's settings come before the run's own, which win (the grid's seed, not 5)
    assert seeded.seed == 0 and seeded.federation.up_topk == 0.1


def test_a_bad_codec_override_is_refused_before_any_run() -> None:
    grid = _grid(CodecSpec("bad", ["fedavg"], ["--federation.up_codec=int3"]))
    with pytest.raises(UsageError, match=r"run fedavg with codec bad, iid, seed 0: .*up_codec"):
        check_grid(grid)


def test_pruned_methods_of_the_codec_axis_need_a_sparsity() -> None:
    grid = Grid(
        federate_config=FEDERATE_SMOKE,
        methods=["fedavg"],
        sparsities=[],
        partitions=[PartitionSpec("iid")],
        seeds=[0],
        output=Path("OUT"),
        codecs=[INT8],
    )
    with pytest.raises(UsageError, match=r"pruned methods \(proposed\) need at least one"):
        check_grid(grid)


def _curve(arm: Arm, acc: float, total: int, bits: tuple[float, float] | None) -> RunCurve:
    row = {"round": 1, "test/acc": acc, "comm/cum_bytes": total, "compute/cum_flops": 1.0}
    history = [{**row, "compute/cum_client_seconds": 1.0}]
    return RunCurve(arm, 0, history, *(bits or (None, None)))


def test_ratios_are_against_uncompressed_fedavg_and_bits_are_reported() -> None:
    curves = [
        _curve(Arm("iid", "fedavg", None), 0.9, 1000, (32.0, 32.0)),
        _curve(Arm("iid", "fedavg", None, "int8"), 0.9, 250, (8.25, 8.25)),
        _curve(Arm("iid", "dae_dense", None, "int8"), 0.9, 200, None),
        _curve(Arm("iid", "proposed", 0.9, "int8"), 0.9, 20, (0.9, 0.85)),
    ]
    rows = summary_rows(curves, [0.85])
    assert [(r["method"], r["codec"]) for r in rows] == [
        ("fedavg", None),
        ("fedavg", "int8"),
        ("dae_dense", "int8"),
        ("proposed", "int8"),
    ]
    assert [r["ratio_bytes_vs_fedavg"] for r in rows] == [1.0, 0.25, 0.2, 0.02]
    # a compressed dense row is no reference, even with fewer bytes
    assert {r["best_dense"] for r in rows} == {"fedavg"}
    assert [r["ratio_bytes_vs_best_dense"] for r in rows] == [1.0, 0.25, 0.2, 0.02]
    assert [(r["down_bits_per_param"], r["up_bits_per_param"]) for r in rows] == [
        (32.0, 32.0),
        (8.25, 8.25),
        (None, None),
        (0.9, 0.85),
    ]
    cells = markdown_row(rows[3])
    assert cells[1] == "proposed+int8" and cells[-2:] == ["0.90", "0.85"]
    assert markdown_row(rows[2])[-2:] == ["-", "-"]
    assert markdown_row(rows[0])[1] == "fedavg"


def test_curves_csv_keeps_the_codec_setting(tmp_path: Path) -> None:
    curves = [
        _curve(Arm("iid", "fedavg", None), 0.9, 1000, None),
        _curve(Arm("iid", "proposed", 0.9, "int8-int4ef"), 0.9, 20, None),
    ]
    path = tmp_path / "curves.csv"
    path.write_text(curves_csv(curves))
    assert "iid,proposed+int8-int4ef,0.9,0," in path.read_text()
    assert [c.arm for c in read_curves_csv(path)] == [c.arm for c in curves]


@pytest.mark.parametrize(
    ("codecs", "needle"),
    [
        ("[{name: a, methods: [fedavg]}, {name: a, methods: [proposed]}]", "share a name"),
        ("[{name: a, methods: []}]", "lists no methods"),
        ("[{name: a, methods: [fedavg, fedavg]}]", "repeats a method"),
        ("[{name: a, methods: [nope]}]", "'nope' is not known"),
        ("[{name: 'a/b', methods: [fedavg]}]", "without '/' or '+'"),
        ("[{name: 'a+b', methods: [fedavg]}]", "without '/' or '+'"),
    ],
)
def test_bad_codec_axis_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], codecs: str, needle: str
) -> None:
    out = tmp_path / "o"
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--config", SMOKE, "--output", str(out), f"--codecs={codecs}"])
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err
    assert not (out / "runs").exists()


def test_compare_runs_a_codec_setting_end_to_end(tiny_fashion_root: Path, tmp_path: Path) -> None:
    """fedavg plain and with int8 both ways: its own folder and config, a quarter the upload."""
    out = tmp_path / "codecs"
    codecs = (
        "[{name: int8, methods: [fedavg], "
        "overrides: [--federation.down_codec=int8, --federation.up_codec=int8]}]"
    )
    main(
        [
            "compare", "--config", SMOKE, "--output", str(out), "--methods=[fedavg]",
            f"--overrides+=--data.root={tiny_fashion_root}",
            "--overrides+=--federation.rounds=1", "--overrides+=--federation.clients_per_round=2",
            f"--codecs={codecs}", "--wandb.enabled=false",
        ]
    )  # fmt: skip
    run = out / "runs" / "iid" / "fedavg+int8" / "seed0"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["federation"]["down_codec"], config["federation"]["up_codec"]) == (
        "int8",
        "int8",
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["codecs"][0]["name"] == "int8"
    plain, int8 = (r for r in summary["rows"] if r["target_acc"] == summary["target_acc"][0])
    assert (plain["codec"], int8["codec"]) == (None, "int8")
    # 8 of 32 bits, plus a float32 scale per 256 values and the header
    assert 8.0 < int8["up_bits_per_param"] < 0.27 * plain["up_bits_per_param"]
    assert 8.0 < int8["down_bits_per_param"] < 0.27 * plain["down_bits_per_param"]
    assert "| iid | fedavg+int8 |" in (out / "summary.md").read_text()


def test_row_seeds_run_a_row_on_fewer_seeds() -> None:
    grid = dataclasses.replace(
        _grid(INT8, methods=("fedavg", "proposed")),
        seeds=[0, 1, 2],
        row_seeds={"proposed": [0], "fedavg+int8": [1, 2]},
    )
    runs = [str(r.directory) for r in plan_runs(grid)]
    assert runs == [
        "OUT/runs/iid/fedavg/seed0",
        "OUT/runs/iid/proposed-s0.9/seed0",
        "OUT/runs/iid/proposed-s0.9+int8/seed0",
        "OUT/runs/iid/fedavg/seed1",
        "OUT/runs/iid/fedavg+int8/seed1",
        "OUT/runs/iid/proposed-s0.9+int8/seed1",
        "OUT/runs/iid/fedavg/seed2",
        "OUT/runs/iid/fedavg+int8/seed2",
        "OUT/runs/iid/proposed-s0.9+int8/seed2",
    ]


@pytest.mark.parametrize(
    ("row_seeds", "message"),
    [
        ({"lth_rewind": [0]}, "--row_seeds row='lth_rewind' is not known; choose one of: fedavg"),
        ({"fedavg": [5]}, "--row_seeds: fedavg: [5] must be distinct seeds of --seeds [0, 1]"),
        ({"fedavg": []}, "--row_seeds: fedavg: [] must be distinct seeds"),
    ],
)
def test_row_seeds_must_name_a_row_and_seeds_of_the_grid(
    row_seeds: dict[str, list[int]], message: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):  # refused when the config is built
        compare_config(methods=["fedavg"], seeds=[0, 1], row_seeds=row_seeds)
