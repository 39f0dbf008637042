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

Each row is one `Method` record in `METHOD_REGISTRY`, in the table's order (the order the
command line lists them in): what it needs (a DAE checkpoint, and which kind), whether it prunes
and how, and the builder of its start (`experiments.method_starts`). A new method is one
`register_method(Method(...))`; `build_start`, the options' choices (`--method`, `--methods`)
and the checks of `federate` and `compare` look it up by name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from fl_lightning.errors import UsageError
from fl_lightning.experiments.method_starts import (
    Start,
    StartBuilder,
    StartInputs,
    dae_dense_start,
    init_magnitude_ticket_of,
    masked_start,
    pretrained_magnitude_ticket,
    proposed_structured_start,
    random_dense_start,
    random_mask_ticket,
    random_structured_start,
    rewound_ticket,
)
from fl_lightning.models.dae import load_dae_checkpoint
from fl_lightning.named_registry import NamedRegistry

__all__ = [
    "METHOD_REGISTRY",
    "Method",
    "Start",
    "StartInputs",
    "build_start",
    "find_method",
    "method_named",
    "method_names",
    "needs_checkpoint",
    "register_method",
]


@dataclass(frozen=True)
class Method:
    """One method of the comparison: what its start needs and how it is built.

    Args:
        name: the name in configs, folders and reports (`--method`).
        start: builds the start from the method's name and the `StartInputs`.
        dae: the DAE checkpoint it starts from: none, a server pre-training's (`server`), or a
            federated pre-training's on the clients' images (`federated`, from
            `fl-lightning pretrain --federated`).
        ticket_replaces_dae: a `--ticket` stands in for the DAE checkpoint.
        pruned: trains a pruned subnetwork (and so takes a sparsity and a `--ticket`).
        structured: the subnetwork is a narrower dense model (a structured ticket), not a mask.
        twin: of a `federated` method, the method it is with a server DAE (same start).
    """

    name: str
    start: StartBuilder
    dae: Literal["server", "federated"] | None = None
    ticket_replaces_dae: bool = False
    pruned: bool = False
    structured: bool = False
    twin: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.ticket_replaces_dae and self.dae is None:
            problems.append("ticket_replaces_dae needs a DAE (dae='server')")
        if self.structured and not self.pruned:
            problems.append("a structured method is a pruned one (pruned=True)")
        if (self.dae == "federated") != (self.twin is not None):
            problems.append("twin names the server-DAE method of a federated-DAE one, only")
        if problems:
            raise UsageError(f"method {self.name!r}: {'; '.join(problems)}.")

    def needs_checkpoint(self, ticket: str | Path | None) -> bool:
        """Whether this method needs a DAE checkpoint given whether a ticket was passed."""
        return self.dae is not None and not (ticket and self.ticket_replaces_dae)


#: The methods by name, in the module table's order.
METHOD_REGISTRY: NamedRegistry[Method] = NamedRegistry("--method")


def register_method(method: Method, *, replace: bool = False) -> Method:
    """Make `method` known under its name (a `--method` choice); returns it. A name already
    registered is refused unless `replace`; a federated-DAE method's twin must be known."""
    if method.twin is not None:
        twin = method_named(method.twin, option=f"method {method.name!r}: twin")
        if twin.dae != "server":
            raise UsageError(f"method {method.name!r}: twin {twin.name!r} starts from no DAE.")
    return METHOD_REGISTRY.register(method, replace=replace)


def method_names() -> tuple[str, ...]:
    """Every registered method, in the module table's order (the options' choices)."""
    return METHOD_REGISTRY.names()


def method_named(name: object, option: str = "--method") -> Method:
    """The method called `name`; a `UsageError` naming `option` and listing the known ones."""
    return METHOD_REGISTRY.lookup(name, option)


def find_method(name: object) -> Method | None:
    """The method called `name`, or None (e.g. for a run recorded with no known method)."""
    return METHOD_REGISTRY.get(name)


def needs_checkpoint(method: str, ticket: str | None) -> bool:
    """Whether `method` needs a DAE checkpoint given whether a ticket was passed."""
    return method_named(method).needs_checkpoint(ticket)


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

    `method` is a registered method (`method_names()`); the other arguments are the
    `StartInputs` its builder gets (see there).
    """
    found = method_named(method)
    inputs = StartInputs(model, dataset, init_seed, sparsity, scope, checkpoint, ticket)
    return found.start(found.name, inputs)


def _federated_dae_start(method: str, i: StartInputs) -> Start:
    """`proposed_fdae` / `dae_dense_fdae`: `proposed` / `dae_dense` from a federated DAE."""
    if i.checkpoint is None:
        raise UsageError(
            f"--method={method} needs a DAE checkpoint from `fl-lightning pretrain --federated`: "
            "pass --checkpoint CKPT."
        )
    ckpt = load_dae_checkpoint(Path(i.checkpoint), option="--checkpoint")
    if ckpt.federated_pretraining is None:
        raise UsageError(
            f"--checkpoint={str(i.checkpoint)!r} was pre-trained on server data; "
            f"--method={method} needs one from `fl-lightning pretrain --federated` "
            "(provenance source: clients)."
        )
    twin = method_named(method_named(method).twin)
    start = twin.start(twin.name, replace(i, ticket=None))
    provenance = {
        **start.provenance,
        "method": method,
        "federated_pretraining": ckpt.federated_pretraining,
    }
    return Start(start.state, start.mask, provenance, start.widths)


for _method in (
    Method("fedavg", random_dense_start),
    Method("dae_dense", dae_dense_start, dae="server"),
    Method(
        "proposed",
        masked_start(pretrained_magnitude_ticket),
        dae="server",
        ticket_replaces_dae=True,
        pruned=True,
    ),
    Method("lth_rewind", masked_start(rewound_ticket), dae="server", pruned=True),
    Method("init_magnitude", masked_start(init_magnitude_ticket_of), pruned=True),
    Method(
        "random_prune",
        masked_start(random_mask_ticket),
        dae="server",
        ticket_replaces_dae=True,
        pruned=True,
    ),
    Method(
        "proposed_structured",
        proposed_structured_start,
        dae="server",
        ticket_replaces_dae=True,
        pruned=True,
        structured=True,
    ),
    Method("random_structured", random_structured_start, pruned=True, structured=True),
    Method("proposed_fdae", _federated_dae_start, dae="federated", pruned=True, twin="proposed"),
    Method("dae_dense_fdae", _federated_dae_start, dae="federated", twin="dae_dense"),
):
    register_method(_method)
