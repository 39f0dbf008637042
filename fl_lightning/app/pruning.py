"""Pruning a DAE checkpoint into a lottery ticket (step 2 of the method), from Python or
`fl-lightning prune`: a mask over single weights (`structure="unstructured"`) or a narrower
dense network without whole channels and neurons (`structure="channel"`).

Every argument is checked when the `PruneConfig` is built, before any work is done; a bad one
raises `UsageError` naming the option. The ticket and its report are written atomically and
together, so a failure (a full disk: one `UsageError` line) leaves earlier ones intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fl_lightning.atomic import check_can_create
from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.pruning.channel_ticket import STRUCTURES, Structure, make_channel_ticket
from fl_lightning.pruning.magnitude import SCOPES
from fl_lightning.pruning.mask import check_no_empty_layer
from fl_lightning.pruning.ticket import (
    POLICIES,
    Policy,
    Scope,
    Ticket,
    check_ticket_path,
    make_ticket,
)
from fl_lightning.run_lock import RunLock
from fl_lightning.write_errors import write_errors_as_usage


@dataclass(frozen=True)
class PruneConfig:
    """One pruning, with the options of `fl-lightning prune`.

    Args:
        checkpoint: DAE checkpoint written by `pretrain`.
        sparsity: fraction of the prunable encoder weights to remove, in [0, 1).
        output: ticket file to write (its JSON report goes beside it); None: write nothing.
        structure: `unstructured` (a mask over single weights) or `channel` (whole conv
            channels and hidden neurons go, by the L1 norm of their pre-trained weights, the
            same fraction of every hidden layer: a smaller dense network).
        scope: `global` (one magnitude threshold over all layers) or `layer`; unstructured
            only (a channel ticket keeps the same fraction of every layer).
        policy: weights the kept positions start from: `pretrained`, `rewind_init` or `reinit`.
        seed: model-init seed for `reinit` and for the output layer with `include_head`.
        include_head: also prune a freshly initialised output layer (default: dense head);
            unstructured only (a channel ticket's output layer keeps every class).
    """

    checkpoint: str
    sparsity: float
    output: str | None = None
    structure: Structure = "unstructured"
    scope: Scope = "global"
    policy: Policy = "pretrained"
    seed: int = 0
    include_head: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.checkpoint, str | Path):
            raise UsageError(
                f"--checkpoint={self.checkpoint!r}: allowed the path (str) of a DAE checkpoint."
            )
        check_range("--sparsity", self.sparsity, 0.0, 1.0)
        check_choice("--structure", self.structure, STRUCTURES)
        check_choice("--scope", self.scope, SCOPES)
        check_choice("--policy", self.policy, POLICIES)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UsageError(f"--seed={self.seed!r} is not an integer; allowed a whole number.")
        if not isinstance(self.include_head, bool):
            raise UsageError(f"--include_head={self.include_head!r}: allowed True or False.")
        if self.output is not None and not isinstance(self.output, str | Path):
            raise UsageError(f"--output={self.output!r}: allowed a ticket's path (str) or None.")
        if self.structure == "channel" and self.include_head:
            raise UsageError(
                "--include_head=true: with --structure channel the output layer keeps every "
                "class; allowed only with --structure unstructured."
            )
        if self.output is not None:
            if not str(self.output).strip():
                raise UsageError(f"--output={self.output!r} names no file; give the ticket's path.")
            output = Path(self.output)
            check_ticket_path(output, "--output")
            check_can_create(output, "--output")


def prune(config: PruneConfig) -> Ticket:
    """The lottery ticket of `config`, saved to `config.output` (and its report) when given.

    The output is locked (`RunLock`) from before pruning until the ticket is written."""
    if not isinstance(config, PruneConfig):
        raise UsageError(
            f"prune(config={config!r}): allowed a `fl.PruneConfig(...)`, not a "
            f"{type(config).__name__}."
        )
    if config.output is None:
        return _prune(config)
    output = Path(config.output)
    with write_errors_as_usage(output, _unchanged), RunLock(output, "--output", folder=False):
        return _prune(config)


def _unchanged() -> str:
    return (
        "neither the ticket nor its report was written (any earlier ones are unchanged); "
        "make room (or fix the folder) and prune again."
    )


def _prune(config: PruneConfig) -> Ticket:
    if config.structure == "channel":
        # Empty mask; `channel_widths` already keeps at least one unit in every layer.
        ticket = make_channel_ticket(
            config.checkpoint, config.sparsity, policy=config.policy, seed=config.seed
        )
    else:
        ticket = make_ticket(
            config.checkpoint,
            config.sparsity,
            scope=config.scope,
            policy=config.policy,
            seed=config.seed,
            include_head=config.include_head,
        )
        check_no_empty_layer(ticket.mask, f"--sparsity={config.sparsity}")
    if config.output is not None:
        ticket.save(Path(config.output))
    return ticket
