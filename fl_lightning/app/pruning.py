"""Pruning a DAE checkpoint into a lottery ticket (step 2 of the method), from Python or
`fl-lightning prune`.

Every argument is checked when the `PruneConfig` is built, before any work is done; a bad one
raises `UsageError` naming the option. The ticket and its report are written atomically, so a
failure leaves an existing ticket intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fl_lightning.atomic import check_can_create
from fl_lightning.errors import UsageError, check_range
from fl_lightning.pruning.mask import check_no_empty_layer
from fl_lightning.pruning.ticket import Policy, Scope, Ticket, check_ticket_path, make_ticket
from fl_lightning.run_lock import RunLock


@dataclass(frozen=True)
class PruneConfig:
    """One pruning, with the options of `fl-lightning prune`.

    Args:
        checkpoint: DAE checkpoint written by `pretrain`.
        sparsity: fraction of the prunable encoder weights to remove, in [0, 1).
        output: ticket file to write (its JSON report goes beside it); None: write nothing.
        scope: `global` (one magnitude threshold over all layers) or `layer`.
        policy: weights the kept positions start from: `pretrained`, `rewind_init` or `reinit`.
        seed: model-init seed for `reinit` and for the output layer with `include_head`.
        include_head: also prune a freshly initialised output layer (default: dense head).
    """

    checkpoint: str
    sparsity: float
    output: str | None = None
    scope: Scope = "global"
    policy: Policy = "pretrained"
    seed: int = 0
    include_head: bool = False

    def __post_init__(self) -> None:
        check_range("--sparsity", self.sparsity, 0.0, 1.0)
        if self.output is not None:
            if not self.output.strip():
                raise UsageError(f"--output={self.output!r} names no file; give the ticket's path.")
            output = Path(self.output)
            check_ticket_path(output, "--output")
            check_can_create(output, "--output")


def prune(config: PruneConfig) -> Ticket:
    """The lottery ticket of `config`, saved to `config.output` (and its report) when given.

    The output is locked (`RunLock`) from before pruning until the ticket is written."""
    if config.output is None:
        return _prune(config)
    with RunLock(Path(config.output), "--output", folder=False):
        return _prune(config)


def _prune(config: PruneConfig) -> Ticket:
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
