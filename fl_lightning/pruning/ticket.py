"""`Ticket`: the lottery ticket handed to federation: encoder weights, a Mask, and provenance.

`make_ticket` builds the proposed method's ticket from a DAE checkpoint: the mask comes from the
magnitudes of the *pre-trained* encoder weights, the weights from a policy (`pretrained`,
`rewind_init`, `reinit`). `init_magnitude_ticket` and `random_ticket` build the baselines of the
same name. Every ticket stores its weights with the pruned positions already at zero.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from fl_lightning.atomic import atomic_write_files, json_bytes, torch_bytes
from fl_lightning.data.sources import dataset_info
from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.models.components import build_encoder, build_head
from fl_lightning.models.dae import load_dae_checkpoint, prefixed_state
from fl_lightning.pruning.callback import MASK_CHECKPOINT_KEY
from fl_lightning.pruning.magnitude import (
    SCOPES,
    Scope,
    magnitude_prune,
    prunable_names,
    random_prune,
)
from fl_lightning.pruning.mask import Mask
from fl_lightning.pruning.ticket_checks import TICKET_FORMAT, ticket_problem
from fl_lightning.recorded_paths import recorded_path
from fl_lightning.version import __version__

Policy = Literal["pretrained", "rewind_init", "reinit"]
POLICIES: tuple[str, ...] = ("pretrained", "rewind_init", "reinit")
TICKET_KIND = "fl_lightning_ticket"

State = dict[str, torch.Tensor]


@dataclass
class Ticket:
    """Weights and mask federation starts from, and where they came from.

    `encoder_state` holds `encoder.*` entries (a full encoder state dict), `head_state` the
    `head.*` entries when the output layer is pruned too (empty otherwise: the classifier's head
    stays freshly initialised and dense). Pruned positions are zero in both.

    A *structured* ticket (`widths` non-empty, see `channel_ticket.make_channel_ticket`) is a
    narrower dense encoder: its mask is empty and its weights have the narrow shapes; a
    classifier built with `widths` holds it. `provenance["cost"]` has its before/after counts.
    """

    model: str
    dataset: str
    encoder_state: State
    mask: Mask
    provenance: dict[str, Any] = field(default_factory=dict)
    head_state: State = field(default_factory=dict)
    widths: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.encoder_state or not all(k.startswith("encoder.") for k in self.encoder_state):
            raise ValueError("a ticket's encoder_state must hold encoder.* entries only")
        if not all(k.startswith("head.") for k in self.head_state):
            raise ValueError("a ticket's head_state must hold head.* entries only")
        self.mask.validate_against(self.state())
        if self.widths and len(self.mask):
            raise ValueError("a structured ticket (with widths) has an empty mask")

    def __repr__(self) -> str:
        """One line of what the ticket is (not its tensors, which print as pages of numbers):
        model, dataset, structure, sparsity and density, weights kept, parameters, how made."""
        report = self.report()
        params = sum(t.numel() for t in self.state().values())
        made = {k: self.provenance.get(k) for k in ("scope", "policy", "method")}
        how = ", ".join(f"{k}={v!r}" for k, v in made.items() if v is not None)
        if self.widths:
            shape = f"widths={dict(self.widths)} of {report['full_widths']}"
            cost = report.get("params") or {}
            count = f"classifier parameters {cost.get('before', 0):,} -> {cost.get('after', 0):,}"
        else:
            shape = f"{report['kept']:,} of {report['total']:,} prunable weights kept"
            count = f"{params:,} parameters stored"
        source = self.provenance.get("source_checkpoint")
        origin = f", from {Path(source).name!r}" if source else ""
        return (
            f"Ticket(model={self.model!r}, dataset={self.dataset!r}, "
            f"structure={self.structure!r}, sparsity={report['sparsity']:.4f}, "
            f"density={report['density']:.4f}: {shape}; {count}"
            f"{'; ' + how if how else ''}{origin})"
        )

    @property
    def structure(self) -> str:
        """`channel` for a structured ticket (a narrower model), else `unstructured` (a mask)."""
        return "channel" if self.widths else "unstructured"

    @property
    def sparsity(self) -> float:
        """The sparsity the ticket was pruned at (`prune --sparsity`, in its provenance); for a
        ticket without that record, the fraction of its masked weights that are pruned."""
        recorded = self.provenance.get("sparsity")
        return float(recorded) if recorded is not None else self.mask.sparsity

    def state(self) -> State:
        """Encoder (and head) weights under the classifier's parameter names."""
        return {**self.encoder_state, **self.head_state}

    def load_into(self, model: nn.Module) -> None:
        """Copy the ticket's weights into `model` (a Classifier) and zero its pruned positions."""
        self.mask.validate_against(model)
        missing, unexpected = model.load_state_dict(self.state(), strict=False)
        absent = [k for k in missing if k.startswith("encoder.")]
        if unexpected or absent:
            raise UsageError(
                f"the {self.model!r} ticket does not fit this model "
                f"(unexpected: {unexpected}, missing: {absent})."
            )
        self.mask.apply_(model)

    def report(self) -> dict[str, Any]:
        """JSON-ready: density/sparsity over the prunable weights, scope, policy, per-layer rows.

        A structured ticket adds its widths, per-layer kept fractions, and parameters and
        forward FLOPs before and after.
        """
        if self.widths:
            return self._structured_report()
        summary = self.mask.report()
        return {
            "model": self.model,
            "dataset": self.dataset,
            "density": summary["density"],
            "sparsity": summary["sparsity"],
            "kept": self.mask.num_kept,
            "total": self.mask.num_total,
            "scope": self.provenance.get("scope"),
            "policy": self.provenance.get("policy"),
            "layers": summary["layers"],
            "provenance": self.provenance,
        }

    def _structured_report(self) -> dict[str, Any]:
        cost = self.provenance.get("cost", {})
        weights = cost.get("weights", {"before": 0, "after": 0})
        density = weights["after"] / weights["before"] if weights["before"] else 1.0
        layers = cost.get("layers", [])
        return {
            "model": self.model,
            "dataset": self.dataset,
            "structure": self.structure,
            "density": density,
            "sparsity": 1.0 - density,
            "kept": weights["after"],
            "total": weights["before"],
            "scope": self.provenance.get("scope"),
            "policy": self.provenance.get("policy"),
            "widths": dict(self.widths),
            "full_widths": {row["name"].split(".")[1]: row["full_width"] for row in layers},
            "kept_fraction": {row["name"].split(".")[1]: row["kept_fraction"] for row in layers},
            "params": cost.get("params"),
            "forward_flops": cost.get("forward_flops"),
            "layers": layers,
            "provenance": self.provenance,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write `path` (torch) and the JSON report beside it, atomically and together (a
        failure leaves both as they were); returns the JSON path."""
        target = Path(path)
        report_path = check_ticket_path(target)
        ticket = torch_bytes(
            {
                "kind": TICKET_KIND,
                "format": TICKET_FORMAT,
                "model": self.model,
                "dataset": self.dataset,
                "encoder_state": self.encoder_state,
                "head_state": self.head_state,
                "mask": self.mask.state_dict(),
                "provenance": self.provenance,
                "widths": self.widths,
            }
        )
        atomic_write_files({target: ticket, report_path: json_bytes(self.report())})
        return report_path

    @classmethod
    def load(cls, path: str | os.PathLike[str], option: str = "--ticket") -> Ticket:
        """Read a ticket written by `save`; `UsageError` (naming `option`) for anything else."""
        source = Path(path)
        if not source.is_file():
            raise UsageError(
                f"{option}={str(source)!r}: no such file. Run `fl-lightning prune` first."
            )
        try:
            data = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated, not a torch file, foreign pickles
            raise UsageError(
                f"{option}={str(source)!r} is not a readable ticket ({err})."
            ) from None
        if not isinstance(data, dict) or data.get("kind") != TICKET_KIND:
            raise UsageError(
                f"{option}={str(source)!r} is not a ticket written by `fl-lightning prune`."
            )
        problem = ticket_problem(data)
        if problem is not None:
            raise UsageError(
                f"{option}={str(source)!r} is a damaged ticket: {problem}; write it again with "
                "`fl-lightning prune`."
            )
        try:
            return cls(
                model=data["model"],
                dataset=data["dataset"],
                encoder_state=dict(data["encoder_state"]),
                mask=Mask(data["mask"]),
                provenance=dict(data["provenance"]),
                head_state=dict(data["head_state"]),
                widths={str(k): int(v) for k, v in data.get("widths", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(f"{option}={str(source)!r} is a damaged ticket ({err}).") from None


def check_ticket_path(path: Path, option: str = "--output") -> Path:
    """Raise `UsageError` unless a ticket and its JSON report can be written at `path`.

    Returns the report's path (`path` with suffix `.json`). Checked before any work is done.
    """
    report = path.with_suffix(".json")
    if path.suffix == ".json":
        raise UsageError(
            f"{option}={str(path)!r}: the JSON report goes beside it; use e.g. ticket.pt."
        )
    for target in (path, report):
        if target.is_dir():
            raise UsageError(f"{option}={str(path)!r}: {str(target)!r} is a directory.")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option}={str(path)!r}: {str(parent)!r} is a file, not a directory.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option}={str(path)!r}: directory {str(parent)!r} is not writable.")
    return report


def fresh_state(
    model: str, dataset: str, seed: int, widths: dict[str, int] | None = None
) -> tuple[State, State]:
    """Encoder and head states as `torch.manual_seed(seed); Classifier(model, dataset, widths=
    widths)` builds them. The global RNG is restored afterwards.
    """
    info = dataset_info(dataset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = build_encoder(model, info.shape, widths)
        head = build_head(encoder.out_features, info.num_classes, model)  # type: ignore[arg-type]
    return prefixed_state(encoder, "encoder."), prefixed_state(head, "head.")


def _masked(state: State, mask: Mask) -> State:
    """A copy of `state` with the pruned positions of masked entries set to zero."""
    return {k: v.masked_fill(~mask[k], 0) if k in mask else v.clone() for k, v in state.items()}


def _check_layout(option: str, expected: State, found: State, what: str) -> None:
    shapes = {k: tuple(v.shape) for k, v in found.items()}
    if shapes != {k: tuple(v.shape) for k, v in expected.items()}:
        raise UsageError(f"{option}: the {what} does not match the pre-trained encoder's layout.")


def _checkpoint_mask(path: Path, option: str) -> Mask | None:
    """The mask an `IterativeMagnitudePruning` pre-training stored in the checkpoint, if any."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    stored = checkpoint.get(MASK_CHECKPOINT_KEY)
    if stored is None:
        return None
    try:
        return Mask(stored)
    except (TypeError, AttributeError) as err:
        raise UsageError(f"{option}={str(path)!r} holds a damaged pruning mask ({err}).") from None


def make_ticket(
    checkpoint: str | os.PathLike[str],
    sparsity: float,
    scope: Scope = "global",
    policy: Policy = "pretrained",
    seed: int = 0,
    include_head: bool = False,
) -> Ticket:
    """The proposed method's ticket: prune a DAE checkpoint's encoder by magnitude.

    Args:
        checkpoint: a `fl-lightning pretrain` checkpoint.
        sparsity: overall fraction of the prunable weights to remove, in [0, 1).
        scope: `global` (one threshold over all prunable tensors) or `layer`.
        policy: the weights the kept positions start from: `pretrained` (the DAE's),
            `rewind_init` (the encoder's before pre-training) or `reinit` (fresh, from `seed`).
        seed: model-init seed for `reinit` and for the output layer when `include_head`.
        include_head: also prune a fresh output layer (built from `seed`), stored in
            `head_state`; by default the head stays out of the ticket, dense.

    The mask always comes from the pre-trained weights' magnitudes; a mask stored in the
    checkpoint by iterative pruning is the starting point (pruned weights stay pruned).
    """
    check_range("sparsity", sparsity, 0.0, 1.0)
    check_choice("scope", scope, SCOPES)
    check_choice("policy", policy, POLICIES)
    option = "--checkpoint"
    ckpt = load_dae_checkpoint(Path(checkpoint), option=option)
    fresh_encoder, fresh_head = fresh_state(ckpt.model, ckpt.dataset, seed)
    _check_layout(option, ckpt.encoder_state, ckpt.initial_encoder_state, "initial encoder state")
    _check_layout(option, ckpt.encoder_state, fresh_encoder, f"{ckpt.model!r} model")
    head = fresh_head if include_head else {}
    magnitudes = {**ckpt.encoder_state, **head}
    current = _checkpoint_mask(ckpt.path, option)
    mask = magnitude_prune(
        magnitudes, sparsity, scope, current=current, names=prunable_names(magnitudes, include_head)
    )
    encoder = {
        "pretrained": ckpt.encoder_state,
        "rewind_init": ckpt.initial_encoder_state,
        "reinit": fresh_encoder,
    }[policy]
    return _ticket(
        ckpt.model, ckpt.dataset, encoder, head, mask,
        method="magnitude", source_checkpoint=recorded_path(ckpt.path), source_sha256=ckpt.sha256,
        holdout=ckpt.holdout,
        sparsity=sparsity, scope=scope, policy=policy, seed=seed, include_head=include_head,
        iterative_mask=current is not None,
        **_pretraining_cost(ckpt.federated_pretraining),
    )  # fmt: skip


def _pretraining_cost(cost: dict[str, Any] | None) -> dict[str, Any]:
    """A federated pre-training's cost as a provenance entry (none for a server one)."""
    return {} if cost is None else {"federated_pretraining": dict(cost)}


def _ticket(
    model: str, dataset: str, encoder: State, head: State, mask: Mask, **provenance: Any
) -> Ticket:
    """A Ticket of masked copies of `encoder` and `head`; the package version joins provenance."""
    provenance["fl_lightning_version"] = __version__
    return Ticket(model, dataset, _masked(encoder, mask), mask, provenance, _masked(head, mask))


def init_magnitude_ticket(
    model: str,
    dataset: str,
    sparsity: float,
    scope: Scope = "global",
    seed: int = 0,
    include_head: bool = False,
) -> Ticket:
    """The `init_magnitude` baseline: random init from `seed`, mask from its own magnitudes."""
    encoder, head = fresh_state(model, dataset, seed)
    head = head if include_head else {}
    magnitudes = {**encoder, **head}
    mask = magnitude_prune(
        magnitudes, sparsity, scope, names=prunable_names(magnitudes, include_head)
    )
    return _ticket(
        model, dataset, encoder, head, mask,
        method="init_magnitude", sparsity=sparsity, scope=scope, policy="reinit", seed=seed,
        include_head=include_head,
    )  # fmt: skip


def random_ticket(model: str, dataset: str, like: Mask, seed: int, init_seed: int) -> Ticket:
    """The `random_prune` baseline: random init from `init_seed`, a random mask from `seed`
    keeping exactly as many weights per tensor as `like` (e.g. the proposed ticket's mask)."""
    encoder, head = fresh_state(model, dataset, init_seed)
    head = head if any(n.startswith("head.") for n in like) else {}
    try:
        like.validate_against({**encoder, **head})
    except ValueError as err:
        raise UsageError(f"the mask to imitate does not fit model {model!r}: {err}") from None
    mask = random_prune({**encoder, **head}, like.layer_density(), seed)
    return _ticket(
        model, dataset, encoder, head, mask,
        method="random_prune", sparsity=mask.sparsity, scope="random", policy="reinit",
        seed=seed, init_seed=init_seed, include_head=bool(head),
    )  # fmt: skip
