"""`app.grid_plan`: a comparison grid's runs, in order, and where each one goes."""

from __future__ import annotations

from pathlib import Path

from fl_lightning.app.compare_groups import CodecSpec
from fl_lightning.app.grid import Grid, GridConfigs, PartitionSpec, plan_runs

REPO = Path(__file__).resolve().parents[2]


def test_plan_orders_seeds_first_and_gives_dense_methods_one_run() -> None:
    grid = Grid(
        federate_config=str(REPO / "configs" / "federate" / "smoke.yaml"),
        methods=["fedavg", "proposed"],
        sparsities=[0.5, 0.9],
        partitions=[PartitionSpec("iid"), PartitionSpec("dirichlet", alpha=0.1)],
        seeds=[3, 4],
        output=Path("OUT"),
        overrides=["--method=lth_rewind", "--rounds=7"],
    )
    runs = plan_runs(grid)
    assert len(runs) == 2 * 2 * 3
    assert [str(r.directory) for r in runs[:3]] == [
        "OUT/runs/iid/fedavg/seed3",
        "OUT/runs/iid/proposed-s0.5/seed3",
        "OUT/runs/iid/proposed-s0.9/seed3",
    ]
    assert runs[3].directory == Path("OUT/runs/dirichlet-0.1/fedavg/seed3")
    assert {r.seed for r in runs[:6]} == {3}
    cfg = GridConfigs(grid).run(runs[4], "ck.pt")
    # the run's own settings come after the user's overrides, so they win; the rest stay
    assert cfg.method == "proposed" and cfg.rounds == 7
    assert (cfg.data.partition, cfg.data.alpha) == ("dirichlet", 0.1)
    assert (cfg.sparsity, cfg.seed, cfg.checkpoint) == (0.5, 3, "ck.pt")
    assert cfg.output == str(Path("OUT/runs/dirichlet-0.1/proposed-s0.5/seed3"))
    assert cfg.wandb.group == "compare" and cfg.wandb.name == "dirichlet-0.1/proposed-s0.5/seed3"


def test_codec_rows_come_after_the_plain_methods_and_row_seeds_drop_runs() -> None:
    grid = Grid(
        federate_config="unused.yaml",
        methods=["fedavg", "proposed"],
        sparsities=[0.9],
        partitions=[PartitionSpec("iid")],
        seeds=[0, 1],
        output=Path("OUT"),
        codecs=[CodecSpec("int8", ("fedavg", "proposed"), ("--federation.down_codec=int8",))],
        row_seeds={"proposed+int8": [1]},  # that row runs seed 1 only
    )
    labels = [(r.seed, r.arm.label) for r in plan_runs(grid)]
    assert labels == [
        (0, "fedavg"),
        (0, "proposed-s0.9"),
        (0, "fedavg+int8"),
        (1, "fedavg"),
        (1, "proposed-s0.9"),
        (1, "fedavg+int8"),
        (1, "proposed-s0.9+int8"),
    ]
    last = plan_runs(grid)[-1]
    assert last.directory == Path("OUT/runs/iid/proposed-s0.9+int8/seed1")
    assert last.describe() == "proposed (sparsity 0.9) with codec int8, iid, seed 1"
    assert plan_runs(grid)[0].describe() == "fedavg, iid, seed 0"
    assert grid.codec("int8").overrides == ("--federation.down_codec=int8",)
