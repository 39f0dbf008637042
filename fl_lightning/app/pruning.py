"""Pruning a DAE checkpoint into a lottery ticket (step 2 of the method), from Python or
`fl-lightning prune`: a mask over single weights (`structure="unstructured"`) or a narrower
dense network without whole channels and neurons (`structure="channel"`).

Every argument is checked when the `PruneConfig` is built, before any work is done; a bad one
raises `UsageError` naming the option. The ticket and its report are written atomically and
together, so a failure (a full disk: one `UsageError` line) leaves earlier ones intact.

The output never replaces a file `prune` did not write: the checkpoint it reads (`--output`
naming the same file, or its report `OUTPUT.json` the checkpoint) is refused, and so is an
existing `--output` that is not a ticket, or an existing report beside it that is not a ticket
report. An earlier ticket and its report are replaced (prune again with other options).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from fl_lightning.app.ticket_logging import PruneWandb, log_ticket
from fl_lightning.atomic import check_can_create
from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.pruning.channel_ticket import STRUCTURES, Structure, make_channel_ticket
from fl_lightning.pruning.magnitude import SCOPES, Scope
from fl_lightning.pruning.mask import check_no_empty_layer
from fl_lightning.pruning.ticket import (
    POLICIES,
    TICKET_KIND,
    Policy,
    Ticket,
    check_ticket_path,
    make_ticket,
)
from fl_lightning.run_lock import RunLock
from fl_lightning.tracking.wandb_run import check_wandb_folder
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
        wandb: W&B logging of the written ticket (an Artifact; offline by default); nothing is
            logged without `output`.
    """

    checkpoint: str
    sparsity: float
    output: str | None = None
    structure: Structure = "unstructured"
    scope: Scope = "global"
    policy: Policy = "pretrained"
    seed: int = 0
    include_head: bool = False
    wandb: PruneWandb = field(default_factory=PruneWandb)

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
        if not isinstance(self.wandb, PruneWandb):
            raise UsageError(
                f"PruneConfig(wandb={self.wandb!r}): allowed a `PruneWandb(enabled, project)`."
            )
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
            report = check_ticket_path(output, "--output")
            check_can_create(output, "--output")
            check_replaceable(output, report, Path(self.checkpoint))


def check_replaceable(output: Path, report: Path, checkpoint: Path) -> None:
    """`UsageError` unless writing the ticket `output` and its `report` replaces only what an
    earlier `prune` wrote: never the `checkpoint` it reads, never another file."""
    source = f"--checkpoint={str(checkpoint)!r}, the file it prunes"
    if _same_file(output, checkpoint):
        raise UsageError(f"--output={str(output)!r} is {source}; write the ticket to another file.")
    if _same_file(report, checkpoint):
        raise UsageError(
            f"--output={str(output)!r}: its report {str(report)!r} would replace {source}; "
            "write the ticket to another file."
        )
    if os.path.lexists(output) and not _is_ticket(output):
        raise UsageError(
            f"--output={str(output)!r} exists and is not a ticket written by `fl-lightning "
            "prune`; it is not replaced: choose another --output (or remove that file)."
        )
    if os.path.lexists(report) and not _is_ticket_report(report):
        raise UsageError(
            f"--output={str(output)!r}: its report {str(report)!r} exists and is not one written "
            "by `fl-lightning prune`; it is not replaced: choose another --output."
        )


def _same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one file (however spelt: relative, via links, hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _is_ticket(path: Path) -> bool:
    """Whether `path` is a ticket file (`Ticket.save`), read without running code."""
    try:
        data: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a torch file, a folder, unreadable, foreign pickles
        return False
    return isinstance(data, dict) and data.get("kind") == TICKET_KIND


#: Keys of every ticket report (`Ticket.report`, unstructured and structured alike).
_REPORT_KEYS = frozenset({"model", "dataset", "density", "sparsity", "layers", "provenance"})


def _is_ticket_report(path: Path) -> bool:
    """Whether `path` is a ticket's JSON report (`Ticket.report`)."""
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(report, dict) and report.keys() >= _REPORT_KEYS


def prune(config: PruneConfig, *, on_logged: Callable[[Path], None] | None = None) -> Ticket:
    """The lottery ticket of `config`, saved to `config.output` (and its report) when given,
    and then logged to W&B (`config.wandb`; `on_logged` gets the W&B run's folder).

    The output is locked (`RunLock`) from before pruning until the ticket is written."""
    if not isinstance(config, PruneConfig):
        raise UsageError(
            f"prune(config={config!r}): allowed a `fl.PruneConfig(...)`, not a "
            f"{type(config).__name__}."
        )
    if config.output is None:
        return _prune(config)
    output = Path(config.output)
    if config.wandb.enabled:
        check_wandb_folder(output.parent)  # before the work, as every check
    with write_errors_as_usage(output, _unchanged), RunLock(output, "--output", folder=False):
        ticket = _prune(config)
    with write_errors_as_usage(output.parent / "wandb", _logged_without_wandb):
        logged = log_ticket(ticket, output, config.wandb, asdict(config))
    if logged is not None and on_logged is not None:
        on_logged(logged)
    return ticket


def _logged_without_wandb() -> str:
    return (
        "the ticket and its report are written and whole (use them as they are), but their "
        "W&B run is not; make room (or fix the folder) before the next run, or pass "
        "--wandb.enabled false."
    )


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
