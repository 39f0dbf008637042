"""The built-in model families (`cnn`, `mlp`, `resnet8`) and the builders of any family's parts.

Plain `nn.Module`s: encoders, mirrored decoders and output heads. The families are `ModelSpec`s
(the contract: `fl_lightning.models.model_spec`) registered with
`fl_lightning.models.registry.register_model`, the call a user's own model uses too.

An *encoder* is the classifier without its output layer; it maps an image batch
`(N, C, H, W)` to features `(N, out_features)`. Its *decoder* mirrors it back to the image
shape, so the pair is a (denoising) autoencoder. The classifier is `encoder` + `head`.

Parameter names are part of the contract: a Mask, a Ticket and a federated payload address
weights as `encoder.<layer>.weight` / `head.weight`, the names they have inside both
`DAEPretrainer` and `Classifier`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from fl_lightning.data.shape import ImageShape
from fl_lightning.errors import UsageError
from fl_lightning.models.dense_decoder import DenseDecoder
from fl_lightning.models.model_spec import ModelSpec
from fl_lightning.models.registry import lookup, register_model, registered_models
from fl_lightning.models.resnet import RESNET8


def _check_widths(**widths: int) -> None:
    for name, width in widths.items():
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"width {name}={width!r} must be an int >= 1")


class CNNEncoder(nn.Module):
    """McMahan et al.'s FedAvg CNN without its output layer.

    conv5x5-32 (same padding) -> ReLU -> maxpool2 -> conv5x5-64 -> ReLU -> maxpool2 -> fc-512
    -> ReLU. The widths (`conv1`, `conv2` channels, `fc` units) default to the paper's; a
    structured ticket builds the same network narrower.
    """

    def __init__(self, shape: ImageShape, conv1: int = 32, conv2: int = 64, fc: int = 512) -> None:
        super().__init__()
        if shape.height % 4 or shape.width % 4:
            raise ValueError(f"cnn needs height and width divisible by 4, got {shape}")
        _check_widths(conv1=conv1, conv2=conv2, fc=fc)
        self.shape = shape
        self.conv1 = nn.Conv2d(shape.channels, conv1, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(conv1, conv2, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.flat_shape = (conv2, shape.height // 4, shape.width // 4)
        self.fc = nn.Linear(conv2 * (shape.height // 4) * (shape.width // 4), fc)
        self.out_features = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return torch.relu(self.fc(torch.flatten(x, 1)))


class CNNDecoder(nn.Module):
    """Mirror of `CNNEncoder`: fc -> (upsample, conv5x5) x 2 back to the image; linear output."""

    def __init__(self, shape: ImageShape, hidden: int = 512) -> None:
        super().__init__()
        c, h, w = 64, shape.height // 4, shape.width // 4
        self.unflat_shape = (c, h, w)
        self.fc = nn.Linear(hidden, c * h * w)
        self.deconv2 = nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1)
        self.deconv1 = nn.ConvTranspose2d(32, shape.channels, kernel_size=4, stride=2, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc(z)).view(-1, *self.unflat_shape)
        x = torch.relu(self.deconv2(x))
        image: torch.Tensor = self.deconv1(x)
        return image


class MLPEncoder(nn.Module):
    """McMahan et al.'s "2NN" without its output layer: two fully connected layers of 200 units
    (`fc1`, `fc2`: their widths, narrower in a structured ticket)."""

    def __init__(self, shape: ImageShape, fc1: int = 200, fc2: int = 200) -> None:
        super().__init__()
        _check_widths(fc1=fc1, fc2=fc2)
        self.shape = shape
        self.fc1 = nn.Linear(shape.channels * shape.height * shape.width, fc1)
        self.fc2 = nn.Linear(fc1, fc2)
        self.out_features = fc2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc2(torch.relu(self.fc1(torch.flatten(x, 1)))))


class MLPDecoder(nn.Module):
    """Mirror of `MLPEncoder`."""

    def __init__(self, shape: ImageShape, hidden: int = 200) -> None:
        super().__init__()
        self.shape = shape
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc1 = nn.Linear(hidden, shape.channels * shape.height * shape.width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc1(torch.relu(self.fc2(z)))
        image: torch.Tensor = x.view(-1, self.shape.channels, self.shape.height, self.shape.width)
        return image


MODELS: dict[str, ModelSpec] = {
    spec.name: register_model(spec)
    for spec in (
        ModelSpec("cnn", encoder=CNNEncoder, widths=("conv1", "conv2", "fc"), decoder=CNNDecoder),
        ModelSpec("mlp", encoder=MLPEncoder, widths=("fc1", "fc2"), decoder=MLPDecoder),
        RESNET8,
    )
}
"""The built-in model families, registered like any other."""


def available_models() -> list[str]:
    """Registered names accepted by `build_encoder` / `build_decoder` (besides `module:object`
    references to a `ModelSpec`)."""
    return registered_models()


def model_spec(name: str, option: str = "model") -> ModelSpec:
    """The family `name` (registered, `module:object` or an installed plugin's); `UsageError`
    naming `option` for an unknown name."""
    return lookup(name, option)


def width_names(name: str) -> tuple[str, ...]:
    """The hidden layers of model `name` whose widths `build_encoder` takes, input to output;
    empty for a family without unit structure."""
    return model_spec(name).widths


def unit_layers(name: str, needed_by: str) -> tuple[str, ...]:
    """`width_names(name)`, or a `UsageError` saying that `needed_by` (an option as the user
    typed it) needs unit structure when model `name` declares none."""
    widths = model_spec(name).widths
    if not widths:
        raise UsageError(
            f"{needed_by} needs a model with unit structure, and model {name!r} declares none "
            "(its ModelSpec has no widths); use an unstructured method such as proposed."
        )
    return widths


def build_encoder(
    name: str, shape: ImageShape, widths: Mapping[str, int] | None = None
) -> nn.Module:
    """The encoder of model `name` for images of `shape`; it has an `out_features` attribute.

    `widths` (keys from `width_names(name)`) narrows hidden layers; absent keys keep the
    family's default width.
    """
    spec = model_spec(name)
    widths = dict(widths or {})
    unknown = sorted(set(widths) - set(spec.widths))
    if unknown:
        raise UsageError(
            f"widths {unknown} are not layers of model {name!r}; allowed: {list(spec.widths)}."
        )
    try:
        _check_widths(**widths)
    except ValueError as err:
        raise UsageError(f"widths={widths!r} for model {name!r}: {err}.") from None
    encoder = spec.encoder(shape, **widths)
    features = getattr(encoder, "out_features", None)
    if not isinstance(encoder, nn.Module) or not isinstance(features, int):
        raise UsageError(
            f"model {name!r}: its encoder must be an nn.Module with an int `out_features` "
            f"attribute (got {type(encoder).__name__}, out_features={features!r})."
        )
    return encoder


def build_decoder(name: str, shape: ImageShape, in_features: int | None = None) -> nn.Module:
    """The DAE decoder of model `name`: features (`in_features`, default the full-width
    encoder's) back to `shape`; `DenseDecoder` when the family brings none."""
    spec = model_spec(name)
    if in_features is None:
        in_features = int(build_encoder(name, shape).out_features)  # type: ignore[arg-type]
    if spec.decoder is None:
        return DenseDecoder(shape, in_features)
    return spec.decoder(shape, in_features)


def build_head(in_features: int, num_classes: int, model: str | None = None) -> nn.Module:
    """The output layer: the family's own head, or a dense linear map from features to class
    logits (the default, and what `model=None` gives)."""
    head = model_spec(model).head if model is not None else None
    return (
        head(in_features, num_classes) if head is not None else nn.Linear(in_features, num_classes)
    )
