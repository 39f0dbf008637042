"""The option groups check themselves, once: `Seeds`, `ClientConfig`, `Classifier`'s options; the
federate parser's model group is `Classifier`'s own signature."""

from __future__ import annotations

import inspect

import pytest

from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.config import MAX_SEED, SEED_SOURCES, Seeds, check_seed
from fl_lightning.models.classifier import Classifier, check_options
from fl_lightning.parsers.federate_parser import build_parser


def test_seed_bounds_are_those_of_numpy_and_lightning() -> None:
    assert MAX_SEED == 4294967295
    check_seed("--seed", 0)
    check_seed("--seed", 4294967295)
    with pytest.raises(UsageError, match=r"^--seed=-1 must be >= 0\.$"):
        check_seed("--seed", -1)
    with pytest.raises(
        UsageError, match=r"^--seed=4294967296 must be <= 4294967295 \(2\*\*32 - 1\)"
    ):
        check_seed("--seed", 4294967296)


def test_seeds_fill_the_unset_ones_from_the_base_and_read_zero_when_unset() -> None:
    assert SEED_SOURCES == ("split", "sampling", "init", "data_order", "rounding")
    unset = Seeds()
    assert [unset.of(s) for s in SEED_SOURCES] == [0, 0, 0, 0, 0]
    filled = Seeds(sampling=3, rounding=0).filled(7)
    assert filled == Seeds(split=7, sampling=3, init=7, data_order=7, rounding=0)
    assert filled.of("sampling") == 3 and filled.of("rounding") == 0


def test_seeds_refuse_a_seed_out_of_range_naming_the_source() -> None:
    with pytest.raises(UsageError, match=r"^--seeds\.init=-2 \(or --seed\) must be >= 0\.$"):
        Seeds(init=-2)
    with pytest.raises(UsageError, match=r"^--seeds\.split=-1 \(or --seed\) must be >= 0\.$"):
        Seeds().filled(-1)  # the base fills split first
    with pytest.raises(UsageError, match=r"--seeds\.rounding=4294967296 \(or --seed\) must be <="):
        Seeds(rounding=2**32)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"local_epochs": 0}, r"^client\.local_epochs=0 must be >= 1\.$"),
        ({"batch_size": -3}, r"^client\.batch_size=-3 must be >= 1\.$"),
        (
            {"timeout": 0.0},
            r"^client\.timeout=0\.0 must be > 0 seconds \(or null for no limit\)\.$",
        ),
    ],
)
def test_client_config_refuses_bad_values_when_built(
    values: dict[str, float], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        ClientConfig(**values)  # type: ignore[arg-type]


def test_client_config_accepts_its_bounds() -> None:
    assert ClientConfig(local_epochs=1, batch_size=1, timeout=0.001).timeout == 0.001


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lr": 0.0}, r"^model\.lr=0\.0 must be > 0\.$"),
        ({"lr": float("nan")}, r"^model\.lr=nan must be > 0\.$"),
        ({"momentum": 1.0}, r"^model\.momentum=1\.0 is out of range; allowed: \[0\.0, 1\.0\)\.$"),
        ({"weight_decay": -0.1}, r"^model\.weight_decay=-0\.1 must be >= 0\.$"),
        ({"optimizer": "rmsprop"}, r"^model\.optimizer='rmsprop' is not known"),
        ({"model": "resnet"}, r"^model\.model='resnet' is not known"),
    ],
)
def test_classifier_options_are_checked_once_with_the_callers_prefix(
    values: dict[str, object], message: str
) -> None:
    options: dict[str, object] = {
        "model": "mlp",
        "optimizer": "sgd",
        "lr": 0.05,
        "momentum": 0.0,
        "weight_decay": 0.0,
    }
    with pytest.raises(UsageError, match=message):
        check_options(**{**options, **values}, prefix="model.")  # type: ignore[arg-type]
    bare = message.replace(r"^model\.", "^", 1)
    with pytest.raises(UsageError, match=bare):  # the constructor runs the same check
        Classifier(**{**options, **values})  # type: ignore[arg-type]


def test_the_model_options_are_the_classifiers_signature() -> None:
    parser = build_parser()
    cfg = parser.get_defaults()
    params = inspect.signature(Classifier.__init__).parameters
    own = {
        n: p.default
        for n, p in params.items()
        if n not in ("self", "dataset", "dae_checkpoint", "widths")
    }
    assert dict(vars(cfg.model)) == own
