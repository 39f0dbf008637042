"""ResNet-8 with GroupNorm: the compact modern architecture, as the FL literature uses it.

He et al.'s CIFAR ResNet with one basic block per stage (6n + 2 layers, n = 1): conv3x3-16,
three stages of one residual block each (16, 32, 64 channels; the last two halve the image),
global average pooling to 64 features, and the suite's linear head. GroupNorm (2 groups) rather
than BatchNorm: its statistics are per example, so clients of skewed (non-IID) data share one
normalisation (Hsieh et al., 2020). About 78 thousand parameters, ~20x fewer than `cnn`.

Its residual additions tie every block's output channels to its input's, so the chain rule of
channel tickets (`ModelSpec.widths`: each narrowed layer read only by the next) does not hold:
the family declares no unit structure, and `proposed_structured` refuses it with one line.
Unstructured tickets (masks) work as for any model.
"""

from __future__ import annotations

import torch
from torch import nn

from fl_lightning.data.shape import ImageShape
from fl_lightning.models.model_spec import ModelSpec

#: Channels of the stem and the three stages.
STAGES = (16, 32, 64)
#: GroupNorm groups (every stage's channels divide by it).
GROUPS = 2


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(GROUPS, channels)


class BasicBlock(nn.Module):
    """conv3x3 -> GN -> ReLU -> conv3x3 -> GN, plus the input (1x1 conv + GN when the shape
    changes), -> ReLU."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.norm1 = _norm(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.norm2 = _norm(outputs)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), _norm(outputs)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet8Encoder(nn.Module):
    """The feature extractor: stem, three one-block stages, global average pooling (64)."""

    def __init__(self, shape: ImageShape) -> None:
        super().__init__()
        self.shape = shape
        self.stem = nn.Conv2d(shape.channels, STAGES[0], 3, padding=1, bias=False)
        self.stem_norm = _norm(STAGES[0])
        self.block1 = BasicBlock(STAGES[0], STAGES[0], stride=1)
        self.block2 = BasicBlock(STAGES[0], STAGES[1], stride=2)
        self.block3 = BasicBlock(STAGES[1], STAGES[2], stride=2)
        self.out_features = STAGES[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem_norm(self.stem(x)))
        x = self.block3(self.block2(self.block1(x)))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


class ResNet8Decoder(nn.Module):
    """The DAE's second half: fc to 64 x (H/4) x (W/4), two stride-2 transposed convs back up
    (64 -> 32 -> 16 channels), conv3x3 to the image; linear output."""

    def __init__(self, shape: ImageShape, in_features: int) -> None:
        super().__init__()
        if shape.height % 4 or shape.width % 4:
            raise ValueError(f"resnet8's decoder needs height and width divisible by 4: {shape}")
        self.unflat_shape = (STAGES[2], shape.height // 4, shape.width // 4)
        self.fc = nn.Linear(in_features, STAGES[2] * (shape.height // 4) * (shape.width // 4))
        self.up2 = nn.ConvTranspose2d(STAGES[2], STAGES[1], 4, stride=2, padding=1)
        self.up1 = nn.ConvTranspose2d(STAGES[1], STAGES[0], 4, stride=2, padding=1)
        self.out = nn.Conv2d(STAGES[0], shape.channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc(z)).view(-1, *self.unflat_shape)
        x = torch.relu(self.up1(torch.relu(self.up2(x))))
        return self.out(x)


RESNET8 = ModelSpec("resnet8", encoder=ResNet8Encoder, decoder=ResNet8Decoder)
