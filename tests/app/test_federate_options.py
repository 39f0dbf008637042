"""`app.federate_options.federate_config`: the YAML, then `args`, then `values`; checked, typed."""

from __future__ import annotations

import pytest

from fl_lightning.app.federate_options import federate_config
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.errors import UsageError

SMOKE = "configs/federate/smoke.yaml"  # method proposed, 10 clients


def test_values_apply_over_args_over_the_yaml() -> None:
    config = federate_config(SMOKE, args=["--seed", "4", "--method", "fedavg"], values={"seed": 9})
    assert isinstance(config, FederateConfig)
    assert (config.seed, config.method, config.data.num_clients) == (9, "fedavg", 10)
    assert config.output is None  # checked, not resolved: `federate` resolves it


def test_a_mistake_is_refused_where_it_is_given() -> None:
    with pytest.raises(UsageError, match=r"federate_config\(args='--seed 4'\): allowed a list"):
        federate_config(SMOKE, args="--seed 4")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"clients_per_round=50"):  # needs num_clients: checked
        federate_config(SMOKE, values={"federation": {"clients_per_round": 50}})
    with pytest.raises(UsageError, match=r"(?s)Parser key \"method\".*Got value: best"):
        federate_config(SMOKE, values={"method": "best"})
