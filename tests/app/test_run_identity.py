"""`app.run_identity`: a finished run is the run asked for when their resolved configs are
equal bar the volatile fields."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fl_lightning.app.compare_loader import compare_config
from fl_lightning.app.comparison import grid_of
from fl_lightning.app.federate_groups import WandbConfig
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.grid import GridConfigs, plan_runs
from fl_lightning.app.run_identity import (
    VOLATILE_FIELDS,
    grid_relative,
    recorded_identity,
    wanted_identity,
)

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")


def _smoke_run_config(tmp_path: Path) -> FederateConfig:
    grid = grid_of(compare_config(SMOKE, output=str(tmp_path / "cmp"), methods=["fedavg"]))
    return GridConfigs(grid).run(plan_runs(grid)[0], None)


def test_identity_ignores_the_volatile_fields_and_nothing_else(tmp_path: Path) -> None:
    config = _smoke_run_config(tmp_path)
    assert config.federation.clients_per_round == 4.0  # typed: the float option's float
    moved = dataclasses.replace(
        config,
        output=str(tmp_path / "elsewhere" / "runs" / "iid" / "fedavg" / "seed0"),
        resume=True,
        progress=True,
        verbose=True,
        wandb=WandbConfig(enabled=False, project="p", group="g", name="n"),
        pretrain_config=str(tmp_path / "other.yaml"),
        provenance={"anything": 1},
        checkpoint=str(tmp_path / "never_read.ckpt"),  # fedavg reads no DAE
        sparsity=0.5,  # a dense method's sparsity is none
    )
    assert set(VOLATILE_FIELDS) >= {"output", "resume", "wandb", "pretrain_config"}
    assert wanted_identity(moved) == wanted_identity(config)
    for changed in (
        dataclasses.replace(config, rounds=3),
        dataclasses.replace(config, seed=1),
        dataclasses.replace(
            config, federation=dataclasses.replace(config.federation, up_codec="int8")
        ),
    ):
        assert wanted_identity(changed) != wanted_identity(config)


def test_a_finished_runs_record_is_judged_by_value_not_by_text(tmp_path: Path) -> None:
    config = _smoke_run_config(tmp_path)
    # the same options spelt otherwise: other layout, `4` for `4.0`, other W&B and folder
    text = config.to_yaml().replace("clients_per_round: 4.0", "clients_per_round: 4")
    assert text != config.to_yaml()
    record = text.replace("progress: false", "progress: true")
    assert recorded_identity(record, config) == wanted_identity(config)
    other = config.to_yaml().replace("local_epochs: 1", "local_epochs: 2")
    assert other != config.to_yaml()
    assert recorded_identity(other, config) != wanted_identity(config)
    # options that no config of today has: not the run asked for
    assert recorded_identity("no_such_option: 1\n", config) is None


def test_grid_relative_names_only_the_grids_own_checkpoints() -> None:
    run = "/data/cmp/runs/iid/proposed-s0.9/seed0"
    assert (
        grid_relative("/data/cmp/pretrain/seed0/dae.ckpt", run) == "OUTPUT/pretrain/seed0/dae.ckpt"
    )
    assert grid_relative("/data/other/dae.ckpt", run) == "/data/other/dae.ckpt"
    relative = grid_relative("cmp/pretrain/seed1/dae.ckpt", "cmp/runs/iid/fedavg/seed1")
    assert relative == "OUTPUT/pretrain/seed1/dae.ckpt"
