"""A small CNN for 8x8 images, written against fl_lightning's `ModelSpec` contract.

The encoder is the feature extractor (`out_features` features); the head (a linear layer) and the
DAE decoder are the suite's defaults, since the spec gives neither. Its `widths` are its unit
structure: the layers `conv1 -> conv2 -> fc` feed each other in that order, the last feeds the
head, so a channel ticket (`--method proposed_structured`) can narrow them.
"""

from __future__ import annotations

import torch
from torch import nn

from fl_lightning.data.shape import ImageShape
from fl_lightning.models.model_spec import ModelSpec


class TinyCNN(nn.Module):
    """conv3x3-`conv1` -> ReLU -> conv3x3-`conv2` -> ReLU -> maxpool2 -> fc-`fc` -> ReLU."""

    def __init__(self, shape: ImageShape, conv1: int = 16, conv2: int = 32, fc: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(shape.channels, conv1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(conv1, conv2, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(conv2 * (shape.height // 2) * (shape.width // 2), fc)
        self.out_features = fc  # the contract: the feature count the head and decoder read

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        return torch.relu(self.fc(torch.flatten(x, 1)))


TINY_CNN = ModelSpec(name="tiny_cnn", encoder=TinyCNN, widths=("conv1", "conv2", "fc"))
