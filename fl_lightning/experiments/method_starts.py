"""How each method's start is built: the builders the records of `experiments.methods` name.

A builder takes the method's name (for its messages and provenance) and the `StartInputs`, and
returns the `Start`: the global state at round 0, its mask and their provenance. Every start's
output layer is freshly initialised from the init seed and dense.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from fl_lightning.errors import UsageError
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


@dataclass
class Start:
    """Where a federation starts: the global state at round 0, its mask, and their provenance."""

    state: dict[str, torch.Tensor]
    mask: Mask
    provenance: dict[str, Any] = field(default_factory=dict)
    #: hidden-layer widths of the model to build (empty: the family's full widths)
    widths: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StartInputs:
    """What a start is built from (`build_start`'s arguments but the method).

    Args:
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

    model: str
    dataset: str
    init_seed: int
    sparsity: float
    scope: Literal["global", "layer"] = "global"
    checkpoint: str | Path | None = None
    ticket: str | Path | None = None


#: Builds method `name`'s start from the inputs.
StartBuilder = Callable[[str, StartInputs], Start]
#: The ticket (mask and kept weights) of a masked method, from its name and the inputs.
TicketOf = Callable[[str, StartInputs], Ticket]


def random_dense_start(method: str, i: StartInputs) -> Start:
    """The random init, dense (`fedavg`)."""
    encoder, head = fresh_state(i.model, i.dataset, i.init_seed)
    return Start({**encoder, **head}, Mask({}), {"method": method, "init_seed": i.init_seed})


def dae_dense_start(method: str, i: StartInputs) -> Start:
    """The DAE checkpoint's encoder, dense (`dae_dense`)."""
    encoder, head = fresh_state(i.model, i.dataset, i.init_seed)
    ckpt = load_dae_checkpoint(_required_checkpoint(method, i), option="--checkpoint")
    _check_model(ckpt.model, ckpt.dataset, i.model, i.dataset, "--checkpoint")
    provenance = {
        "method": method,
        "source_checkpoint": recorded_path(ckpt.path),
        "source_sha256": ckpt.sha256,
        "holdout": ckpt.holdout,
    }
    return Start({**encoder, **head, **ckpt.encoder_state}, Mask({}), provenance)


def masked_start(ticket_of: TicketOf) -> StartBuilder:
    """The builder of a masked method whose ticket `ticket_of` makes: the ticket's kept weights
    over the random init, zero where pruned."""

    def build(method: str, i: StartInputs) -> Start:
        encoder, head = fresh_state(i.model, i.dataset, i.init_seed)
        t = ticket_of(method, i)
        option = "--ticket" if i.ticket else "--checkpoint"
        _check_model(t.model, t.dataset, i.model, i.dataset, option)
        check_no_empty_layer(
            t.mask, f"--ticket={str(i.ticket)!r}" if i.ticket else f"--sparsity={i.sparsity}"
        )
        state = {**encoder, **head, **t.state()}
        for name, m in t.mask.items():
            state[name] = state[name] * m
        return Start(state, t.mask, {"method": method, **t.provenance})

    return build


def pretrained_magnitude_ticket(method: str, i: StartInputs) -> Ticket:
    """`proposed`: the `--ticket`, or the DAE checkpoint pruned by magnitude."""
    if i.ticket:
        return _check_unstructured(_load_ticket(i.ticket), method, i.ticket)
    return make_ticket(_required_checkpoint(method, i), i.sparsity, i.scope)


def rewound_ticket(method: str, i: StartInputs) -> Ticket:
    """`lth_rewind`: the pre-trained magnitude mask over the weights before pre-training."""
    return make_ticket(_required_checkpoint(method, i), i.sparsity, i.scope, "rewind_init")


def init_magnitude_ticket_of(method: str, i: StartInputs) -> Ticket:
    """`init_magnitude`: the random init pruned by its own magnitudes."""
    return init_magnitude_ticket(i.model, i.dataset, i.sparsity, i.scope, seed=i.init_seed)


def random_mask_ticket(method: str, i: StartInputs) -> Ticket:
    """`random_prune`: a random mask at `proposed`'s per-layer densities over the random init."""
    like = pretrained_magnitude_ticket(method, i)
    return random_ticket(i.model, i.dataset, like.mask, seed=i.init_seed, init_seed=i.init_seed)


def proposed_structured_start(method: str, i: StartInputs) -> Start:
    """A narrow dense model of the units with the largest pre-trained weights, at their DAE
    values (the `--ticket`'s, or the checkpoint cut to the sparsity's widths); empty mask."""
    t = _channel_ticket(method, i)
    if t is None:
        t = make_channel_ticket(_required_checkpoint(method, i), i.sparsity)
        _check_model(t.model, t.dataset, i.model, i.dataset, "--checkpoint")
    widths = dict(t.widths)
    encoder, head = fresh_state(i.model, i.dataset, i.init_seed, widths)
    provenance: dict[str, Any] = {"method": method, "init_seed": i.init_seed, "widths": widths}
    return Start({**encoder, **head, **t.state()}, Mask({}), {**t.provenance, **provenance}, widths)


def random_structured_start(method: str, i: StartInputs) -> Start:
    """A narrow dense model from a random init, at the `--ticket`'s widths or the same widths
    `proposed_structured` gets for the sparsity; empty mask."""
    t = _channel_ticket(method, i)
    widths = dict(t.widths) if t is not None else channel_widths(i.model, i.dataset, i.sparsity)
    encoder, head = fresh_state(i.model, i.dataset, i.init_seed, widths)
    provenance: dict[str, Any] = {"method": method, "init_seed": i.init_seed, "widths": widths}
    if t is not None:
        provenance["widths_from_ticket"] = str(i.ticket)
    return Start({**encoder, **head}, Mask({}), provenance, widths)


def _channel_ticket(method: str, i: StartInputs) -> Ticket | None:
    """The `--ticket` of a structured method, checked to be a channel ticket of this model."""
    if not i.ticket:
        return None
    t = _load_ticket(i.ticket)
    if not t.widths:
        raise UsageError(
            f"--ticket={str(i.ticket)!r} is an unstructured (masked) ticket; --method={method} "
            "needs one from `fl-lightning prune --structure channel`."
        )
    _check_model(t.model, t.dataset, i.model, i.dataset, "--ticket")
    return t


def _check_unstructured(t: Ticket, method: str, ticket: str | Path) -> Ticket:
    if t.widths:
        raise UsageError(
            f"--ticket={str(ticket)!r} is a structured (channel) ticket; use --method "
            f"proposed_structured (or random_structured) with it, not --method={method}."
        )
    return t


def _required_checkpoint(method: str, i: StartInputs) -> Path:
    """The DAE checkpoint `method` starts from; a `UsageError` when none was given."""
    if i.checkpoint is None:
        raise UsageError(f"--method={method} needs a DAE checkpoint: pass --checkpoint CKPT.")
    return Path(i.checkpoint)


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
