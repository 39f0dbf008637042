"""`DatasetInfo`: what the suite needs to know about an image dataset, and how to load it.

This is the object a dataset plugin defines (see `fl_lightning.data.registry`): the built-in
datasets are `DatasetInfo`s registered in `fl_lightning.data.sources`, a user's is one in the
user's own module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fl_lightning.data.shape import ImageShape

#: `load(train, root)`: the split's images and labels, or a `torch.utils.data.Dataset` of
#: `(image, label)` items. Images: `(N, H, W)`, `(N, C, H, W)` or `(N, H, W, C)` arrays or
#: tensors with values in `[0, pixel_max]`; labels: integers in `[0, num_classes)`. `root` is
#: `--data.root` (None when not given); a loader that needs no files may ignore it.
Loader = Callable[[bool, "str | None"], Any]


@dataclass(frozen=True)
class DatasetInfo:
    """Shape, classes and normalisation of a dataset, and the function that reads its splits.

    Args:
        name: the name users type (`--data.dataset`); a `module:object` reference replaces it
            by the reference itself, so the name alone finds the dataset again.
        channels, height, width: the shape of one image.
        num_classes: labels are `0 .. num_classes - 1`.
        mean, std: per channel, of the images scaled to [0, 1]; the loaded images are
            `(x / pixel_max - mean) / std`.
        class_names: label -> name (plots and reports); may be empty.
        load: the loader (`Loader`); None only for a description that is never loaded.
        pixel_max: the raw pixel value that means white (255 for 8-bit images).
    """

    name: str
    channels: int
    height: int
    width: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: label -> name, as the dataset's authors give them (plots and reports)
    class_names: tuple[str, ...] = ()
    load: Loader | None = field(default=None, compare=False, repr=False)
    pixel_max: float = 255.0

    @property
    def shape(self) -> ImageShape:
        return ImageShape(self.channels, self.height, self.width)

    def problems(self) -> list[str]:
        """What is wrong with this description (empty when nothing is)."""
        found = []
        for key in ("channels", "height", "width", "num_classes"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                found.append(f"{key}={value!r} must be an int >= 1")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            found.append(f"mean and std need {self.channels} values (one per channel)")
        if any(not s > 0 for s in self.std):
            found.append(f"std={self.std!r} must be > 0")
        if not self.pixel_max > 0:
            found.append(f"pixel_max={self.pixel_max!r} must be > 0")
        if self.load is not None and not callable(self.load):
            found.append("load must be callable as load(train, root)")
        return found
