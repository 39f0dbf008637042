"""The methods compared, as code: where each starts (init) and which subnetwork it trains (mask).

| name             | init                       | mask                                         |
| ---------------- | -------------------------- | -------------------------------------------- |
| `fedavg`         | random                     | dense                                        |
| `dae_dense`      | DAE pre-trained            | dense                                        |
| `proposed`       | DAE pre-trained            | magnitude of pre-trained weights             |
| `lth_rewind`     | random init (before DAE)   | magnitude of pre-trained weights             |
| `init_magnitude` | random                     | magnitude of random init                     |
| `random_prune`   | random                     | random, same per-layer density as `proposed` |
| `proposed_structured` | DAE pre-trained       | whole units by L1 of pre-trained weights     |
| `random_structured`   | random                | none: a narrow network at the same widths    |
| `proposed_fdae`  | federated DAE pre-trained  | magnitude of its weights (as `proposed`)     |
| `dae_dense_fdae` | federated DAE pre-trained  | dense (as `dae_dense`)                       |

The structured rows train a physically smaller dense network (`Start.widths`, empty mask):
every hidden layer keeps the same fraction of its units (`uniform_widths`), so both get the same
widths for a sparsity; `proposed_structured` keeps the units with the largest pre-trained
weights and their DAE values, `random_structured` trains that shape from a random init (whether
the DAE's choice and values matter).

The `_fdae` rows are `proposed` and `dae_dense` started from a DAE pre-trained by FedAvg on the
clients' own images (`fl-lightning pretrain --federated`, provenance `source: clients`) instead
of on server data; their checkpoint must be such a one.

Every method's output layer is freshly initialised from the init seed (the same for all methods
of one seed) and dense. The engine receives only `Start.state`, `Start.mask` and a model built
at `Start.widths`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import torch

from fl_lightning.errors import UsageError, check_choice
from fl_lightning.models.dae import load_dae_checkpoint
from fl_lightning.pruning.channel_ticket import channel_widths, make_channel_ticket
from fl_lightning.pruning.mask import Mask, check_no_empty_layer
from fl_lightning.pruning.ticket import (
    Ticket,
    fresh_state,
    init_magnitude_ticket,
    make_ticket,
    random_ticket,
)
from fl_lightning.recorded_paths import recorded_path

MethodName = Literal[
    "fedavg",
    "dae_dense",
    "proposed",
    "lth_rewind",
    "init_magnitude",
    "random_prune",
    "proposed_structured",
    "random_structured",
    "proposed_fdae",
    "dae_dense_fdae",
]
#: Every method, in the table's order (the Literal's values: one list to keep up to date).
METHODS: tuple[str, ...] = get_args(MethodName)
#: Methods that need a DAE checkpoint (unless the ones in `TICKET_REPLACES_DAE` get a ticket).
NEEDS_DAE = frozenset(
    {
        "dae_dense",
        "proposed",
        "lth_rewind",
        "random_prune",
        "proposed_structured",
        "proposed_fdae",
        "dae_dense_fdae",
    }
)
#: Methods whose DAE is a federated pre-training's (on the clients' images), and the method
#: each is with a server DAE.
FEDERATED_DAE: dict[str, str] = {"proposed_fdae": "proposed", "dae_dense_fdae": "dae_dense"}
#: Methods for which a `--ticket` stands in for the DAE checkpoint.
TICKET_REPLACES_DAE = frozenset({"proposed", "random_prune", "proposed_structured"})
#: Methods that train a pruned subnetwork (and so take a sparsity).
PRUNED = frozenset(
    {
        "proposed",
        "lth_rewind",
        "init_magnitude",
        "random_prune",
        "proposed_structured",
        "random_structured",
        "proposed_fdae",
    }
)
#: Methods whose subnetwork is a narrower dense model (a structured ticket), not a mask.
STRUCTURED = frozenset({"proposed_structured", "random_structured"})


@dataclass
class Start:
    """Where a federation starts: the global state at round 0, its mask, and their provenance."""

    state: dict[str, torch.Tensor]
    mask: Mask
    provenance: dict[str, Any] = field(default_factory=dict)
    #: hidden-layer widths of the model to build (empty: the family's full widths)
    widths: dict[str, int] = field(default_factory=dict)


def needs_checkpoint(method: str, ticket: str | None) -> bool:
    """Whether `method` needs a DAE checkpoint given whether a ticket was passed."""
    return method in NEEDS_DAE and not (ticket and method in TICKET_REPLACES_DAE)


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
            densities `random_prune` copies; a structured one (`--structure channel`) the start
            of `proposed_structured` and the widths `random_structured` copies.
    """
    check_choice("--method", method, METHODS)
    if method in FEDERATED_DAE:
        return _federated_dae_start(
            method,
            model=model,
            dataset=dataset,
            init_seed=init_seed,
            sparsity=sparsity,
            scope=scope,
            checkpoint=checkpoint,
        )
    if method in STRUCTURED:
        return _structured_start(
            method,
            model=model,
            dataset=dataset,
            init_seed=init_seed,
            sparsity=sparsity,
            checkpoint=checkpoint,
            ticket=ticket,
        )
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
            "source_checkpoint": recorded_path(ckpt.path),
            "source_sha256": ckpt.sha256,
            "holdout": ckpt.holdout,
        }
        return Start({**encoder, **head, **ckpt.encoder_state}, Mask({}), provenance)
    if method == "init_magnitude":
        t = init_magnitude_ticket(model, dataset, sparsity, scope, seed=init_seed)
    elif method == "proposed":
        t = (
            _check_unstructured(_load_ticket(ticket), method, ticket)
            if ticket
            else make_ticket(_path(checkpoint), sparsity, scope)
        )
    elif method == "lth_rewind":
        t = make_ticket(_path(checkpoint), sparsity, scope, "rewind_init")
    else:  # random_prune
        like = (
            _check_unstructured(_load_ticket(ticket), method, ticket)
            if ticket
            else make_ticket(_path(checkpoint), sparsity, scope)
        )
        t = random_ticket(model, dataset, like.mask, seed=init_seed, init_seed=init_seed)
    _check_model(t.model, t.dataset, model, dataset, "--ticket" if ticket else "--checkpoint")
    check_no_empty_layer(
        t.mask, f"--ticket={str(ticket)!r}" if ticket else f"--sparsity={sparsity}"
    )
    state = {**encoder, **head, **t.state()}
    for name, m in t.mask.items():
        state[name] = state[name] * m
    return Start(state, t.mask, {"method": method, **t.provenance})


def _federated_dae_start(
    method: str,
    *,
    model: str,
    dataset: str,
    init_seed: int,
    sparsity: float,
    scope: Literal["global", "layer"],
    checkpoint: str | Path | None,
) -> Start:
    """`proposed_fdae` / `dae_dense_fdae`: `proposed` / `dae_dense` from a federated DAE."""
    if checkpoint is None:
        raise UsageError(
            f"--method={method} needs a DAE checkpoint from `fl-lightning pretrain --federated`: "
            "pass --checkpoint CKPT."
        )
    ckpt = load_dae_checkpoint(_path(checkpoint), option="--checkpoint")
    if ckpt.federated_pretraining is None:
        raise UsageError(
            f"--checkpoint={str(checkpoint)!r} was pre-trained on server data; --method={method} "
            "needs one from `fl-lightning pretrain --federated` (provenance source: clients)."
        )
    start = build_start(
        FEDERATED_DAE[method],
        model=model,
        dataset=dataset,
        init_seed=init_seed,
        sparsity=sparsity,
        scope=scope,
        checkpoint=checkpoint,
    )
    provenance = {
        **start.provenance,
        "method": method,
        "federated_pretraining": ckpt.federated_pretraining,
    }
    return Start(start.state, start.mask, provenance, start.widths)


def _structured_start(
    method: str,
    *,
    model: str,
    dataset: str,
    init_seed: int,
    sparsity: float,
    checkpoint: str | Path | None,
    ticket: str | Path | None,
) -> Start:
    """`proposed_structured` / `random_structured`: a narrow dense model and an empty mask."""
    t: Ticket | None = None
    if ticket:
        t = _load_ticket(ticket)
        if not t.widths:
            raise UsageError(
                f"--ticket={str(ticket)!r} is an unstructured (masked) ticket; --method={method} "
                "needs one from `fl-lightning prune --structure channel`."
            )
        _check_model(t.model, t.dataset, model, dataset, "--ticket")
    elif method == "proposed_structured":
        if checkpoint is None:
            raise UsageError(f"--method={method} needs a DAE checkpoint: pass --checkpoint CKPT.")
        t = make_channel_ticket(_path(checkpoint), sparsity)
        _check_model(t.model, t.dataset, model, dataset, "--checkpoint")
    widths = dict(t.widths) if t is not None else channel_widths(model, dataset, sparsity)
    encoder, head = fresh_state(model, dataset, init_seed, widths)
    provenance: dict[str, Any] = {"method": method, "init_seed": init_seed, "widths": widths}
    if method == "proposed_structured":
        assert t is not None
        return Start(
            {**encoder, **head, **t.state()}, Mask({}), {**t.provenance, **provenance}, widths
        )
    if t is not None:
        provenance["widths_from_ticket"] = str(ticket)
    return Start({**encoder, **head}, Mask({}), provenance, widths)


def _check_unstructured(t: Ticket, method: str, ticket: str | Path) -> Ticket:
    if t.widths:
        raise UsageError(
            f"--ticket={str(ticket)!r} is a structured (channel) ticket; use --method "
            f"proposed_structured (or random_structured) with it, not --method={method}."
        )
    return t


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
