"""`ImageShape`: the shape of one input image, shared by datasets and models."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageShape:
    """Shape of one input image."""

    channels: int
    height: int
    width: int
