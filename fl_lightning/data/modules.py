"""The two data modules: the server's unlabeled images, and the clients' labeled shares.

`UnlabeledDataModule` feeds DAE pre-training with image-only batches. `FederatedDataModule` holds
the federation's data: the training set minus the server's holdout, partitioned over clients,
plus the test split. Both index into the per-process cached split of `sources.load_split`, so a
client is an index tensor, never a copy of the data (1000 clients fit in memory).

Holdout and clients are disjoint when both modules use the same `split_seed` and the federated
module's `server_images` is at least the unlabeled module's `num_images` (see `server_split`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from fl_lightning.atomic import atomic_write_bytes
from fl_lightning.data.dataset_info import DatasetInfo
from fl_lightning.data.partition import (
    PartitionName,
    make_partitioner,
    partition_scheme,
    server_split,
)
from fl_lightning.data.shuffled_batches import ShuffledBatches
from fl_lightning.data.sources import dataset_info, load_split
from fl_lightning.errors import UsageError, check_choice, check_range


def _check_int(option: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UsageError(f"{option}={value!r} must be an integer >= {low}.")


def _check_optional_int(option: str, value: object, low: int) -> None:
    if value is not None:
        _check_int(option, value, low)


def _seeded_subset(indices: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """`size` of `indices` chosen at random (all of them when `size` is larger), sorted."""
    if size >= len(indices):
        return indices
    return indices[torch.randperm(len(indices), generator=generator)[:size]].sort().values


class ImageSet(Dataset[torch.Tensor]):
    """Images `images[indices]`, one tensor per item, without copying `images`.

    `__getitems__` lets a DataLoader fetch a whole batch with one indexing operation.
    """

    def __init__(self, images: torch.Tensor, indices: torch.Tensor) -> None:
        self.images = images
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[self.indices[i]]

    def __getitems__(self, batch: list[int]) -> torch.Tensor:
        return self.images[self.indices[batch]]


def _keep_batch(batch: Any) -> torch.Tensor:
    """Collate for `ImageSet`: its `__getitems__` already returns one stacked tensor."""
    assert isinstance(batch, torch.Tensor)
    return batch


class UnlabeledDataModule(pl.LightningDataModule):
    """Image-only batches for the server's DAE pre-training, with a seeded validation split."""

    def __init__(
        self,
        dataset: str = "fashion_mnist",
        root: str | None = None,
        source: Literal["holdout", "dataset"] = "holdout",
        num_images: int = 10000,
        source_dataset: str | None = None,
        split_seed: int = 0,
        val_fraction: float = 0.1,
        batch_size: int = 128,
        num_workers: int = 0,
    ) -> None:
        """Check every argument (a bad one is a `UsageError`); the images are read in `setup`.

        Args:
            dataset: the federation's dataset; the images must have its shape.
            root: folder with the files of the dataset read here (`dataset` for `holdout`,
                `source_dataset` for `dataset`); None looks in the standard places.
            source: `holdout`: `num_images` training images of `dataset` held out from every client
                (`server_split(N, num_images, split_seed)[0]`), labels dropped; `dataset`:
                `num_images` training images of another dataset, `source_dataset`.
            num_images: how many unlabeled images the server has (>= 2 with a validation split).
            source_dataset: the other dataset for `source=dataset`; same image shape as `dataset`.
            split_seed: seeds the choice of images and the validation split; use the federated
                module's `split_seed` so holdout and clients are disjoint.
            val_fraction: share of the images kept for validation, in [0, 1).
            batch_size: images per batch (>= 1).
            num_workers: DataLoader worker processes (>= 0).
        """
        super().__init__()
        info = dataset_info(dataset, "data.dataset")
        check_choice("data.source", source, ("holdout", "dataset"))
        _check_int("data.num_images", num_images, 1)
        _check_int("data.split_seed", split_seed, 0)
        check_range("data.val_fraction", val_fraction, 0.0, 1.0)
        _check_int("data.batch_size", batch_size, 1)
        _check_int("data.num_workers", num_workers, 0)
        if source == "dataset":
            if source_dataset is None:
                raise UsageError(
                    "data.source=dataset needs data.source_dataset (e.g. mnist); "
                    "or use data.source=holdout."
                )
            other = dataset_info(source_dataset, "data.source_dataset")
            if other.shape != info.shape:
                raise UsageError(
                    f"data.source_dataset={source_dataset!r} has images of shape "
                    f"{_shape_text(other)}, but data.dataset={dataset!r} needs "
                    f"{_shape_text(info)}; choose a dataset with the same shape."
                )
        elif source_dataset is not None:
            raise UsageError(
                f"data.source_dataset={source_dataset!r} is only used with data.source=dataset "
                "(data.source=holdout takes images of data.dataset); remove it or set "
                "data.source=dataset."
            )
        num_val = round(num_images * val_fraction)
        if val_fraction > 0 and not 1 <= num_val < num_images:
            raise UsageError(
                f"data.val_fraction={val_fraction!r} of data.num_images={num_images} leaves "
                f"{num_val} validation and {num_images - num_val} training images; both "
                "need at least one (or set data.val_fraction=0)."
            )
        self.save_hyperparameters()
        self._images: torch.Tensor | None = None
        self._train_idx: torch.Tensor | None = None
        self._val_idx: torch.Tensor | None = None

    @property
    def info(self) -> DatasetInfo:
        """Shape and normalisation of the images the model sees (those of `dataset`)."""
        return dataset_info(self.hparams["dataset"])

    def setup(self, stage: str | None = None) -> None:
        """Load the split and choose the images (idempotent)."""
        if self._images is not None:
            return
        hp = self.hparams
        name = hp["dataset"] if hp["source"] == "holdout" else hp["source_dataset"]
        images, _ = load_split(name, train=True, root=hp["root"])
        chosen, _ = server_split(
            len(images), hp["num_images"], hp["split_seed"], option="data.num_images"
        )
        generator = torch.Generator().manual_seed(hp["split_seed"])
        shuffled = chosen[torch.randperm(len(chosen), generator=generator)]
        num_val = round(len(chosen) * hp["val_fraction"])
        self._val_idx = shuffled[:num_val].sort().values
        self._train_idx = shuffled[num_val:].sort().values
        self._images = images

    @property
    def indices(self) -> torch.Tensor:
        """Indices (into the training split read) of all the server's images, sorted."""
        self.setup()
        assert self._train_idx is not None and self._val_idx is not None
        return torch.cat([self._train_idx, self._val_idx]).sort().values

    def _loader(self, indices: torch.Tensor, shuffle: bool) -> DataLoader[torch.Tensor]:
        assert self._images is not None
        workers = self.hparams["num_workers"]
        return DataLoader(
            ImageSet(self._images, indices),
            batch_size=self.hparams["batch_size"],
            shuffle=shuffle,
            num_workers=workers,
            persistent_workers=workers > 0,
            collate_fn=_keep_batch,
        )

    def train_dataloader(self) -> DataLoader[torch.Tensor]:
        """Shuffled image batches `(B, C, H, W)` (order from the global seed)."""
        self.setup()
        assert self._train_idx is not None
        return self._loader(self._train_idx, shuffle=True)

    def val_dataloader(self) -> DataLoader[torch.Tensor] | list[torch.Tensor]:
        """Validation image batches; an empty list when `val_fraction` is 0."""
        self.setup()
        assert self._val_idx is not None
        if len(self._val_idx) == 0:
            return []
        return self._loader(self._val_idx, shuffle=False)


def _shape_text(info: DatasetInfo) -> str:
    return f"{info.channels}x{info.height}x{info.width}"


class FederatedDataModule(pl.LightningDataModule):
    """The clients' labeled shares of the training set, and the test split.

    The server's holdout (`server_images`, chosen by `server_split` with `split_seed`) is removed
    first; the rest is partitioned over `num_clients` clients with a partitioner seeded with
    `split_seed`. Each client is an index tensor into the cached training split.
    """

    def __init__(
        self,
        dataset: str = "fashion_mnist",
        root: str | None = None,
        num_clients: int = 100,
        partition: PartitionName = "iid",
        alpha: float = 0.5,
        shards_per_client: int = 2,
        min_partition_size: int = 10,
        server_images: int = 10000,
        split_seed: int = 0,
        max_client_examples: int | None = None,
        max_test_examples: int | None = None,
        batch_size: int = 32,
        test_batch_size: int = 1000,
    ) -> None:
        """Check every argument (a bad one is a `UsageError`); the data is read in `setup`.

        Args:
            dataset: registered dataset name (`fashion_mnist`, `mnist`, `cifar10`, a plugin's),
                or `module:object` naming a `DatasetInfo`.
            root: folder with its files; None looks in the standard places.
            num_clients: number of clients (>= 1, at most the examples left to them).
            partition: `iid`, `dirichlet` (label skew by `alpha`) or `shards` (McMahan).
            alpha: Dirichlet concentration for `dirichlet` (> 0; small is skewed).
            shards_per_client: label-sorted shards per client for `shards` (>= 1).
            min_partition_size: smallest client share `dirichlet` accepts (>= 0).
            server_images: training images held out for the server before partitioning (>= 0).
            split_seed: seeds the holdout, the partition and the per-client caps.
            max_client_examples: keep at most this many (seeded random) examples per client, for
                quick runs; None keeps all.
            max_test_examples: evaluate on at most this many (seeded random) test examples.
            batch_size: default client training batch size (>= 1).
            test_batch_size: evaluation batch size (>= 1).
        """
        super().__init__()
        dataset_info(dataset, "data.dataset")
        _check_int("data.num_clients", num_clients, 1)
        partition_scheme(partition, "data.partition")
        if not alpha > 0:
            raise UsageError(f"data.alpha={alpha!r} must be > 0 (small: skewed, large: IID).")
        _check_int("data.shards_per_client", shards_per_client, 1)
        _check_int("data.min_partition_size", min_partition_size, 0)
        _check_int("data.server_images", server_images, 0)
        _check_int("data.split_seed", split_seed, 0)
        _check_optional_int("data.max_client_examples", max_client_examples, 1)
        _check_optional_int("data.max_test_examples", max_test_examples, 1)
        _check_int("data.batch_size", batch_size, 1)
        _check_int("data.test_batch_size", test_batch_size, 1)
        self.save_hyperparameters()
        self._train: tuple[torch.Tensor, torch.Tensor] | None = None
        self._test: tuple[torch.Tensor, torch.Tensor] | None = None
        self._clients: list[torch.Tensor] | None = None
        self._holdout: torch.Tensor | None = None

    @property
    def info(self) -> DatasetInfo:
        """Shape, classes and normalisation of the dataset."""
        return dataset_info(self.hparams["dataset"])

    @property
    def num_clients(self) -> int:
        """How many clients the training set is dealt to."""
        return int(self.hparams["num_clients"])

    def setup(self, stage: str | None = None) -> None:
        """Load both splits, hold out the server's images, partition the rest (idempotent)."""
        if self._clients is not None:
            return
        hp = self.hparams
        train_images, train_labels = load_split(hp["dataset"], train=True, root=hp["root"])
        test_images, test_labels = load_split(hp["dataset"], train=False, root=hp["root"])
        num_train = len(train_labels)
        if hp["server_images"] >= num_train:
            raise UsageError(
                f"data.server_images={hp['server_images']} leaves no training examples for the "
                f"clients ({hp['dataset']} has {num_train}); lower it."
            )
        holdout, pool = server_split(
            num_train, hp["server_images"], hp["split_seed"], option="data.server_images"
        )
        if hp["num_clients"] > len(pool):
            raise UsageError(
                f"data.num_clients={hp['num_clients']} exceeds the {len(pool)} training examples "
                f"left to clients after data.server_images={hp['server_images']}; lower one."
            )
        partitioner = make_partitioner(
            hp["partition"],
            seed=hp["split_seed"],
            alpha=hp["alpha"],
            min_partition_size=hp["min_partition_size"],
            shards_per_client=hp["shards_per_client"],
        )
        clients = [
            pool[part] for part in partitioner.partition(train_labels[pool], self.num_clients)
        ]
        generator = torch.Generator().manual_seed(hp["split_seed"])
        if hp["max_client_examples"] is not None:
            clients = [_seeded_subset(c, hp["max_client_examples"], generator) for c in clients]
        if hp["max_test_examples"] is not None:
            test_generator = torch.Generator().manual_seed(hp["split_seed"])
            keep = _seeded_subset(
                torch.arange(len(test_labels)), hp["max_test_examples"], test_generator
            )
            test_images, test_labels = test_images[keep], test_labels[keep]
        self._train = (train_images, train_labels)
        self._test = (test_images, test_labels)
        self._holdout = holdout
        self._clients = clients

    def _client(self, cid: int) -> torch.Tensor:
        self.setup()
        assert self._clients is not None
        if isinstance(cid, bool) or not isinstance(cid, int) or not 0 <= cid < len(self._clients):
            raise UsageError(
                f"client id {cid!r} is out of range; allowed: 0 to {self.num_clients - 1}."
            )
        return self._clients[cid]

    def client_indices(self, cid: int) -> torch.Tensor:
        """Sorted indices (into the training split) of client `cid`'s examples."""
        return self._client(cid)

    def num_examples(self, cid: int) -> int:
        """How many training examples client `cid` holds (FedAvg's weight)."""
        return len(self._client(cid))

    def client_dataset(self, cid: int) -> TensorDataset:
        """Client `cid`'s `(images, labels)`, materialised only for the call."""
        idx = self._client(cid)
        assert self._train is not None
        images, labels = self._train
        return TensorDataset(images[idx], labels[idx])

    def client_dataloader(
        self, cid: int, seed: int, batch_size: int | None = None
    ) -> DataLoader[tuple[torch.Tensor, ...]]:
        """Client `cid`'s training batches, shuffled by a generator seeded with `seed`.

        The data-order seed is named by the caller (the engine), so a round is reproducible.
        """
        size = self.hparams["batch_size"] if batch_size is None else batch_size
        _check_int("batch_size", size, 1)
        return DataLoader(
            self.client_dataset(cid),
            batch_size=size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
            num_workers=0,
            drop_last=False,
        )

    def client_batches(self, cid: int, seed: int, batch_size: int | None = None) -> ShuffledBatches:
        """Client `cid`'s training batches in `client_dataloader`'s order (same `seed`), each cut
        from the client's stacked tensors in one indexing: what a client trains on."""
        size = self.hparams["batch_size"] if batch_size is None else batch_size
        _check_int("batch_size", size, 1)
        images, labels = self.client_dataset(cid).tensors
        return ShuffledBatches(images, labels, size, torch.Generator().manual_seed(seed))

    def test_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (possibly capped) test images `(N, C, H, W)` and labels `(N,)`."""
        self.setup()
        assert self._test is not None
        return self._test

    def test_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        """Test batches in a fixed order."""
        images, labels = self.test_tensors()
        return DataLoader(
            TensorDataset(images, labels), batch_size=self.hparams["test_batch_size"], shuffle=False
        )

    def holdout_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]] | None:
        """The server's hold-out with its labels, in a fixed order (None when `server_images` is
        0): validation data, since no client holds these images. A DAE pre-trained on the server
        saw them, unlabeled; no method ever trains on their labels."""
        self.setup()
        assert self._train is not None and self._holdout is not None
        if len(self._holdout) == 0:
            return None
        images, labels = self._train
        held = TensorDataset(images[self._holdout], labels[self._holdout])
        return DataLoader(held, batch_size=self.hparams["test_batch_size"], shuffle=False)

    def label_counts(self) -> torch.Tensor:
        """int64 `(num_clients, num_classes)`: how many examples of each class each client has."""
        self.setup()
        assert self._clients is not None and self._train is not None
        labels = self._train[1]
        classes = self.info.num_classes
        return torch.stack([torch.bincount(labels[c], minlength=classes) for c in self._clients])

    def plot_label_distribution(self, path: str | os.PathLike[str]) -> Path:
        """Write a clients x classes heatmap of `label_counts()` as a PNG (atomically)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        counts = self.label_counts()
        hp = self.hparams
        detail = {
            "iid": "",
            "dirichlet": f", alpha={hp['alpha']}",
            "shards": f", {hp['shards_per_client']} shards/client",
        }[hp["partition"]]
        figure = Figure(figsize=(min(16.0, max(6.0, 0.08 * self.num_clients)), 4.5))
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        image = axes.imshow(
            counts.T.numpy(), aspect="auto", interpolation="nearest", cmap="viridis", origin="lower"
        )
        figure.colorbar(image, ax=axes, label="examples")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("client")
        axes.set_ylabel("class")
        axes.set_yticks(range(counts.shape[1]))
        if len(self.info.class_names) == counts.shape[1]:
            axes.set_yticklabels(self.info.class_names, fontsize="small")
        axes.set_title(
            f"{hp['dataset']}: {hp['partition']} partition{detail}, {self.num_clients} clients"
        )
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        target = Path(path)
        atomic_write_bytes(target, buffer.getvalue())
        return target
