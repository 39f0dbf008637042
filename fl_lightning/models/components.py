"""Plain `nn.Module`s: encoders, mirrored decoders and output heads, behind a registry by name.

An *encoder* is the classifier without its output layer; it maps an image batch
`(N, C, H, W)` to features `(N, out_features)`. Its *decoder* mirrors it back to the image
shape, so the pair is a (denoising) autoencoder. The classifier is `encoder` + `head`.

Parameter names are part of the contract: a Mask, a Ticket and a federated payload address
weights as `encoder.<layer>.weight` / `head.weight`, the names they have inside both
`DAEPretrainer` and `Classifier`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from fl_lightning.errors import UsageError, check_choice


def _check_widths(**widths: int) -> None:
    for name, width in widths.items():
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"width {name}={width!r} must be an int >= 1")


@dataclass(frozen=True)
class ImageShape:
    """Shape of one input image."""

    channels: int
    height: int
    width: int


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
        return self.deconv1(x)


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
        return x.view(-1, self.shape.channels, self.shape.height, self.shape.width)


@dataclass(frozen=True)
class Architecture:
    """A registered model family: how to build its encoder and the mirrored decoder.

    `widths` names the encoder's hidden layers in the order the data flows through them (each
    feeds the next, the last feeds the head); they are the encoder's width keyword arguments
    and its layer names, so `encoder.<name>.weight` is the layer whose outputs the width counts.
    """

    encoder: Callable[..., nn.Module]
    decoder: Callable[[ImageShape], nn.Module]
    widths: tuple[str, ...]


MODELS: dict[str, Architecture] = {
    "cnn": Architecture(encoder=CNNEncoder, decoder=CNNDecoder, widths=("conv1", "conv2", "fc")),
    "mlp": Architecture(encoder=MLPEncoder, decoder=MLPDecoder, widths=("fc1", "fc2")),
}


def available_models() -> list[str]:
    """Names accepted by `build_encoder` / `build_decoder`."""
    return sorted(MODELS)


def width_names(name: str) -> tuple[str, ...]:
    """The hidden layers of model `name` whose widths `build_encoder` takes, input to output."""
    check_choice("model", name, available_models())
    return MODELS[name].widths


def build_encoder(
    name: str, shape: ImageShape, widths: Mapping[str, int] | None = None
) -> nn.Module:
    """The encoder of model `name` for images of `shape`; it has an `out_features` attribute.

    `widths` (keys from `width_names(name)`) narrows hidden layers; absent keys keep the
    family's default width.
    """
    check_choice("model", name, available_models())
    widths = dict(widths or {})
    unknown = sorted(set(widths) - set(MODELS[name].widths))
    if unknown:
        raise UsageError(
            f"widths {unknown} are not layers of model {name!r}; "
            f"allowed: {list(MODELS[name].widths)}."
        )
    try:
        _check_widths(**widths)
    except ValueError as err:
        raise UsageError(f"widths={widths!r} for model {name!r}: {err}.") from None
    return MODELS[name].encoder(shape, **widths)


def build_decoder(name: str, shape: ImageShape) -> nn.Module:
    """The decoder mirroring `build_encoder(name, shape)` back to `shape`."""
    check_choice("model", name, available_models())
    return MODELS[name].decoder(shape)


def build_head(in_features: int, num_classes: int) -> nn.Linear:
    """The output layer: a dense linear map from features to class logits."""
    return nn.Linear(in_features, num_classes)
