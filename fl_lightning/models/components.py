"""Plain `nn.Module`s: encoders, mirrored decoders and output heads, behind a registry by name.

An *encoder* is the classifier without its output layer; it maps an image batch
`(N, C, H, W)` to features `(N, out_features)`. Its *decoder* mirrors it back to the image
shape, so the pair is a (denoising) autoencoder. The classifier is `encoder` + `head`.

Parameter names are part of the contract: a Mask, a Ticket and a federated payload address
weights as `encoder.<layer>.weight` / `head.weight`, the names they have inside both
`DAEPretrainer` and `Classifier`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from fl_lightning.errors import check_choice


@dataclass(frozen=True)
class ImageShape:
    """Shape of one input image."""

    channels: int
    height: int
    width: int


class CNNEncoder(nn.Module):
    """McMahan et al.'s FedAvg CNN without its output layer.

    conv5x5-32 (same padding) -> ReLU -> maxpool2 -> conv5x5-64 -> ReLU -> maxpool2 -> fc-512
    -> ReLU.
    """

    def __init__(self, shape: ImageShape, hidden: int = 512) -> None:
        super().__init__()
        if shape.height % 4 or shape.width % 4:
            raise ValueError(f"cnn needs height and width divisible by 4, got {shape}")
        self.shape = shape
        self.conv1 = nn.Conv2d(shape.channels, 32, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.flat_shape = (64, shape.height // 4, shape.width // 4)
        self.fc = nn.Linear(64 * (shape.height // 4) * (shape.width // 4), hidden)
        self.out_features = hidden

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
    """McMahan et al.'s "2NN" without its output layer: two fully connected layers of 200 units."""

    def __init__(self, shape: ImageShape, hidden: int = 200) -> None:
        super().__init__()
        self.shape = shape
        self.fc1 = nn.Linear(shape.channels * shape.height * shape.width, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out_features = hidden

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
    """A registered model family: how to build its encoder and the mirrored decoder."""

    encoder: Callable[[ImageShape], nn.Module]
    decoder: Callable[[ImageShape], nn.Module]


MODELS: dict[str, Architecture] = {
    "cnn": Architecture(encoder=CNNEncoder, decoder=CNNDecoder),
    "mlp": Architecture(encoder=MLPEncoder, decoder=MLPDecoder),
}


def available_models() -> list[str]:
    """Names accepted by `build_encoder` / `build_decoder`."""
    return sorted(MODELS)


def build_encoder(name: str, shape: ImageShape) -> nn.Module:
    """The encoder of model `name` for images of `shape`; it has an `out_features` attribute."""
    check_choice("model", name, available_models())
    return MODELS[name].encoder(shape)


def build_decoder(name: str, shape: ImageShape) -> nn.Module:
    """The decoder mirroring `build_encoder(name, shape)` back to `shape`."""
    check_choice("model", name, available_models())
    return MODELS[name].decoder(shape)


def build_head(in_features: int, num_classes: int) -> nn.Linear:
    """The output layer: a dense linear map from features to class logits."""
    return nn.Linear(in_features, num_classes)
