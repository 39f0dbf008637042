"""Shared fixtures: tiny offline datasets in the real file formats, and a quiet environment.

`tiny_fashion_root` is a folder holding the four Fashion-MNIST IDX files (gzipped), generated
here: 10 classes, each a fixed random prototype plus noise, so a model can learn them in a few
steps. Tests pass it as `root=` / `--data.root`; only `slow` tests read the real data.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (`.gz` when the name says so)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def make_idx_dataset(
    folder: Path, num_train: int = 600, num_test: int = 200, seed: int = 0
) -> Path:
    """Four learnable Fashion-MNIST-format IDX files in `folder`; returns `folder`."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(10, 28, 28))
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", num_train), ("t10k", num_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        noise = rng.normal(0, 40, size=(n, 28, 28))
        images = np.clip(prototypes[labels] + noise, 0, 255).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return folder


@pytest.fixture(scope="session")
def tiny_fashion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with tiny, learnable Fashion-MNIST-format IDX files (600 train, 200 test)."""
    return make_idx_dataset(tmp_path_factory.mktemp("tiny_fashion"))


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staged data files go to a per-session temporary cache, not the user's home."""
    monkeypatch.setenv("FL_LIGHTNING_DATA", str(tmp_path_factory.getbasetemp() / "data_cache"))
