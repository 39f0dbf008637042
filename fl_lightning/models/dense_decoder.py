"""`DenseDecoder`: the DAE decoder a model gets when its `ModelSpec` brings none."""

from __future__ import annotations

import torch
from torch import nn

from fl_lightning.data.shape import ImageShape


class DenseDecoder(nn.Module):
    """Features `(N, in_features)` -> fc-`hidden` -> ReLU -> fc to every pixel -> `(N, C, H, W)`.

    Architecture-agnostic: it needs only the encoder's feature count, so any encoder can be
    pre-trained as a denoising autoencoder. Linear output (the images are normalised).
    """

    def __init__(self, shape: ImageShape, in_features: int, hidden: int = 256) -> None:
        super().__init__()
        self.shape = shape
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, shape.channels * shape.height * shape.width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc2(torch.relu(self.fc1(z)))
        image: torch.Tensor = x.view(-1, self.shape.channels, self.shape.height, self.shape.width)
        return image
