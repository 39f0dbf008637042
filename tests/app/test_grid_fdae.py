"""`FdaeSpec`: the compare YAML's `fdae:` settings of the `_fdae` rows' federated pre-training,
its codec and server-optimizer options checked when it is built and carried into the
pre-training's round settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

import fl_lightning as fl
from fl_lightning.app.federate_groups import WandbConfig
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.federated_pretraining import FederatedPretrainConfig, plain_config_text
from fl_lightning.app.grid_fdae import (
    VOLATILE_FIELDS,
    FdaeSpec,
    fdae_checkpoint,
    fdae_config,
    recorded_pretraining,
)
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


def _finished(out: Path, record: str) -> None:
    """A finished federated pre-training's folder: its checkpoint and its config.yaml."""
    out.mkdir(parents=True)
    (out / "dae.ckpt").write_bytes(b"")
    (out / "config.yaml").write_text(record)


def _record(config: FederatedPretrainConfig, **tree_changes: Any) -> str:
    """config.yaml as `federated_pretrain` writes it (`plain_config_text`), changed by hand."""
    tree = yaml.safe_load(plain_config_text(config))
    for dotted, value in tree_changes.items():
        *groups, name = dotted.split("__")
        node = tree
        for group in groups:
            node = node[group]
        if value is _DROP:
            del node[name]
        else:
            node[name] = value
    return yaml.safe_dump(tree, sort_keys=True)


_DROP = object()
SMOKE_FEDERATE = str(REPO / "configs/federate/smoke.yaml")
#: The pre-training the reuse tests ask for: the smoke federation's, 2 rounds of 4 clients.
SPEC = FdaeSpec(rounds=2, clients_per_round=4)


def smoke_federation() -> FederateConfig:
    return fl.federate_config(SMOKE_FEDERATE)


@pytest.mark.parametrize(
    "changes",
    [
        {},  # as the current code writes it
        # how it ran, where and how it was logged: not what it computed
        {"output": "/elsewhere/pretrain_fdae/iid/seed0", "resume": True, "progress": True},
        {"engine": "flower", "flower__num_cpus": 4.0, "wandb__enabled": True, "wandb__name": "x"},
        {"federation__clients_per_round": 4.0},  # 4 written as 4.0: the same value
        # a record made before an option existed: judged by the option's default
        {"federation__down_error_feedback": _DROP},
    ],
)
def test_a_finished_pretraining_with_the_same_settings_is_reused(
    tmp_path: Path, changes: dict[str, Any]
) -> None:
    out = tmp_path / "pretrain_fdae" / "iid" / "seed0"
    written = replace(
        fdae_config(smoke_federation(), SPEC, out), wandb=WandbConfig(enabled=True, name="n")
    )
    _finished(out, _record(written, **changes))
    assert fdae_checkpoint(smoke_federation(), SPEC, out, train=False) == str(out / "dae.ckpt")


@pytest.mark.parametrize(
    "record",
    [
        {"federation__rounds": 3},
        {"model__noise_std": 0.25},
        {"data__num_clients": 20},
        {"client__local_epochs": 2},
        {"federation__down_error_feedback": True},  # a record's value, not the default
        {"federation__no_such_option": 1},  # not a config of today's options
    ],
)
def test_a_finished_pretraining_with_other_settings_is_refused(
    tmp_path: Path, record: dict[str, Any]
) -> None:
    out = tmp_path / "pretrain_fdae" / "iid" / "seed0"
    _finished(out, _record(fdae_config(smoke_federation(), SPEC, out), **record))
    with pytest.raises(UsageError) as info:
        fdae_checkpoint(smoke_federation(), SPEC, out, train=False)
    assert str(info.value) == (
        f"{out} holds a federated pre-training made with other settings than this comparison "
        "asks for; delete it or choose another --output."
    )


@pytest.mark.parametrize("text", ["", "- 1\n", "rounds: [\n", "output: x\n"])
def test_an_unreadable_record_is_no_pretraining(text: str) -> None:
    assert recorded_pretraining(text) is None


def test_a_pretrainings_identity_leaves_out_only_the_volatile_fields() -> None:
    config = fdae_config(fl.federate_config(SMOKE_FEDERATE), FdaeSpec(rounds=2), Path("out"))
    found = recorded_pretraining(plain_config_text(config))
    assert found == replace(config, output="", progress=True)  # volatile: at their defaults
    assert set(VOLATILE_FIELDS) == {
        "output",
        "resume",
        "progress",
        "engine",
        "flower",
        "wandb",
        "config_text",
    }
