"""Reconstruction loss per image seen: the federated DAE (per round) against the server DAE.

The federated curve is the pre-training's own `test/recon_loss` per round (metrics.csv of a
`pretrain --federated` run; images seen = cumulative client FLOPs / FLOPs per image). The server
curve re-runs the server pre-training of `--server_config` (same hold-out, epochs, batch size,
optimizer, noise and seed) with a `ClientDAE` and measures the same loss (the same test images,
the same fixed evaluation noise) every `--every` images. Both finished checkpoints are measured
the same way too (`--server_checkpoint`, `--fdae`'s dae.ckpt): the headline gap.

    python benchmarks/recon_loss_curves.py \
        --fdae runs/compare/reduced_fdae/pretrain_fdae/iid/seed0 \
        --server_config configs/pretrain/fashion_mnist.yaml --epochs 2 \
        --server_checkpoint runs/compare/reduced_fdae/pretrain/seed0/dae.ckpt \
        --test_images 2000 --output results/fashion_mnist_fdae

Writes recon_loss.png and recon_loss.json in `--output`.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import yaml
from lightning.pytorch.callbacks import Callback

from fl_lightning.data.modules import FederatedDataModule, UnlabeledDataModule
from fl_lightning.federated.dae_client import ClientDAE


def test_loader(dataset: str, test_images: int) -> Any:
    """The test images the federated pre-training evaluated on (its `max_test_examples`)."""
    data = FederatedDataModule(
        dataset=dataset, num_clients=1, server_images=0, max_test_examples=test_images
    )
    data.setup()
    return data.test_dataloader()


def checkpoint_loss(path: Path, loader: Any) -> float:
    """The reconstruction loss of a DAE checkpoint's weights on `loader` (fixed noise)."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    hp = saved["hyper_parameters"]
    dae = ClientDAE(
        model=hp["model"], dataset=hp["dataset"], noise=hp["noise"], noise_std=hp["noise_std"],
        mask_prob=hp["mask_prob"], images_to_log=0,
    )  # fmt: skip
    dae.load_state_dict(saved["state_dict"])
    return dae.reconstruction_loss(loader)


class EveryImages(Callback):
    """Measures the test reconstruction loss every `every` training images (and at 0)."""

    def __init__(self, loader: Any, every: int, batch_size: int) -> None:
        self.loader, self.every, self.batch_size = loader, every, batch_size
        self.points: list[tuple[int, float]] = []
        self.seen = 0

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.points.append((0, module.reconstruction_loss(self.loader)))  # type: ignore[operator]

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        before = self.seen
        self.seen += len(args[1]) if isinstance(args[1], torch.Tensor) else self.batch_size
        if self.seen // self.every > before // self.every:
            self.points.append((self.seen, module.reconstruction_loss(self.loader)))


def server_curve(config: dict[str, Any], epochs: int, loader: Any, every: int) -> Any:
    """Re-run the server pre-training of `config` for `epochs`, measuring as it goes."""
    model, data = dict(config["model"]), dict(config["data"])
    pl.seed_everything(int(config.get("seed_everything", 0)), verbose=False)
    model.pop("images_to_log", None)
    dae = ClientDAE(images_to_log=0, dataset=data["dataset"], **model)
    module = UnlabeledDataModule(**data)
    probe = EveryImages(loader, every, int(data.get("batch_size", 128)))
    trainer = pl.Trainer(
        max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", devices=1, callbacks=[probe],
        limit_val_batches=0, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(dae, datamodule=module)
    if probe.points[-1][0] != probe.seen:
        probe.points.append((probe.seen, dae.reconstruction_loss(loader)))
    return probe.points


def federated_curve(folder: Path) -> list[tuple[int, float]]:
    """(images seen, test/recon_loss) per round of a `pretrain --federated` run."""
    summary = json.loads((folder / "summary.json").read_text())
    per_image = float(summary["flops_per_example"])
    with (folder / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    return [
        (round(float(r["compute/cum_flops"]) / per_image), float(r["test/recon_loss"]))
        for r in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fdae", type=Path, required=True)
    parser.add_argument("--server_config", type=Path, required=True)
    parser.add_argument("--server_checkpoint", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--test_images", type=int, default=2000)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    config = yaml.safe_load(args.server_config.read_text())
    dataset = config["data"]["dataset"]
    loader = test_loader(dataset, args.test_images)
    federated = federated_curve(args.fdae)
    initial = checkpoint_loss_initial(args.fdae / "dae.ckpt", loader)
    server = server_curve(config, args.epochs, loader, args.every)
    finals = {
        "server_checkpoint": checkpoint_loss(args.server_checkpoint, loader),
        "federated_checkpoint": checkpoint_loss(args.fdae / "dae.ckpt", loader),
    }
    record = {
        "test_images": args.test_images,
        "federated": [[0, initial], *map(list, federated)],
        "server_rerun": [list(p) for p in server],
        "final": finals,
        "federated_over_server": finals["federated_checkpoint"] / finals["server_checkpoint"],
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "recon_loss.json").write_text(json.dumps(record, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(6, 4))
    fx, fy = zip(*record["federated"], strict=True)
    sx, sy = zip(*record["server_rerun"], strict=True)
    ax.plot(fx, fy, marker="o", markersize=3, label="federated DAE (one point per round)")
    ax.plot(sx, sy, marker=".", markersize=3, label="server DAE (re-run, same config)")
    ax.set_xlabel("training images seen")
    ax.set_ylabel(f"test reconstruction MSE ({args.test_images} images, fixed noise)")
    ax.set_title("DAE pre-training: federated vs server")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output / "recon_loss.png", dpi=120)
    print(json.dumps(record["final"]), record["federated_over_server"])


def checkpoint_loss_initial(path: Path, loader: Any) -> float:
    """The loss of the checkpoint's *initial* weights (its encoder before pre-training, with
    the decoder of the same seeded initialisation): the curves' common start."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    hp = saved["hyper_parameters"]
    torch.manual_seed(0)
    dae = ClientDAE(
        model=hp["model"], dataset=hp["dataset"], noise=hp["noise"], noise_std=hp["noise_std"],
        mask_prob=hp["mask_prob"], images_to_log=0,
    )  # fmt: skip
    initial = saved["initial_encoder_state"]
    assert all(torch.equal(v, dae.state_dict()[k]) for k, v in initial.items())
    return dae.reconstruction_loss(loader)


if __name__ == "__main__":
    main()
