"""`FdaeSpec`: the compare YAML's `fdae:` settings of the `_fdae` rows' federated pre-training,
its codec and server-optimizer options checked when it is built and carried into the
pre-training's round settings."""

from __future__ import annotations

from pathlib import Path

import pytest

import fl_lightning as fl
from fl_lightning.app.grid_fdae import FdaeSpec, fdae_config
from fl_lightning.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


def test_the_spec_carries_its_codecs_and_server_optimizer_into_the_pretraining() -> None:
    spec = FdaeSpec(
        rounds=3,
        clients_per_round=4,
        local_epochs=5,
        down_codec="int8",
        up_codec="int4",
        error_feedback=True,
        up_rounding="stochastic",
        server_optimizer="adam",
        server_lr=0.01,
    )
    base = fl.federate_config(str(REPO / "configs/federate/smoke.yaml"))
    config = fdae_config(base, spec, Path("out"))
    federation = config.federation
    assert (federation.rounds, federation.clients_per_round) == (3, 4)
    assert federation.download_codec == "int8"
    assert federation.upload.codec == "int4" and federation.upload.error_feedback
    assert federation.upload.rounding == "stochastic"
    assert (federation.server_optimizer, federation.server_lr) == ("adam", 0.01)
    assert config.client.local_epochs == 5


def test_the_spec_carries_broadcast_error_feedback() -> None:
    federation = FdaeSpec(down_codec="int4", down_error_feedback=True).federation()
    assert federation.download_codec == "int4" and federation.down_error_feedback


def test_the_default_spec_is_plain_float32_fedavg() -> None:
    federation = FdaeSpec().federation()
    assert federation.download_codec == "float32" and federation.upload.codec == "float32"
    assert federation.server_optimizer == "none" and not federation.error_feedback
    assert not federation.down_error_feedback


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"down_codec": "sign"}, "fdae.down_codec='sign'"),
        ({"up_codec": "int3"}, "fdae.up_codec='int3'"),
        ({"up_codec": "sign", "up_rounding": "stochastic"}, "fdae.up_rounding='stochastic'"),
        ({"server_optimizer": "lamb"}, "fdae.server_optimizer='lamb'"),
        ({"server_lr": 0.0}, "fdae.server_lr=0.0"),
        ({"rounds": 0}, "fdae.rounds=0"),
        ({"down_error_feedback": True}, "fdae.down_error_feedback"),
    ],
)
def test_a_bad_value_is_refused_naming_the_fdae_key(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        FdaeSpec(**settings)  # type: ignore[arg-type]
