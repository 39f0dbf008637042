"""`app.federated_pretraining`: a federated DAE pre-training's config, checked when built.

(The runs themselves, a few rounds on tiny data, are tests/federated/test_federated_pretraining.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fl_lightning.app.federated_pretraining import (
    FederatedPretrainConfig,
    federated_pretrain,
    plain_config_text,
)
from fl_lightning.errors import UsageError
from fl_lightning.federated.config import FederationConfig


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"data": {"server_images": 100}}, r"data\.server_images=100: .* allowed: 0\."),
        ({"federation": FederationConfig(target_acc=0.8)}, r"federation\.target_acc=0\.8"),
        ({"engine": "ray"}, r"engine='ray' is not a round engine; allowed: local, flower"),
        ({"model": {"dataset": "mnist"}}, r"model\.dataset: the DAE's dataset is data\.dataset"),
    ],
)
def test_what_a_federated_dae_cannot_be_is_refused_when_built(
    tmp_path: Path, given: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        FederatedPretrainConfig(output=str(tmp_path), **given)  # type: ignore[arg-type]


def test_its_recorded_config_never_says_resume(tmp_path: Path) -> None:
    config = FederatedPretrainConfig(output=str(tmp_path / "run"), resume=True, data={"alpha": 1})
    recorded = yaml.safe_load(plain_config_text(config))
    assert recorded["resume"] is False and recorded["data"] == {"alpha": 1}
    assert "config_text" not in recorded and recorded["wandb"]["enabled"] is False


def test_a_folder_holding_a_run_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(UsageError, match="already holds a run: pass --resume"):
        federated_pretrain(FederatedPretrainConfig(output=str(tmp_path), progress=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # nothing written
