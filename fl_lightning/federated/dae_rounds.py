"""`FederatedDAE`: the DAE pre-trained by FedAvg on the clients' own images (labels unused).

Where the server holds no unlabeled images, the denoising autoencoder (`DAEPretrainer`, the
same LightningModule as the server's pre-training) is trained where the images are: each round
the server sends the encoder and decoder (float32, the codec's payload, bytes counted), the
sampled clients train a fresh lean Trainer for `local_epochs` on their images, and the server
takes the example-weighted average. The whole autoencoder travels, encoder and decoder: a
decoder kept per client would start from scratch for the ~10 % of clients sampled in a round
and never be averaged, and one kept on the server cannot be trained without the images.

Every source of randomness is a pure function of (seed, round, client): which clients, their
batch order and the DAE's noise, so a resumed run is the uninterrupted one. The loop's state
(`state_dict`) is checkpointed after every round.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset
from typing_extensions import override

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.federated import sampling
from fl_lightning.federated.accounting import CommunicationMeter
from fl_lightning.federated.aggregate import fedavg
from fl_lightning.federated.client import ClientConfig, lean_trainer
from fl_lightning.federated.codec import encode
from fl_lightning.federated.sampling import ClientSampler, data_order_seed
from fl_lightning.models.cost import forward_flops
from fl_lightning.models.dae import DAEPretrainer
from fl_lightning.pruning.mask import Mask

#: Noise seeds are drawn apart from batch orders (the same (round, client) gives other numbers).
_NOISE_OFFSET = 7919


class _Images(Dataset[torch.Tensor]):
    """A client's images alone (labels unused): the batches `DAEPretrainer` trains on."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


class _Losses(Callback):
    """The mean training loss of a lean (barebones) Trainer's fit, which logs nothing."""

    def __init__(self) -> None:
        self.total = 0.0
        self.batches = 0

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.total += float(loss)
        self.batches += 1

    def mean(self) -> float:
        return self.total / self.batches if self.batches else float("nan")


class FederatedDAE:
    """FedAvg rounds of a `DAEPretrainer` over a `FederatedDataModule`'s clients.

    Args:
        dae: the workspace autoencoder (architecture, noise, client optimizer); its weights are
            the round-0 global model and are overwritten by each client in turn.
        data: the clients (their training images; labels unused) and the test images, whose
            reconstruction loss each round reports (never trained on).
        client: local epochs, batch size, accelerator.
        rounds: rounds to run.
        clients_per_round: a count (>= 1) or a fraction in (0, 1).
        seed: sampling, batch order and noise derive from it.
        eval_images: test images the reconstruction loss is measured on (a fixed prefix).
    """

    def __init__(
        self,
        *,
        dae: DAEPretrainer,
        data: FederatedDataModule,
        client: ClientConfig,
        rounds: int,
        clients_per_round: float,
        seed: int = 0,
        eval_images: int = 1000,
    ) -> None:
        data.setup()
        self.dae = dae
        self.data = data
        self.client = client
        self.rounds = rounds
        self.k = sampling.clients_per_round(clients_per_round, data.num_clients)
        self.seed = seed
        self.sampler = ClientSampler(seed)
        self.comm = CommunicationMeter()
        self.global_state = {k: v.detach().clone() for k, v in dae.state_dict().items()}
        self.round = 0
        self.history: list[dict[str, Any]] = []
        self.client_flops = 0.0
        self.client_seconds = 0.0
        info = data.info
        # a training step: forward + backward ~ 3 forwards of the whole autoencoder
        self.flops_per_example = 3 * forward_flops(dae, (info.channels, info.height, info.width))
        self._eval = data.test_tensors()[0][:eval_images]

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue after the last finished round."""
        return {
            "round": self.round,
            "global_state": self.global_state,
            "sampler": self.sampler.state_dict(),
            "comm": self.comm.state_dict(),
            "history": self.history,
            "client_flops": self.client_flops,
            "client_seconds": self.client_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.round = int(state["round"])
        self.global_state = dict(state["global_state"])
        self.sampler.load_state_dict(state["sampler"])
        self.comm.load_state_dict(state["comm"])
        self.history = list(state["history"])
        self.client_flops = float(state["client_flops"])
        self.client_seconds = float(state["client_seconds"])

    # -- the loop -------------------------------------------------------------------------
    def run(self, on_round: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Run the remaining rounds (`on_round` gets each row, after its state is final)."""
        while self.round < self.rounds:
            row = self.run_round(self.round + 1)
            if on_round is not None:
                on_round(row)
        self.dae.load_state_dict(self.global_state)
        return self.cost()

    def run_round(self, r: int) -> dict[str, Any]:
        """One round: broadcast, local DAE training on each sampled client, weighted mean."""
        sampled = self.sampler.sample(self.data.num_clients, self.k)
        payload = encode(self.global_state, Mask({}), with_mask=False)
        states, weights, losses = [], [], []
        for cid in sampled:
            self.comm.add_down(len(payload))
            state, loss, examples = self._train_client(r, cid)
            self.comm.add_up(len(encode(state, Mask({}), with_mask=False)))
            states.append(state)
            weights.append(examples)
            losses.append(loss)
        self.global_state = fedavg(states, weights, Mask({}))
        self.round = r
        row = {
            "round": r,
            "train/recon_loss": sum(losses) / len(losses),
            "test/recon_loss": self.reconstruction_loss(),
            **self.comm.end_round(),
            "client_flops": self.client_flops,
            "client_seconds": self.client_seconds,
        }
        self.history.append(row)
        return row

    def _train_client(self, r: int, cid: int) -> tuple[dict[str, torch.Tensor], float, int]:
        started = time.perf_counter()
        self.dae.load_state_dict(self.global_state)
        images = self.data.client_dataset(cid).tensors[0]
        order = torch.Generator().manual_seed(data_order_seed(self.seed, r, cid))
        loader: DataLoader[torch.Tensor] = DataLoader(
            _Images(images), batch_size=self.client.batch_size, shuffle=True, generator=order
        )
        # the DAE's noise (torch's global generator) from (seed, round, client): resumable
        torch.manual_seed(data_order_seed(self.seed + _NOISE_OFFSET, r, cid))
        losses = _Losses()
        trainer = lean_trainer(self.client, callbacks=[losses])
        with warnings.catch_warnings():  # `self.log` is off in a lean Trainer, on purpose
            warnings.filterwarnings("ignore", message=".*barebones.*")
            trainer.fit(self.dae, loader)
        loss = losses.mean()
        state = {k: v.detach().to("cpu").clone() for k, v in self.dae.state_dict().items()}
        self.client_flops += self.flops_per_example * len(images) * self.client.local_epochs
        self.client_seconds += time.perf_counter() - started
        return state, loss, len(images)

    @torch.no_grad()
    def reconstruction_loss(self) -> float:
        """The global DAE's denoising MSE on the fixed test images (noise seeded by round)."""
        self.dae.load_state_dict(self.global_state)
        self.dae.eval()
        torch.manual_seed(self.seed + self.round)
        x = self._eval.to(self.dae.device)
        loss = float(F.mse_loss(self.dae(self.dae.corrupt(x)), x))
        self.dae.train()
        return loss

    def cost(self) -> dict[str, Any]:
        """The pre-training's cost, as a comparison adds it to a method's: rounds, bytes each
        way, client FLOPs and seconds."""
        return {
            "rounds": self.round,
            "clients_per_round": self.k,
            "down_bytes": self.comm.down_bytes,
            "up_bytes": self.comm.up_bytes,
            "total_bytes": self.comm.total_bytes,
            "client_flops": self.client_flops,
            "client_seconds": round(self.client_seconds, 3),
        }
