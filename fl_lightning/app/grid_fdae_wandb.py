"""The W&B run of each of the comparison's federated DAE pre-trainings (`grid_fdae`).

With the comparison's W&B on, `pretrain_fdae/<partition>/seed<S>` streams its own run, as
`fl-lightning pretrain --federated` does (`app.federated_pretraining_wandb`: job type
`pretrain`, the reconstruction loss, bytes and FLOPs of every round, the cost in its summary,
dae.ckpt as a `dae-checkpoint` Artifact), in the comparison's project and group, named after its
folder as the server pre-trainings (`pretrain/seed<S>`) and the federations
(`<partition>/<arm>/seed<S>`) are. Its offline files go to the pre-training's own folder
(`<folder>/wandb/`). A finished pre-training that the comparison reuses logs nothing; an
interrupted one continues its run (the id is in its checkpoint.pt).
"""

from __future__ import annotations

from dataclasses import replace

from fl_lightning.app.federate_groups import WandbConfig
from fl_lightning.app.grid_fdae import FOLDER


def fdae_run_name(partition: str, seed: int) -> str:
    """The W&B name of the federated pre-training of `partition` and `seed`: its folder."""
    return f"{FOLDER}/{partition}/seed{seed}"


def fdae_wandb(federation: WandbConfig, partition: str, seed: int) -> WandbConfig:
    """The W&B settings of the pre-training of `partition` and `seed`: the comparison's (on or
    off, project and group, as its federation `federation` of that partition and seed gets
    them) under the pre-training's own name."""
    return replace(federation, name=fdae_run_name(partition, seed))
