"""A user-defined model without unit structure (the bad-input case of a structured method)."""

from __future__ import annotations

import torch
from torch import nn

from fl_lightning.data.shape import ImageShape
from fl_lightning.models.model_spec import ModelSpec


class FlatEncoder(nn.Module):
    """One linear layer over the flattened image: a feature extractor with no `widths`."""

    def __init__(self, shape: ImageShape) -> None:
        super().__init__()
        self.fc = nn.Linear(shape.channels * shape.height * shape.width, 16)
        self.out_features = 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(torch.flatten(x, 1)))


NO_UNITS = ModelSpec("no_units", encoder=FlatEncoder)
