"""What a client trains in: the kinds of workspace model, as a remote client rebuilds them.

The local engine trains every client in the one workspace model it was given. A Flower
ClientApp has no model of its own: its task names the workspace's kind (`ClientSetup.workspace`)
and carries its constructor's arguments, and `build_workspace` makes it. The kinds:

- `classifier`: a `Classifier` (`federate`: the method's masked model);
- `dae`: a `ClientDAE` (`pretrain --federated`): its corruption noise is drawn from a generator
  seeded per client and round (`client_noise_seed`), on the local engine and on Flower alike,
  so both transports train on the same noisy images.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import lightning.pytorch as pl

from fl_lightning.federated.dae_client import ClientDAE, noise_seed
from fl_lightning.models.classifier import Classifier

Workspace = Literal["classifier", "dae"]
#: The kinds of workspace model a client can rebuild.
WORKSPACES: tuple[Workspace, ...] = ("classifier", "dae")


def build_workspace(kind: str, arguments: dict[str, Any]) -> pl.LightningModule:
    """A fresh workspace model of `kind` from its keyword `arguments` (its weights are
    overwritten from each download)."""
    if kind == "classifier":
        return Classifier(**arguments)
    if kind == "dae":
        return ClientDAE(**arguments)
    raise ValueError(f"unknown workspace kind {kind!r}; allowed: {', '.join(WORKSPACES)}")


def client_noise_seed(kind: str, data_order: int, r: int, client_id: int) -> int | None:
    """The seed of `client_id`'s noise in round `r` for a workspace of `kind` (None: the
    workspace draws none), from the run's data-order seed."""
    return noise_seed(data_order, r, client_id) if kind == "dae" else None


@contextmanager
def seeded_noise(model: Any, seed: int | None) -> Iterator[None]:
    """While inside, `model` draws its noise from a generator seeded with `seed` (no-op for
    None: a workspace without noise)."""
    if seed is None:
        yield
        return
    model.seed_noise(seed)
    try:
        yield
    finally:
        model.noise_generator = None
