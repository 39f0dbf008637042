"""Finding and reading dataset files: every layout we promise, and a clear error for the rest."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fl_lightning.data.sources import DEBIAN_FASHION_MNIST, dataset_info, load_split
from fl_lightning.errors import UsageError

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Fashion-MNIST normalisation: (pixel / 255 - 0.2860) / 0.3530.
BLACK = -0.2860 / 0.3530  # -0.810198...
WHITE = (1 - 0.2860) / 0.3530  # 2.022662...


def copy_files(src: Path, dst: Path, decompress: bool = False) -> Path:
    """The four tiny IDX files of `src` in `dst`, gzipped as they are or decompressed."""
    dst.mkdir(parents=True, exist_ok=True)
    for stem in FILES:
        if decompress:
            (dst / stem).write_bytes(gzip.decompress((src / f"{stem}.gz").read_bytes()))
        else:
            shutil.copy(src / f"{stem}.gz", dst / f"{stem}.gz")
    return dst


def raw_train_images(folder: Path) -> np.ndarray:
    """The uint8 training images straight from the file (16-byte IDX header skipped)."""
    data = gzip.decompress((folder / "train-images-idx3-ubyte.gz").read_bytes())
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(-1, 28, 28)


def test_explicit_root_gives_normalised_float_images_and_int64_labels(tiny_fashion_root):
    images, labels = load_split("fashion_mnist", train=True, root=str(tiny_fashion_root))
    assert images.shape == (600, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (600,) and labels.dtype == torch.int64
    assert torch.equal(torch.bincount(labels), torch.full((10,), 60))
    raw = torch.from_numpy(raw_train_images(tiny_fashion_root).astype(np.float32))
    assert torch.allclose(images[:, 0], (raw / 255 - 0.2860) / 0.3530, atol=1e-6)
    assert images.min().item() == pytest.approx(BLACK, abs=1e-5)  # some pixels are 0
    assert images.max().item() == pytest.approx(WHITE, abs=1e-5)  # and some 255
    test_images, test_labels = load_split("fashion_mnist", train=False, root=str(tiny_fashion_root))
    assert test_images.shape == (200, 1, 28, 28) and test_labels.shape == (200,)


@pytest.mark.parametrize("decompress", [False, True], ids=["gz", "plain"])
def test_torchvision_layout_below_root_is_found(tiny_fashion_root, tmp_path, decompress):
    copy_files(tiny_fashion_root, tmp_path / "FashionMNIST" / "raw", decompress=decompress)
    images, labels = load_split("fashion_mnist", train=True, root=str(tmp_path))
    expected_images, expected_labels = load_split("fashion_mnist", True, str(tiny_fashion_root))
    assert torch.equal(images, expected_images) and torch.equal(labels, expected_labels)


def test_mnist_reads_the_same_format_with_its_own_normalisation(tiny_fashion_root):
    images, _ = load_split("mnist", train=True, root=str(tiny_fashion_root))
    assert images.shape == (600, 1, 28, 28)
    assert images.min().item() == pytest.approx(-0.1307 / 0.3081, abs=1e-5)


def test_replaced_files_are_read_again(tiny_fashion_root, tmp_path):
    root = copy_files(tiny_fashion_root, tmp_path / "root")
    first, _ = load_split("fashion_mnist", train=True, root=str(root))
    images = (root / "train-images-idx3-ubyte.gz").read_bytes()
    data = bytearray(gzip.decompress(images))
    data[16:] = bytes(len(data) - 16)  # every pixel black
    (root / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(data)))
    load_split.cache_clear()
    second, _ = load_split("fashion_mnist", train=True, root=str(root))
    assert not torch.equal(first, second)
    assert torch.allclose(second, torch.full_like(second, BLACK))


@pytest.mark.parametrize("name", ["fashion_mnist", "mnist", "cifar10"])
def test_root_without_the_files_names_the_option(tmp_path, name):
    with pytest.raises(UsageError, match=r"--data\.root="):
        load_split(name, train=True, root=str(tmp_path))


def test_root_with_only_some_files_is_refused(tiny_fashion_root, tmp_path):
    copy_files(tiny_fashion_root, tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UsageError, match=r"--data\.root=.*t10k-labels-idx1-ubyte"):
        load_split("fashion_mnist", train=True, root=str(tmp_path))


def _corrupt_truncated_gzip(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_not_gzip(path: Path) -> None:
    path.write_bytes(b"this is not a gzip file at all")


def _corrupt_truncated_idx(path: Path) -> None:
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[: len(data) // 2]))


def _corrupt_label_out_of_range(path: Path) -> None:
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[8] = 200  # first label (after the 8-byte header of a 1-D IDX file)
    path.write_bytes(gzip.compress(bytes(data)))


@pytest.mark.parametrize(
    ("stem", "corrupt"),
    [
        ("train-images-idx3-ubyte", _corrupt_truncated_gzip),
        ("train-images-idx3-ubyte", _corrupt_not_gzip),
        ("train-images-idx3-ubyte", _corrupt_truncated_idx),
        ("train-labels-idx1-ubyte", _corrupt_truncated_idx),
        ("train-labels-idx1-ubyte", _corrupt_label_out_of_range),
    ],
    ids=["truncated-gz", "not-gz", "truncated-idx", "truncated-labels", "label-200"],
)
def test_corrupt_files_give_a_usage_error_not_a_traceback(
    tiny_fashion_root, tmp_path, stem, corrupt
):
    root = copy_files(tiny_fashion_root, tmp_path)
    corrupt(root / f"{stem}.gz")
    with pytest.raises(UsageError, match=r"corrupt"):
        load_split("fashion_mnist", train=True, root=str(root))
    # No half-written staging file is left behind to be mistaken for data.
    assert not list(Path(tmp_path.parent).rglob(f".{stem}.*.tmp"))


def test_unknown_dataset_is_a_usage_error_listing_the_choices(tiny_fashion_root):
    with pytest.raises(UsageError, match=r"dataset='imagenet'.*cifar10, fashion_mnist, mnist"):
        dataset_info("imagenet")
    with pytest.raises(UsageError, match=r"dataset='imagenet'"):
        load_split("imagenet", train=True, root=str(tiny_fashion_root))


def test_dataset_info_describes_shapes():
    assert tuple(vars(dataset_info("cifar10").shape).values()) == (3, 32, 32)
    assert dataset_info("fashion_mnist").num_classes == 10


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_the_debian_package():
    images, labels = load_split("fashion_mnist", train=True)
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.float32
    assert torch.equal(torch.bincount(labels), torch.full((10,), 6000))
    # The registry's mean/std are the real ones: normalised data has mean ~0 and std ~1.
    assert abs(images.mean().item()) < 1e-3 and abs(images.std().item() - 1) < 1e-3
    test_images, test_labels = load_split("fashion_mnist", train=False)
    assert test_images.shape == (10000, 1, 28, 28)
    assert torch.equal(torch.bincount(test_labels), torch.full((10,), 1000))
