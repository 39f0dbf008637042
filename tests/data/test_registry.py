"""Datasets from user code: registered from Python, named as module:object, or an entry point."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from fl_lightning.data.dataset_info import DatasetInfo
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.data.registry import register_dataset
from fl_lightning.data.sources import DATASETS, available_datasets, dataset_info, load_split
from fl_lightning.errors import UsageError

PLUGIN = """
import numpy as np
from fl_lightning.data.dataset_info import DatasetInfo

def load(train, root):
    rng = np.random.default_rng(0 if train else 1)
    n = 60 if train else 20
    return rng.integers(0, 17, size=(n, 4, 4)).astype(np.float64), np.arange(n) % 3

TINY = DatasetInfo("tiny", 1, 4, 4, 3, (0.5,), (0.25,), load=load, pixel_max=16.0)
NOT_A_DATASET = 42
"""


@pytest.fixture(autouse=True)
def _restore_registry() -> Iterator[None]:
    """What a test registers stays in that test (other tests list the registered names)."""
    from fl_lightning.data import registry

    saved = dict(registry.DATASET_REGISTRY.registered)
    yield
    registry.DATASET_REGISTRY.registered.clear()
    registry.DATASET_REGISTRY.registered.update(saved)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of the user's own, importable from a folder on `sys.path` (not installed)."""
    name = f"user_data_{tmp_path.name}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_a_module_object_name_loads_the_users_dataset_normalised(plugin: str) -> None:
    name = f"{plugin}:TINY"
    info = dataset_info(name)
    assert info.name == name and info.shape.height == 4 and info.num_classes == 3
    images, labels = load_split(name, train=True)
    assert images.shape == (60, 1, 4, 4) and images.dtype == torch.float32
    assert labels.tolist() == [i % 3 for i in range(60)]
    raw, _ = info.load(True, None)  # type: ignore[misc]
    expected = (torch.as_tensor(raw, dtype=torch.float32) / 16.0 - 0.5) / 0.25
    assert torch.allclose(images[:, 0], expected)
    # the data modules take it as any built-in name
    module = FederatedDataModule(dataset=name, num_clients=3, server_images=0)
    module.setup()
    assert sum(module.num_examples(c) for c in range(3)) == 60


def test_a_dataset_registered_from_python_is_loaded_by_its_own_loader() -> None:
    """Before: any name outside the MNIST pair fell through to the CIFAR-10 files."""
    images = torch.randint(0, 256, (12, 5, 5, 3), dtype=torch.uint8)  # (N, H, W, C)
    labels = torch.arange(12) % 2
    info = DatasetInfo(
        "py_registered", 3, 5, 5, 2, (0.5,) * 3, (0.5,) * 3,
        load=lambda train, root: TensorDataset(images, labels),
    )  # fmt: skip
    register_dataset(info, replace=True)
    assert "py_registered" in available_datasets()
    loaded, got = load_split("py_registered", train=False)
    assert loaded.shape == (12, 3, 5, 5) and got.tolist() == labels.tolist()
    assert torch.allclose(loaded[0, :, 1, 2], images[0, 1, 2].float() / 255 * 2 - 1)


def test_the_built_ins_are_registered_like_any_other() -> None:
    for name in ("fashion_mnist", "mnist", "cifar10"):
        assert dataset_info(name) is DATASETS[name] and DATASETS[name].load is not None


def test_unknown_or_wrong_names_are_refused_with_the_registered_ones() -> None:
    with pytest.raises(UsageError, match=r"choose one of: cifar10, fashion_mnist, mnist, or"):
        dataset_info("imagenet", "data.dataset")
    with pytest.raises(UsageError, match="no attribute 'NOPE'"):
        dataset_info("fl_lightning.errors:NOPE")
    with pytest.raises(UsageError, match="already registered"):
        register_dataset(DatasetInfo("mnist", 1, 28, 28, 10, (0.1,), (0.3,)))
    with pytest.raises(UsageError, match="mean and std need 3 values"):
        register_dataset(DatasetInfo("bad", 3, 8, 8, 10, (0.1,), (0.3,)))


def test_labels_outside_the_classes_are_refused(plugin: str) -> None:
    register_dataset(
        DatasetInfo(
            "bad_labels", 1, 2, 2, 2, (0.0,), (1.0,),
            load=lambda train, root: (np.zeros((4, 2, 2)), np.array([0, 1, 2, 1])),
        ),
        replace=True,
    )  # fmt: skip
    with pytest.raises(UsageError, match=r"labels outside 0..1"):
        load_split("bad_labels", train=True)


def test_an_installed_plugin_is_found_by_its_entry_point(
    plugin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution's `fl_lightning.datasets` entry point: its name is the dataset's name."""
    dist = tmp_path / "user_data-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: user-data\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[fl_lightning.datasets]\nep_tiny = {plugin}:TINY\n")
    assert "ep_tiny" in available_datasets()
    assert dataset_info("ep_tiny").name == "ep_tiny"
    assert load_split("ep_tiny", train=False)[0].shape == (20, 1, 4, 4)
