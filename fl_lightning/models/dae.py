"""`DAEPretrainer`: the server's unsupervised pre-training of the classifier's feature extractor.

The encoder (the classifier without its output layer) and a mirrored decoder form a denoising
autoencoder: corrupt the input, reconstruct the clean image, minimise the MSE. The encoder's
weights before and after pre-training are both kept in the checkpoint: the lottery ticket starts
from the pre-trained ones, the `rewind_init` baseline from the initial ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

from fl_lightning.data.holdout import holdout_provenance
from fl_lightning.data.sources import dataset_info
from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.models.components import build_decoder, build_encoder, model_spec
from fl_lightning.version import __version__

CHECKPOINT_KIND = "dae"


class DAEPretrainer(pl.LightningModule):
    """Denoising autoencoder whose encoder is the classifier's feature extractor."""

    def __init__(
        self,
        model: str = "cnn",
        dataset: str = "fashion_mnist",
        noise: Literal["gaussian", "masking"] = "gaussian",
        noise_std: float = 0.5,
        mask_prob: float = 0.3,
        optimizer: Literal["adam", "adamw", "sgd"] = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        images_to_log: int = 8,
    ) -> None:
        """Build the encoder and its mirrored decoder; every argument is checked here.

        Args:
            model: registered model family (`cnn`, `mlp`, a plugin's name or `module:object`).
            dataset: registered dataset whose image shape the model takes.
            noise: corruption: `gaussian` adds N(0, noise_std^2) in normalised pixel space;
                `masking` sets each pixel to black with probability `mask_prob`.
            noise_std: standard deviation of the gaussian noise (>= 0).
            mask_prob: masking probability, in [0, 1).
            optimizer: `adam`, `adamw` or `sgd` (momentum 0.9).
            lr: learning rate (> 0).
            weight_decay: L2 / decoupled weight decay (>= 0).
            images_to_log: images in the clean / noisy / reconstructed picture logged each
                validation epoch (0 turns the picture off).
        """
        super().__init__()
        model_spec(model, "model.model")
        check_choice("model.noise", noise, ("gaussian", "masking"))
        check_choice("model.optimizer", optimizer, ("adam", "adamw", "sgd"))
        check_range("model.mask_prob", mask_prob, 0.0, 1.0)
        if noise_std < 0:
            raise UsageError(f"model.noise_std={noise_std!r} must be >= 0.")
        if lr <= 0:
            raise UsageError(f"model.lr={lr!r} must be > 0.")
        if weight_decay < 0:
            raise UsageError(f"model.weight_decay={weight_decay!r} must be >= 0.")
        self.save_hyperparameters()
        info = dataset_info(dataset)
        self.encoder = build_encoder(model, info.shape)
        self.decoder = build_decoder(model, info.shape, self.encoder.out_features)  # type: ignore[arg-type]
        # one image: Lightning's model summary measures its FLOPs on it (0 without one)
        self.example_input_array = torch.zeros(1, info.channels, info.height, info.width)
        # Black in normalised space: what `masking` writes into dropped pixels.
        black = -torch.tensor(info.mean) / torch.tensor(info.std)
        self.register_buffer("black", black.view(1, -1, 1, 1), persistent=False)
        self.initial_encoder_state = prefixed_state(self.encoder, "encoder.")

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The noisy input the autoencoder has to clean."""
        if self.hparams["noise"] == "gaussian":
            noisy: torch.Tensor = x + self.hparams["noise_std"] * torch.randn_like(x)
            return noisy
        drop = torch.rand_like(x[:, :1]) < self.hparams["mask_prob"]
        black: torch.Tensor = self.black  # type: ignore[assignment]
        return torch.where(drop, black.expand_as(x), x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.decoder(self.encoder(x))
        return out

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = F.mse_loss(self(self.corrupt(batch)), batch)
        self.log("train/recon_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        noisy = self.corrupt(batch)
        recon = self(noisy)
        self.log("val/recon_loss", F.mse_loss(recon, batch), prog_bar=True)
        if batch_idx == 0 and self.hparams["images_to_log"] > 0:
            self._log_reconstructions(batch, noisy, recon)

    def _log_reconstructions(
        self, clean: torch.Tensor, noisy: torch.Tensor, recon: torch.Tensor
    ) -> None:
        """Clean / noisy / reconstructed rows as one picture, to W&B or TensorBoard."""
        from torchvision.utils import make_grid

        if self.logger is None or self.trainer.sanity_checking:
            return
        n = min(self.hparams["images_to_log"], clean.shape[0])
        info = dataset_info(self.hparams["dataset"])
        mean = torch.tensor(info.mean, device=clean.device).view(1, -1, 1, 1)
        std = torch.tensor(info.std, device=clean.device).view(1, -1, 1, 1)
        rows = torch.cat([clean[:n], noisy[:n], recon[:n]]) * std + mean
        grid = make_grid(rows.clamp(0, 1).cpu(), nrow=n, padding=2)
        experiment = getattr(self.logger, "experiment", None)
        if hasattr(self.logger, "log_image"):  # WandbLogger
            self.logger.log_image(
                key="val/reconstructions",
                images=[to_uint8_image(grid)],
                caption=["rows: clean / noisy / reconstructed"],
                step=self.global_step,
            )
        elif experiment is not None and hasattr(experiment, "add_image"):  # TensorBoardLogger
            experiment.add_image("val/reconstructions", grid, self.global_step)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        lr, wd = self.hparams["lr"], self.hparams["weight_decay"]
        name = self.hparams["optimizer"]
        if name == "adam":
            return torch.optim.Adam(self.parameters(), lr=lr, weight_decay=wd)
        if name == "adamw":
            return torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=wd)
        return torch.optim.SGD(self.parameters(), lr=lr, momentum=0.9, weight_decay=wd)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["initial_encoder_state"] = self.initial_encoder_state
        checkpoint["fl_lightning"] = {
            "kind": CHECKPOINT_KIND,
            "model": self.hparams["model"],
            "dataset": self.hparams["dataset"],
            "version": __version__,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "initial_encoder_state" in checkpoint:
            self.initial_encoder_state = checkpoint["initial_encoder_state"]


def to_uint8_image(grid: torch.Tensor) -> Any:
    """A CHW float picture in [0, 1] as an HWC uint8 array (0..255), as W&B renders it.

    wandb casts float arrays to uint8 without scaling, so a [0, 1] float picture comes out
    black; scaling here keeps the contrast.
    """
    scaled = (grid.detach().clamp(0, 1) * 255).round().to(torch.uint8)
    return scaled.permute(1, 2, 0).cpu().numpy()


def prefixed_state(module: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """A detached CPU copy of `module.state_dict()` with `prefix` before every key."""
    return {prefix + k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file: provenance for tickets and results."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class DAECheckpoint:
    """What federation needs from a DAE checkpoint: both encoder states and where they came from."""

    model: str
    dataset: str
    encoder_state: dict[str, torch.Tensor]
    initial_encoder_state: dict[str, torch.Tensor]
    path: Path
    sha256: str
    hparams: dict[str, Any] = field(default_factory=dict)
    #: the held-out images it was pre-trained on (`holdout_provenance`); None if not recorded
    holdout: dict[str, Any] | None = None
    #: what a federated pre-training cost (`pretrain --federated`: rounds, bytes, client FLOPs
    #: and seconds); None for a server pre-training (no traffic)
    federated_pretraining: dict[str, Any] | None = None


def load_dae_checkpoint(path: str | Path, option: str = "--checkpoint") -> DAECheckpoint:
    """Read a `DAEPretrainer` checkpoint; `UsageError` (naming `option`) for anything else."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(
            f"{option}={str(path)!r}: no such file. Run `fl-lightning pretrain` first."
        )
    try:
        # weights_only: a crafted checkpoint must not run code when loaded
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unreadable, truncated, not a torch file, objects beyond data
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(
            f"{option}={str(path)!r} is not a readable checkpoint ({reason})."
        ) from None
    meta = ckpt.get("fl_lightning") if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or meta.get("kind") != CHECKPOINT_KIND:
        raise UsageError(
            f"{option}={str(path)!r} is not a DAE checkpoint written by `fl-lightning pretrain`."
        )
    try:
        model_spec(meta.get("model"), "model")  # type: ignore[arg-type]
    except UsageError as err:
        raise UsageError(f"{option}={str(path)!r} holds a model not known here: {err}") from None
    state = ckpt["state_dict"]
    encoder_state = {k: v for k, v in state.items() if k.startswith("encoder.")}
    initial = ckpt.get("initial_encoder_state")
    if not encoder_state or not initial:
        raise UsageError(
            f"{option}={str(path)!r} has no encoder weights; it is not a DAE checkpoint."
        )
    return DAECheckpoint(
        model=meta["model"],
        dataset=meta["dataset"],
        encoder_state=encoder_state,
        initial_encoder_state=dict(initial),
        path=path.resolve(),
        sha256=file_sha256(path),
        hparams=dict(ckpt.get("hyper_parameters", {})),
        holdout=holdout_provenance(ckpt.get("datamodule_hyper_parameters")),
        federated_pretraining=(ckpt.get("provenance") or {}).get("federated_pretraining"),
    )
