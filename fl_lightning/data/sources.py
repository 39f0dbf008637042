"""The built-in datasets (Fashion-MNIST, MNIST, CIFAR-10), and `load_split`, which reads any
registered dataset's split into normalised tensors.

The built-ins are `DatasetInfo`s registered with `fl_lightning.data.registry.register_dataset`,
the call a user's own dataset uses too; their loaders read the files through torchvision.
Files are looked for, in order:

1. an explicit `root` (`--data.root`): the IDX / batch files directly in it, or torchvision's
   own layout below it; a root without the files is a usage error, never a silent fallback;
2. for Fashion-MNIST, the files of the Debian package `dataset-fashion-mnist`
   (`/usr/share/datasets/fashion-mnist`);
3. torchvision's download into the cache folder, which needs internet.

When none works, one `UsageError` names the dataset, every place tried and how to fix it.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from fl_lightning.data.dataset_info import DatasetInfo
from fl_lightning.data.registry import lookup, register_dataset, registered_datasets
from fl_lightning.errors import UsageError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _torchvision_split(name: str, train: bool, root: str | None) -> tuple[Any, Any]:
    """The loader of built-in dataset `name`: its torchvision dataset's images and labels."""
    ds = _open(name, root, train)
    return ds.data, ds.targets  # type: ignore[attr-defined]


DATASETS: dict[str, DatasetInfo] = {
    info.name: register_dataset(info)
    for info in (
        DatasetInfo(
            "fashion_mnist", 1, 28, 28, 10, (0.2860,), (0.3530,),
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"),
            load=functools.partial(_torchvision_split, "fashion_mnist"),
        ),
        DatasetInfo(
            "mnist", 1, 28, 28, 10, (0.1307,), (0.3081,), tuple(str(d) for d in range(10)),
            load=functools.partial(_torchvision_split, "mnist"),
        ),
        DatasetInfo(
            "cifar10", 3, 32, 32, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
            ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"),
            load=functools.partial(_torchvision_split, "cifar10"),
        ),
    )
}  # fmt: skip
"""The built-in datasets, registered like any other."""


def available_datasets() -> list[str]:
    """Registered names accepted by `dataset_info` and `load_split` (besides `module:object`
    references to a `DatasetInfo`)."""
    return registered_datasets()


def dataset_info(name: str, option: str = "dataset") -> DatasetInfo:
    """Shape, classes, normalisation and loader of dataset `name` (registered, `module:object`
    or an installed plugin's); `UsageError` naming `option` for an unknown name."""
    return lookup(name, option)


def cache_dir() -> Path:
    """Where staged and downloaded files go: `$FL_LIGHTNING_DATA` or `~/.cache/fl_lightning`."""
    env = os.environ.get("FL_LIGHTNING_DATA")
    return Path(env) if env else Path.home() / ".cache" / "fl_lightning" / "data"


def _idx_sources(folder: Path) -> dict[str, Path] | None:
    """The four MNIST-format files in `folder`, plain or gzipped; None unless all four are there."""
    found: dict[str, Path] = {}
    for stem in MNIST_FILES:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[stem] = candidate
                break
        else:
            return None
    return found


def _stage_idx(files: dict[str, Path], raw_folder: Path, name: str) -> None:
    """Copy (decompressing) IDX files into torchvision's `<root>/<Class>/raw/` layout.

    A staged copy carries its source's modification time and is redone whenever that differs,
    so replacing the source files (even by older ones) is picked up. Each copy goes through a
    unique temporary file, so concurrent processes staging the same files do not collide.
    """
    raw_folder.mkdir(parents=True, exist_ok=True)
    for stem, src in files.items():
        dst = raw_folder / stem
        src_stat = src.stat()
        if dst.is_file() and dst.stat().st_mtime_ns == src_stat.st_mtime_ns:
            continue
        fd, tmp = tempfile.mkstemp(dir=raw_folder, prefix=f".{stem}.", suffix=".tmp")
        try:
            opener = gzip.open if src.suffix == ".gz" else open
            with opener(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            os.utime(tmp, ns=(src_stat.st_atime_ns, src_stat.st_mtime_ns))
            os.replace(tmp, dst)
        except (gzip.BadGzipFile, EOFError, zlib.error) as err:  # undecompressable source
            Path(tmp).unlink(missing_ok=True)
            raise UsageError(
                f"dataset {name!r}: cannot read {src} ({type(err).__name__}: {err}); the file "
                f"may be truncated or corrupt. {_hint(name)}"
            ) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _hint(name: str) -> str:
    if name not in DATASETS:  # a plugin's dataset: its loader's own message says what failed
        return ""
    if name == "fashion_mnist":
        return (
            "Fix: run `make data` (or `apt-get install dataset-fashion-mnist`), or pass "
            "--data.root DIR with the four Fashion-MNIST IDX files."
        )
    if name == "mnist":
        return "Fix: pass --data.root DIR with the four MNIST IDX files (*-ubyte or *-ubyte.gz)."
    return "Fix: pass --data.root DIR holding `cifar-10-batches-py/` (the CIFAR-10 python version)."


def _torchvision_dataset(name: str, root: Path, train: bool, download: bool) -> object:
    from torchvision import datasets

    if name == "fashion_mnist":
        return datasets.FashionMNIST(str(root), train=train, download=download)
    if name == "mnist":
        return datasets.MNIST(str(root), train=train, download=download)
    if name == "cifar10":
        return datasets.CIFAR10(str(root), train=train, download=download)
    raise ValueError(f"{name!r} is not a torchvision dataset of this package")


def _class_folder(name: str) -> str:
    return {"fashion_mnist": "FashionMNIST", "mnist": "MNIST"}[name]


def _open(name: str, root: str | None, train: bool) -> object:
    """The torchvision dataset object, after trying every place in order."""
    tried: list[str] = []
    cache = cache_dir()
    if root is not None:
        given = Path(root).expanduser()
        if name in ("fashion_mnist", "mnist"):
            raw = given / _class_folder(name) / "raw"
            files = _idx_sources(given) or _idx_sources(raw)
            if files is None:
                raise UsageError(
                    f"--data.root={str(given)!r} does not hold the {name} files "
                    f"({', '.join(MNIST_FILES)}, optionally .gz), neither directly nor in "
                    f"{raw}. {_hint(name)}"
                )
            staged = cache / (
                "root-" + hashlib.sha1(str(given.resolve()).encode()).hexdigest()[:12]
            )
            _stage_idx(files, staged / _class_folder(name) / "raw", name)
            return _load_or_explain(name, staged, train, f"--data.root={str(given)!r}")
        if not (given / "cifar-10-batches-py").is_dir():
            raise UsageError(
                f"--data.root={str(given)!r} has no `cifar-10-batches-py/` folder. {_hint(name)}"
            )
        return _load_or_explain(name, given, train, f"--data.root={str(given)!r}")
    if name == "fashion_mnist":
        tried.append(f"Debian package dataset-fashion-mnist ({DEBIAN_FASHION_MNIST})")
        files = _idx_sources(DEBIAN_FASHION_MNIST)
        if files is not None:
            staged = cache / "debian"
            _stage_idx(files, staged / "FashionMNIST" / "raw", name)
            return _load_or_explain(name, staged, train, str(DEBIAN_FASHION_MNIST))
    tried.append(f"torchvision download into {cache}")
    try:
        return _torchvision_dataset(name, cache, train, download=True)
    except Exception as err:
        raise UsageError(
            f"dataset {name!r} not found. Tried: {'; '.join(tried)} (failed: "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
            f"{_hint(name)}"
        ) from None


def _load_or_explain(name: str, root: Path, train: bool, origin: str) -> object:
    try:
        return _torchvision_dataset(name, root, train, download=False)
    except Exception as err:
        raise UsageError(
            f"dataset {name!r} files from {origin} could not be read "
            f"({type(err).__name__}: {err}); they may be truncated or corrupt. {_hint(name)}"
        ) from None


@functools.lru_cache(maxsize=8)
def load_split(
    name: str, train: bool, root: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """All images (float32 `(N, C, H, W)`, normalised) and labels (int64 `(N,)`) of one split.

    Cached per process: federation reads the split once and slices it per client.
    """
    info = dataset_info(name)
    if info.load is None:
        raise UsageError(f"dataset {name!r} has no loader (DatasetInfo.load is None).")
    raw = info.load(train, root)
    try:
        images, labels = _as_tensors(raw)
    except UsageError:
        raise
    except Exception as err:
        raise UsageError(f"dataset {name!r}: unreadable contents ({err}). {_hint(name)}") from None
    if images.ndim == 3 and info.channels == 1:  # (N, H, W) grey
        images = images.unsqueeze(1)
    elif images.ndim == 4 and images.shape[1] != info.channels == images.shape[-1]:
        images = images.permute(0, 3, 1, 2)  # CIFAR: (N, H, W, C)
    expected = (info.channels, info.height, info.width)
    if tuple(images.shape[1:]) != expected or len(images) != len(labels) or len(images) == 0:
        raise UsageError(
            f"dataset {name!r}: images of shape {tuple(images.shape)} and {len(labels)} labels "
            f"do not match the expected (N, {expected}); the files are corrupt. {_hint(name)}"
        )
    if int(labels.min()) < 0 or int(labels.max()) >= info.num_classes:
        raise UsageError(
            f"dataset {name!r}: labels outside 0..{info.num_classes - 1} "
            f"(found {int(labels.min())}..{int(labels.max())}); the files are corrupt. "
            f"{_hint(name)}"
        )
    # In place on the fresh float copy: peak memory stays at one float copy of the split.
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    images = images.to(torch.float32, copy=True).div_(info.pixel_max).sub_(mean).div_(std)
    return images.contiguous(), labels


def _as_tensors(raw: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A loader's `(images, labels)` or `Dataset` of `(image, label)` items as two tensors."""
    if isinstance(raw, Dataset):
        items = [raw[i] for i in range(len(raw))]  # type: ignore[arg-type]
        if not items:
            return torch.empty(0), torch.empty(0, dtype=torch.int64)
        images = torch.stack([torch.as_tensor(_array(x)) for x, _ in items])
        return images, torch.tensor([int(y) for _, y in items], dtype=torch.int64)
    images, labels = raw
    return torch.as_tensor(_array(images)), torch.as_tensor(_array(labels), dtype=torch.int64)


def _array(value: Any) -> Any:
    """Tensors and numpy arrays as they are; anything else (a PIL image, lists) via numpy."""
    if isinstance(value, torch.Tensor):
        return value
    import numpy as np

    return np.asarray(value)
