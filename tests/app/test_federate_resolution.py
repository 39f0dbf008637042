"""`app.federate_resolution`: what defaults to other values filled in, a new value each time."""

from __future__ import annotations

from pathlib import Path

import pytest

from fl_lightning.app.federate_groups import DataOptions
from fl_lightning.app.federate_resolution import checked, resolved
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.errors import UsageError
from fl_lightning.federated.config import FederationConfig, Seeds


def test_rounds_seeds_and_output_are_filled_in() -> None:
    config = FederateConfig(method="fedavg", rounds=7, seed=2, seeds=Seeds(init=5))
    done = resolved(config)
    assert done.federation.rounds == 7 and done.rounds == 7
    assert done.seeds == Seeds(split=2, sampling=2, init=5, data_order=2, rounding=2)
    assert done.data.split_seed == 2  # follows seeds.split: one home
    assert done.output is not None and done.output.startswith("runs/federate/fedavg-")
    assert done.sparsity is None  # a dense method records no sparsity
    assert Path(done.pretrain_config).is_absolute() and Path(done.pretrain_config).is_file()
    assert config.rounds == 7 and config.output is None  # the given value is not changed


def test_what_no_group_owns_is_checked_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--ticket is for the pruned methods"):
        resolved(FederateConfig(method="fedavg", ticket=str(tmp_path / "t.pt")))
    with pytest.raises(UsageError, match=r"--checkpoint='.*nope\.ckpt': no such file"):
        resolved(FederateConfig(method="fedavg", checkpoint=str(tmp_path / "nope.ckpt")))
    with pytest.raises(UsageError, match="--method=proposed prunes: give --sparsity"):
        resolved(FederateConfig(method="proposed", sparsity=None))
    with pytest.raises(UsageError, match="names no folder"):
        resolved(FederateConfig(method="fedavg", output=" "))


def test_checked_adds_the_bounds_that_need_the_number_of_clients() -> None:
    small = FederateConfig(
        method="fedavg",
        data=DataOptions(num_clients=4),
        federation=FederationConfig(clients_per_round=5),
    )
    resolved(small)  # fine on its own
    with pytest.raises(UsageError, match="clients_per_round=5"):
        checked(small)
