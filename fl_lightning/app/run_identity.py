"""When a finished federation counts as the run a comparison asks for: its identity.

Two runs are the same when their resolved `FederateConfig`s are equal bar the `VOLATILE_FIELDS`
(how a run shows and where its files were found or written: a moved comparison folder keeps its
runs), with the DAE checkpoint compared only for a method that reads one (and then as
`OUTPUT/...` when it is the comparison's own pre-training) and the sparsity only for a pruned
method. Both sides are compared as a run records them (`as_recorded`: an absolute path
relative to the current folder, as config.yaml holds it), and a finished run's options are
read from its own record, so runs recorded before this module existed are judged alike.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from fl_lightning.app.federate_groups import WandbConfig
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.errors import UsageError
from fl_lightning.experiments.methods import find_method
from fl_lightning.models.dae import file_sha256
from fl_lightning.recorded_paths import recorded_config_text

#: Fields that may differ between a finished run and the grid's request: how it shows, and
#: where files were found from and written to.
VOLATILE_FIELDS = (
    "resume",
    "progress",
    "verbose",
    "config",
    "output",
    "wandb",
    "provenance",
    "pretrain_config",
)

_DEFAULTS = FederateConfig()
_RESET: dict[str, Any] = {
    name: getattr(_DEFAULTS, name) for name in VOLATILE_FIELDS if name != "wandb"
}


def as_recorded(config: FederateConfig) -> FederateConfig:
    """`config` as its run's config.yaml records it (`recorded_paths`: no machine path)."""
    return FederateConfig.from_yaml(recorded_config_text(config.to_yaml()))


def wanted_identity(config: FederateConfig) -> FederateConfig:
    """The identity of the run a resolved config asks for (`run_identity` of its record)."""
    return run_identity(as_recorded(config))


def run_identity(config: FederateConfig) -> FederateConfig:
    """`config` with its volatile fields at their defaults, the checkpoint of a method that
    reads none dropped (else named `OUTPUT/...` when it lies in the run's comparison folder:
    `grid_relative`), the sparsity of a dense method dropped (recorded as none since 0.2, 0.9
    before). Two runs are the same run when their identities are equal."""
    method = find_method(config.method)
    checkpoint = config.checkpoint
    if method is None or not method.needs_checkpoint(config.ticket):
        checkpoint = None  # a method without a DAE never reads it
    elif checkpoint and config.output:
        checkpoint = grid_relative(checkpoint, config.output)
    sparsity = config.sparsity if method is not None and method.pruned else None
    return dataclasses.replace(
        config, **_RESET, wandb=WandbConfig(), checkpoint=checkpoint, sparsity=sparsity
    )


def recorded_identity(config_text: str, wanted: FederateConfig) -> FederateConfig | None:
    """The identity of the finished run whose options are `config_text` (its config.yaml), or
    None when they cannot be read as a config of today's options (so it is not the run asked
    for). A `proposed` run that started from a ticket counts as the run that prunes the DAE
    checkpoint `wanted` names itself, if the ticket is that pruning: made from that checkpoint
    (sha256) at the run's sparsity and scope, with the pre-trained weights and a dense head.
    `make demo` federates its ticket once; its comparison reuses that run."""
    try:
        recorded = FederateConfig.from_yaml(config_text)
    except (UsageError, yaml.YAMLError):
        return None
    found = run_identity(recorded)
    given = wanted.method == "proposed" and wanted.checkpoint and not wanted.ticket
    if not (given and recorded.ticket and not recorded.checkpoint):
        return found
    assert wanted.checkpoint is not None
    pruned_here = {
        "source_sha256": file_sha256(Path(wanted.checkpoint)),
        "sparsity": wanted.sparsity,
        "scope": wanted.scope,
        "policy": "pretrained",
        "include_head": False,
    }
    provenance = recorded.provenance or {}
    if any(provenance.get(k) != v for k, v in pruned_here.items()):
        return found
    target = wanted_identity(wanted)
    return dataclasses.replace(found, ticket=target.ticket, checkpoint=target.checkpoint)


def grid_relative(checkpoint: str, run_output: str) -> str:
    """`checkpoint` as `OUTPUT/...` when it lies in the comparison folder of the run whose
    folder is `run_output` (OUTPUT/runs/<partition>/<arm>/seed<S>, so OUTPUT is three levels
    up): a seed's own pre-training then compares equal wherever the folder is, or however its
    path is spelled (moved, copied, relative). Any other checkpoint is returned as given."""
    root = Path(os.path.abspath(run_output)).parents[3]
    path = Path(os.path.abspath(checkpoint))
    return (
        f"OUTPUT/{path.relative_to(root).as_posix()}" if path.is_relative_to(root) else checkpoint
    )
