"""ResNet-8 with GroupNorm: the compact modern architecture, as the FL literature uses it.

He et al.'s CIFAR ResNet with one basic block per stage (6n + 2 layers, n = 1): conv3x3-16,
three stages of one residual block each (16, 32, 64 channels; the last two halve the image),
global average pooling to 64 features, and the suite's linear head. GroupNorm (2 groups) rather
than BatchNorm: its statistics are per example, so clients of skewed (non-IID) data share one
normalisation (Hsieh et al., 2020). About 78 thousand parameters, ~20x fewer than `cnn`.

Channel tickets: the residual additions tie every block's output channels to its input's (and
the stem's to block 1's), so those stay whole. What a channel ticket narrows is the inside of
each block: the output channels of its first conv (`block1`, `block2`, `block3`, the encoder's
width arguments, 16 / 32 / 64 by default), read only by its own second conv, with the
GroupNorm between them (`UNITS`; widths even, for 2 groups). Those two convs hold 97% of the
encoder's weights, so the ticket can remove up to ~92% of them; the stem, the 1x1 shortcuts and
the full-width residual path stay. A narrowed GroupNorm groups the kept channels in index order
(first half, second half), keeping each kept channel's own affine weight and bias.
"""

from __future__ import annotations

import torch
from torch import nn

from fl_lightning.data.shape import ImageShape
from fl_lightning.models.model_spec import ModelSpec
from fl_lightning.models.units import Unit

#: Channels of the stem and the three stages.
STAGES = (16, 32, 64)
#: GroupNorm groups (every stage's channels divide by it).
GROUPS = 2


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(GROUPS, channels)


class BasicBlock(nn.Module):
    """conv3x3 -> GN -> ReLU -> conv3x3 -> GN, plus the input (1x1 conv + GN when the shape
    changes), -> ReLU. `inner`: the first conv's output channels (default `outputs`)."""

    def __init__(self, inputs: int, outputs: int, stride: int, inner: int | None = None) -> None:
        super().__init__()
        inner = outputs if inner is None else inner
        if inner < GROUPS or inner % GROUPS:
            raise ValueError(f"inner width {inner} must be a positive multiple of {GROUPS}")
        self.conv1 = nn.Conv2d(inputs, inner, 3, stride=stride, padding=1, bias=False)
        self.norm1 = _norm(inner)
        self.conv2 = nn.Conv2d(inner, outputs, 3, padding=1, bias=False)
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
    """The feature extractor: stem, three one-block stages, global average pooling (64).

    `block1`..`block3`: channels inside each block (its first conv's outputs), narrower in a
    channel ticket; the stages' own channels (`STAGES`) never change.
    """

    def __init__(
        self,
        shape: ImageShape,
        block1: int = STAGES[0],
        block2: int = STAGES[1],
        block3: int = STAGES[2],
    ) -> None:
        super().__init__()
        self.shape = shape
        self.stem = nn.Conv2d(shape.channels, STAGES[0], 3, padding=1, bias=False)
        self.stem_norm = _norm(STAGES[0])
        self.block1 = BasicBlock(STAGES[0], STAGES[0], stride=1, inner=block1)
        self.block2 = BasicBlock(STAGES[0], STAGES[1], stride=2, inner=block2)
        self.block3 = BasicBlock(STAGES[1], STAGES[2], stride=2, inner=block3)
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
        logits: torch.Tensor = self.out(x)
        return logits


#: The block-internal channels a channel ticket narrows (see the module docstring).
UNITS = tuple(
    Unit(
        width=f"block{i}",
        layer=f"block{i}.conv1",
        follows=(f"block{i}.norm1",),
        readers=(f"block{i}.conv2",),
        multiple=GROUPS,
    )
    for i in (1, 2, 3)
)

RESNET8 = ModelSpec("resnet8", encoder=ResNet8Encoder, decoder=ResNet8Decoder, units=UNITS)
