"""scikit-learn's handwritten digits (1,797 grey 8x8 images, bundled: nothing to download).

The dataset is a `DatasetInfo`: shape, classes, normalisation and a loader. fl_lightning finds
it by the name `fl_digits.data:DIGITS` (with this folder's parent on PYTHONPATH) or, installed,
by its entry point `digits`.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from fl_lightning.data.dataset_info import DatasetInfo

#: Images in the test split (the rest, 1,437, are the training split); fixed, as in a release.
TEST_IMAGES = 360


def load(train: bool, root: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The training or test split: `(N, 8, 8)` pixel values 0..16 and labels 0..9.

    One fixed shuffle (seed 0) before the split, so both splits hold every digit; `root` is not
    needed (the data ship with scikit-learn).
    """
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    chosen = order[TEST_IMAGES:] if train else order[:TEST_IMAGES]
    return digits.images[chosen], digits.target[chosen]


DIGITS = DatasetInfo(
    name="digits",
    channels=1,
    height=8,
    width=8,
    num_classes=10,
    mean=(0.3053,),  # of all 1,797 images scaled to [0, 1]
    std=(0.3760,),
    class_names=tuple(str(d) for d in range(10)),
    load=load,
    pixel_max=16.0,
)
