"""Models from user code: the `ModelSpec` contract, its defaults and the registry."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from fl_lightning.data.shape import ImageShape
from fl_lightning.errors import UsageError
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.components import (
    available_models,
    build_decoder,
    build_encoder,
    model_spec,
    unit_layers,
)
from fl_lightning.models.dae import DAEPretrainer
from fl_lightning.models.dense_decoder import DenseDecoder
from fl_lightning.models.model_spec import ModelSpec
from fl_lightning.models.registry import register_model
from fl_lightning.pruning.channel_ticket import channel_widths

PLUGIN = """
import torch
from torch import nn
from fl_lightning.models.model_spec import ModelSpec

class Encoder(nn.Module):
    def __init__(self, shape, hidden=24):
        super().__init__()
        self.hidden = nn.Linear(shape.channels * shape.height * shape.width, hidden)
        self.out_features = hidden

    def forward(self, x):
        return torch.relu(self.hidden(torch.flatten(x, 1)))

class Head(nn.Module):
    def __init__(self, in_features, num_classes):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_classes, in_features))

    def forward(self, z):
        return z @ self.weight.t()

SMALL = ModelSpec("small", encoder=Encoder, widths=("hidden",), head=Head)
FLAT = ModelSpec("flat", encoder=Encoder)
"""


@pytest.fixture(autouse=True)
def _restore_registry() -> Iterator[None]:
    """What a test registers stays in that test (other tests list the registered names)."""
    from fl_lightning.models import registry

    saved = dict(registry.MODEL_REGISTRY.registered)
    yield
    registry.MODEL_REGISTRY.registered.clear()
    registry.MODEL_REGISTRY.registered.update(saved)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"user_model_{tmp_path.name}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_a_users_model_builds_classifier_and_dae_with_the_default_decoder(plugin: str) -> None:
    name = f"{plugin}:SMALL"
    clf = Classifier(model=name, dataset="fashion_mnist")
    assert type(clf.head).__name__ == "Head"  # the spec's own head
    assert clf(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    dae = DAEPretrainer(model=name, dataset="fashion_mnist")
    assert isinstance(dae.decoder, DenseDecoder)  # no decoder given: the default one
    assert dae(torch.zeros(3, 1, 28, 28)).shape == (3, 1, 28, 28)
    # its unit structure narrows like a built-in's
    assert channel_widths(name, "fashion_mnist", 0.5) == {"hidden": 12}
    assert build_encoder(name, model_shape(), {"hidden": 5}).out_features == 5


def model_shape() -> ImageShape:
    return ImageShape(1, 28, 28)


def test_a_model_without_unit_structure_is_refused_for_channel_tickets(plugin: str) -> None:
    name = f"{plugin}:FLAT"
    assert unit_layers("cnn", "x") == ("conv1", "conv2", "fc")
    with pytest.raises(UsageError, match=r"^a channel ticket .* needs a model with unit structure"):
        channel_widths(name, "fashion_mnist", 0.5)
    with pytest.raises(UsageError, match="are not layers of model"):
        build_encoder(name, model_shape(), {"hidden": 3})


def test_the_built_ins_are_registered_specs_and_keep_their_mirrored_decoders() -> None:
    assert {"cnn", "mlp"} <= set(available_models())
    assert model_spec("cnn").decoder is not None
    assert type(build_decoder("cnn", model_shape())).__name__ == "CNNDecoder"


def test_unknown_or_broken_models_are_refused() -> None:
    with pytest.raises(UsageError, match=r"model='resnet' is not known; choose one of: "):
        Classifier(model="resnet")
    with pytest.raises(UsageError, match="already registered"):
        register_model(ModelSpec("cnn", encoder=DenseDecoder))
    register_model(ModelSpec("no_out_features", encoder=lambda shape: torch.nn.Identity()),
                   replace=True)  # fmt: skip
    with pytest.raises(UsageError, match="int `out_features` attribute"):
        build_encoder("no_out_features", model_shape())
