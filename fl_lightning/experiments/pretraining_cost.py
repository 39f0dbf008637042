"""What a method's DAE pre-training cost, read from its checkpoint: the compare report's
pre-training columns.

A server pre-training (`fl-lightning pretrain`) sends nothing and costs the clients nothing: 0
bytes, 0 client FLOPs and seconds, and its server FLOPs are stated (training FLOPs of one image
through the DAE x the images it trained on, `global_step` x batch size: an upper bound when the
last batch of an epoch was short). A federated one (`pretrain --federated`) costs what its
meters counted: rounds, bytes down and up, client FLOPs and seconds (its server work, the
averaging, is not counted).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from fl_lightning.data.sources import dataset_info
from fl_lightning.federated.accounting import training_flops_per_example
from fl_lightning.models.dae import DAEPretrainer, load_dae_checkpoint

#: The cost fields of every pre-training, in report order.
FIELDS = (
    "rounds",
    "total_bytes",
    "client_flops",
    "client_seconds",
    "server_flops",
)


def pretraining_cost(checkpoint: str | Path) -> dict[str, Any]:
    """`{"source": "server" | "clients", "rounds", "down_bytes", "up_bytes", "total_bytes",
    "client_flops", "client_seconds", "server_flops", "server_images"}` of the DAE checkpoint
    `checkpoint` (`server_images`: the unlabeled images the server held for it; 0 for a
    federated one, and for a server one that does not record them)."""
    return dict(_cost(str(Path(checkpoint).resolve())))


@lru_cache(maxsize=64)
def _cost(path: str) -> dict[str, Any]:
    ckpt = load_dae_checkpoint(path)
    federated = ckpt.federated_pretraining
    if federated is not None:
        return {
            "source": "clients",
            "rounds": int(federated["rounds"]),
            "down_bytes": int(federated["down_bytes"]),
            "up_bytes": int(federated["up_bytes"]),
            "total_bytes": int(federated["total_bytes"]),
            "client_flops": float(federated["client_flops"]),
            "client_seconds": float(federated["client_seconds"]),
            "server_flops": 0.0,
            "server_images": 0,
        }
    saved = torch.load(path, map_location="cpu", weights_only=True)
    data = dict(saved.get("datamodule_hyper_parameters") or {})
    images = int(saved.get("global_step", 0)) * int(data.get("batch_size", 0))
    info = dataset_info(ckpt.dataset)
    with torch.random.fork_rng():  # building it draws weights: leave the caller's stream alone
        dae = DAEPretrainer(model=ckpt.model, dataset=ckpt.dataset, images_to_log=0)
    per_image = training_flops_per_example(dae, None, (info.channels, info.height, info.width))
    return {
        "source": "server",
        "rounds": 0,
        "down_bytes": 0,
        "up_bytes": 0,
        "total_bytes": 0,
        "client_flops": 0.0,
        "client_seconds": 0.0,
        "server_flops": per_image * images,
        "server_images": ckpt.holdout["num_images"] if ckpt.holdout else 0,
    }
