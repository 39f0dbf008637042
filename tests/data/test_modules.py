"""The data modules: image-only server batches, disjoint holdout, seeded client loaders, plots."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from PIL import Image

from fl_lightning.data.modules import FederatedDataModule, UnlabeledDataModule
from fl_lightning.data.partition import server_split
from fl_lightning.errors import UsageError
from fl_lightning.models.dae import DAEPretrainer


@pytest.fixture
def federated(tiny_fashion_root) -> FederatedDataModule:
    """5 IID clients over the 500 training images left after a holdout of 100."""
    dm = FederatedDataModule(root=str(tiny_fashion_root), num_clients=5, server_images=100)
    dm.setup()
    return dm


# --- UnlabeledDataModule -------------------------------------------------------------------


def test_unlabeled_batches_are_image_tensors_of_the_dataset_shape(tiny_fashion_root):
    dm = UnlabeledDataModule(root=str(tiny_fashion_root), num_images=100, batch_size=16)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, torch.Tensor) and batch.shape == (16, 1, 28, 28)
    train = torch.cat(list(dm.train_dataloader()))
    val = torch.cat(list(dm.val_dataloader()))
    assert (len(train), len(val)) == (90, 10)  # val_fraction=0.1 of 100


def test_unlabeled_holdout_is_the_server_split_and_images_match_it(tiny_fashion_root):
    from fl_lightning.data.sources import load_split

    dm = UnlabeledDataModule(root=str(tiny_fashion_root), num_images=50, split_seed=3)
    expected = server_split(600, 50, seed=3)[0]
    assert torch.equal(dm.indices, expected)
    images, _ = load_split("fashion_mnist", train=True, root=str(tiny_fashion_root))
    seen = torch.cat(list(dm.train_dataloader()) + list(dm.val_dataloader()))
    # Same multiset of images: compare sorted per-image sums.
    assert torch.allclose(
        seen.sum((1, 2, 3)).sort().values, images[expected].sum((1, 2, 3)).sort().values
    )


def test_unlabeled_without_validation_gives_an_empty_val_loader(tiny_fashion_root):
    dm = UnlabeledDataModule(root=str(tiny_fashion_root), num_images=20, val_fraction=0.0)
    assert dm.val_dataloader() == []
    assert sum(len(b) for b in dm.train_dataloader()) == 20


def test_unlabeled_from_another_dataset_of_the_same_shape(tiny_fashion_root):
    dm = UnlabeledDataModule(
        root=str(tiny_fashion_root), source="dataset", source_dataset="mnist", num_images=40
    )
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape[1:] == (1, 28, 28)
    assert batch.min().item() == pytest.approx(-0.1307 / 0.3081, abs=1e-4)  # MNIST's normalisation
    assert dm.hparams["source_dataset"] == "mnist"


def test_unlabeled_batches_train_the_dae(tiny_fashion_root):
    dm = UnlabeledDataModule(root=str(tiny_fashion_root), num_images=40, batch_size=8)
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(DAEPretrainer(model="mlp", images_to_log=0), datamodule=dm)
    assert torch.isfinite(trainer.callback_metrics["val/recon_loss"])


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"dataset": "imagenet"}, r"data\.dataset='imagenet'"),
        ({"source": "web"}, "data.source"),
        ({"num_images": 0}, "data.num_images"),
        ({"val_fraction": 1.0}, "data.val_fraction"),
        ({"val_fraction": -0.1}, "data.val_fraction"),
        ({"num_images": 5, "val_fraction": 0.05}, "data.val_fraction"),  # rounds to 0 val images
        ({"batch_size": 0}, "data.batch_size"),
        ({"num_workers": -1}, "data.num_workers"),
        ({"split_seed": -1}, "data.split_seed"),
        ({"source": "dataset"}, "data.source_dataset"),
        ({"source": "dataset", "source_dataset": "cifar10"}, "data.source_dataset"),
        ({"source": "dataset", "source_dataset": "svhn"}, r"data\.source_dataset='svhn'"),
        ({"source_dataset": "mnist"}, "data.source_dataset"),
    ],
)
def test_unlabeled_rejects_bad_arguments_naming_the_option(kwargs, option):
    with pytest.raises(UsageError, match=rf"{option}"):
        UnlabeledDataModule(**kwargs)


def test_unlabeled_more_images_than_the_dataset_has(tiny_fashion_root):
    dm = UnlabeledDataModule(root=str(tiny_fashion_root), num_images=601)
    with pytest.raises(UsageError, match=r"data\.num_images=601.*600"):
        dm.setup()


# --- FederatedDataModule -------------------------------------------------------------------


@pytest.mark.parametrize("server_images", [100, 150])
def test_clients_never_see_the_servers_images(tiny_fashion_root, server_images):
    server = UnlabeledDataModule(root=str(tiny_fashion_root), num_images=100)
    dm = FederatedDataModule(
        root=str(tiny_fashion_root), num_clients=5, server_images=server_images
    )
    clients = torch.cat([dm.client_indices(c) for c in range(5)])
    assert len(clients) == 600 - server_images
    assert len(clients.unique()) == len(clients)
    assert not set(clients.tolist()) & set(server.indices.tolist())


def test_setup_is_idempotent(federated):
    before = [federated.client_indices(c) for c in range(5)]
    federated.setup()
    federated.setup("fit")
    assert all(
        a is b for a, b in zip(before, [federated.client_indices(c) for c in range(5)], strict=True)
    )


def test_label_counts_add_up(federated):
    counts = federated.label_counts()
    assert counts.shape == (5, 10) and counts.dtype == torch.int64
    assert counts.sum().item() == 500
    assert counts.sum(1).tolist() == [federated.num_examples(c) for c in range(5)] == [100] * 5
    _, labels = federated.client_dataset(2).tensors
    assert torch.equal(counts[2], torch.bincount(labels, minlength=10))


def test_client_dataset_holds_that_clients_examples(federated, tiny_fashion_root):
    from fl_lightning.data.sources import load_split

    images, labels = load_split("fashion_mnist", train=True, root=str(tiny_fashion_root))
    idx = federated.client_indices(1)
    got_images, got_labels = federated.client_dataset(1).tensors
    assert torch.equal(got_images, images[idx]) and torch.equal(got_labels, labels[idx])


def test_client_dataloader_order_is_the_named_seed(federated):
    def order(seed: int, batch_size: int | None = None) -> list[torch.Tensor]:
        return [y for _, y in federated.client_dataloader(0, seed=seed, batch_size=batch_size)]

    assert all(torch.equal(a, b) for a, b in zip(order(1), order(1), strict=True))
    assert not torch.equal(torch.cat(order(1)), torch.cat(order(2)))
    batches = order(1, batch_size=30)
    assert [len(b) for b in batches] == [30, 30, 30, 10]  # 100 examples, drop_last=False
    assert len(order(1)[0]) == 32  # the module's default batch size
    images, labels = next(iter(federated.client_dataloader(0, seed=0)))
    assert images.shape == (32, 1, 28, 28) and labels.dtype == torch.int64


def test_caps_on_client_and_test_examples(tiny_fashion_root):
    capped = FederatedDataModule(
        root=str(tiny_fashion_root),
        num_clients=5,
        server_images=100,
        max_client_examples=7,
        max_test_examples=50,
        test_batch_size=20,
    )
    full = FederatedDataModule(root=str(tiny_fashion_root), num_clients=5, server_images=100)
    for c in range(5):
        assert capped.num_examples(c) == 7
        assert set(capped.client_indices(c).tolist()) <= set(full.client_indices(c).tolist())
    images, labels = capped.test_tensors()
    assert images.shape == (50, 1, 28, 28) and labels.shape == (50,)
    assert [len(y) for _, y in capped.test_dataloader()] == [20, 20, 10]
    assert full.test_tensors()[0].shape[0] == 200


@pytest.mark.parametrize("partition", ["iid", "dirichlet", "shards"])
def test_every_partition_deals_all_client_examples(tiny_fashion_root, partition):
    dm = FederatedDataModule(
        root=str(tiny_fashion_root),
        num_clients=10,
        partition=partition,
        alpha=0.3,
        min_partition_size=5,
        server_images=100,
    )
    counts = dm.label_counts()
    assert counts.sum().item() == 500
    if partition == "shards":  # 20 shards of 25 over 10 classes of ~50: <= 2 labels per shard
        assert (counts > 0).sum(1).max().item() <= 4


def test_plot_label_distribution_writes_a_png(federated, tmp_path):
    target = federated.plot_label_distribution(tmp_path / "plots" / "labels.png")
    assert target == tmp_path / "plots" / "labels.png"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(target) as image:
        image.verify()
    assert [p.name for p in target.parent.iterdir()] == ["labels.png"]  # no temporary left


def test_info_and_num_clients_need_no_setup(tiny_fashion_root):
    dm = FederatedDataModule(root=str(tiny_fashion_root), num_clients=3, dataset="mnist")
    assert dm.num_clients == 3 and dm.info.name == "mnist" and dm.info.num_classes == 10
    assert dm.hparams["num_clients"] == 3


def test_client_id_out_of_range(federated):
    with pytest.raises(UsageError, match=r"client id 5 .*0 to 4"):
        federated.num_examples(5)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"num_clients": 0}, "data.num_clients"),
        ({"partition": "pathological"}, "data.partition"),
        ({"alpha": 0.0}, "data.alpha"),
        ({"shards_per_client": 0}, "data.shards_per_client"),
        ({"min_partition_size": -1}, "data.min_partition_size"),
        ({"server_images": -1}, "data.server_images"),
        ({"max_client_examples": 0}, "data.max_client_examples"),
        ({"max_test_examples": 0}, "data.max_test_examples"),
        ({"batch_size": 0}, "data.batch_size"),
        ({"test_batch_size": 0}, "data.test_batch_size"),
        ({"dataset": "imagenet"}, r"data\.dataset='imagenet'"),
    ],
)
def test_federated_rejects_bad_arguments_naming_the_option(kwargs, option):
    with pytest.raises(UsageError, match=rf"{option}"):
        FederatedDataModule(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_clients": 501, "server_images": 100}, r"data\.num_clients=501 exceeds the 500"),
        ({"num_clients": 5, "server_images": 600}, r"data\.server_images=600 leaves no"),
        (
            {"num_clients": 300, "server_images": 100, "partition": "shards"},
            r"data\.shards_per_client=2 x data\.num_clients=300",
        ),
        (
            {
                "num_clients": 10,
                "server_images": 100,
                "partition": "dirichlet",
                "min_partition_size": 60,
            },
            r"data\.min_partition_size=60 is impossible",
        ),
    ],
)
def test_federated_setup_rejects_what_does_not_fit_the_data(tiny_fashion_root, kwargs, message):
    dm = FederatedDataModule(root=str(tiny_fashion_root), **kwargs)
    with pytest.raises(UsageError, match=message):
        dm.setup()


def test_client_batches_are_the_client_dataloaders_batches(federated):
    loader = federated.client_dataloader(3, seed=5, batch_size=30)
    batches = federated.client_batches(3, seed=5, batch_size=30)
    for _ in range(2):
        pairs = list(zip(batches, loader, strict=True))
        assert len(pairs) == 4  # 100 examples
        assert all(torch.equal(x, wx) and torch.equal(y, wy) for (x, y), (wx, wy) in pairs)
    with pytest.raises(UsageError, match="batch_size"):
        federated.client_batches(3, seed=5, batch_size=0)
