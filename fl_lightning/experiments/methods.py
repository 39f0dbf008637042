"""The methods compared, as code: where each starts (init) and which subnetwork it trains (mask).

| name             | init                       | mask                                         |
| ---------------- | -------------------------- | -------------------------------------------- |
| `fedavg`         | random                     | dense                                        |
| `dae_dense`      | DAE pre-trained            | dense                                        |
| `proposed`       | DAE pre-trained            | magnitude of pre-trained weights             |
| `lth_rewind`     | random init (before DAE)   | magnitude of pre-trained weights             |
| `init_magnitude` | random                     | magnitude of random init                     |
| `random_prune`   | random                     | random, same per-layer density as `proposed` |

Every method's output layer is freshly initialised from the init seed (the same for all methods
of one seed) and dense. The engine receives only `Start.state` and `Start.mask`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from fl_lightning.errors import UsageError, check_choice
from fl_lightning.models.dae import load_dae_checkpoint
from fl_lightning.pruning.mask import Mask, check_no_empty_layer
from fl_lightning.pruning.ticket import (
    Ticket,
    fresh_state,
    init_magnitude_ticket,
    make_ticket,
    random_ticket,
)

MethodName = Literal[
    "fedavg", "dae_dense", "proposed", "lth_rewind", "init_magnitude", "random_prune"
]
METHODS: tuple[str, ...] = (
    "fedavg",
    "dae_dense",
    "proposed",
    "lth_rewind",
    "init_magnitude",
    "random_prune",
)
#: Methods that need a DAE checkpoint (unless `proposed` / `random_prune` get a ticket).
NEEDS_DAE = frozenset({"dae_dense", "proposed", "lth_rewind", "random_prune"})
#: Methods that train a pruned subnetwork (and so take a sparsity).
PRUNED = frozenset({"proposed", "lth_rewind", "init_magnitude", "random_prune"})


@dataclass
class Start:
    """Where a federation starts: the global state at round 0, its mask, and their provenance."""

    state: dict[str, torch.Tensor]
    mask: Mask
    provenance: dict[str, Any] = field(default_factory=dict)


def needs_checkpoint(method: str, ticket: str | None) -> bool:
    """Whether `method` needs a DAE checkpoint given whether a ticket was passed."""
    return method in NEEDS_DAE and not (ticket and method in ("proposed", "random_prune"))


def build_start(
    method: str,
    *,
    model: str,
    dataset: str,
    init_seed: int,
    sparsity: float,
    scope: Literal["global", "layer"] = "global",
    checkpoint: str | Path | None = None,
    ticket: str | Path | None = None,
) -> Start:
    """The initial global state and mask of `method` (see the module table).

    Args:
        method: one of `METHODS`.
        model: encoder architecture (must match the checkpoint / ticket).
        dataset: registered dataset (input shape, classes).
        init_seed: seeds the random init and the output layer.
        sparsity: fraction of prunable weights removed by the pruned methods, in [0, 1).
        scope: magnitude pruning scope: `global` or `layer`.
        checkpoint: DAE checkpoint, for the methods that need one.
        ticket: a `fl-lightning prune` ticket: the start of `proposed`, and the per-layer
            densities `random_prune` copies.
    """
    check_choice("--method", method, METHODS)
    encoder, head = fresh_state(model, dataset, init_seed)
    if method == "fedavg":
        return Start({**encoder, **head}, Mask({}), {"method": method, "init_seed": init_seed})
    if needs_checkpoint(method, str(ticket) if ticket else None) and checkpoint is None:
        raise UsageError(f"--method={method} needs a DAE checkpoint: pass --checkpoint CKPT.")
    if method == "dae_dense":
        ckpt = load_dae_checkpoint(_path(checkpoint), option="--checkpoint")
        _check_model(ckpt.model, ckpt.dataset, model, dataset, "--checkpoint")
        provenance = {
            "method": method,
            "source_checkpoint": str(ckpt.path),
            "source_sha256": ckpt.sha256,
            "holdout": ckpt.holdout,
        }
        return Start({**encoder, **head, **ckpt.encoder_state}, Mask({}), provenance)
    if method == "init_magnitude":
        t = init_magnitude_ticket(model, dataset, sparsity, scope, seed=init_seed)
    elif method == "proposed":
        t = _load_ticket(ticket) if ticket else make_ticket(_path(checkpoint), sparsity, scope)
    elif method == "lth_rewind":
        t = make_ticket(_path(checkpoint), sparsity, scope, "rewind_init")
    else:  # random_prune
        like = _load_ticket(ticket) if ticket else make_ticket(_path(checkpoint), sparsity, scope)
        t = random_ticket(model, dataset, like.mask, seed=init_seed, init_seed=init_seed)
    _check_model(t.model, t.dataset, model, dataset, "--ticket" if ticket else "--checkpoint")
    check_no_empty_layer(
        t.mask, f"--ticket={str(ticket)!r}" if ticket else f"--sparsity={sparsity}"
    )
    state = {**encoder, **head, **t.state()}
    for name, m in t.mask.items():
        state[name] = state[name] * m
    return Start(state, t.mask, {"method": method, **t.provenance})


def _path(checkpoint: str | Path | None) -> Path:
    """The checkpoint that `needs_checkpoint` guaranteed is there."""
    assert checkpoint is not None
    return Path(checkpoint)


def _load_ticket(path: str | Path) -> Ticket:
    return Ticket.load(path, option="--ticket")


def _check_model(
    found_model: str, found_dataset: str, model: str, dataset: str, option: str
) -> None:
    if found_model != model or found_dataset != dataset:
        raise UsageError(
            f"{option} was made for model {found_model!r} on {found_dataset!r}, but this run "
            f"uses model {model!r} on {dataset!r} (model.model / data.dataset)."
        )
