"""Resolving a federation's config: what defaults to other values filled in, what no option
group owns checked; a new value every time (the config is frozen).

    resolved(config) -> FederateConfig     seeds, rounds, output filled in; files checked
    checked(config) -> FederateConfig      resolved, and the round loop's settings validated

`federate` writes the resolved config to config.yaml; `federate_config(...)` runs `checked` so a
bad value is refused where it is given, not first inside `federate`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from fl_lightning.app.federate_checks import filled_seeds
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.config_files import PRETRAIN_GROUPS, check_config_file
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.errors import UsageError, check_range
from fl_lightning.experiments.methods import method_named
from fl_lightning.models.components import unit_layers
from fl_lightning.pruning.ticket import Ticket


def resolved(config: FederateConfig) -> FederateConfig:
    """`config` with what defaults to other values filled in (seeds, `data.split_seed`, rounds,
    output, the pre-training config's path) and what no option group owns checked (the
    sparsity, a ticket for a dense method, the input files); `UsageError` naming the option.

    Each group was checked by its owner when built (`Seeds`, `DataOptions`, `ModelOptions`,
    `ClientConfig`, `FederationConfig`); `checked` adds what needs `data.num_clients`.
    """
    pretrain_config = resolve_config_path(config.pretrain_config, "pretrain_config")
    seeds = filled_seeds(config.seeds, config.seed, config.data.split_seed)
    federation = config.federation
    if config.rounds is not None:
        federation = replace(federation, rounds=config.rounds)
    output = config.output
    if output is None:
        output = f"runs/federate/{config.method}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not str(output).strip():
        raise UsageError(f"--output={output!r} names no folder; give the run's own folder.")
    sparsity = config.sparsity
    method = method_named(config.method)
    if method.pruned:
        if sparsity is None:
            raise UsageError(f"--method={config.method} prunes: give --sparsity in [0, 1).")
        check_range("--sparsity", sparsity, 0.0, 1.0)
    else:
        sparsity = None  # a dense method has no sparsity; record none (config.yaml, W&B)
    if method.structured:  # before a pre-training is spent on a model it cannot narrow
        unit_layers(config.model.model, f"--method={config.method}")
    if not method.pruned and config.ticket:
        raise UsageError(f"--ticket is for the pruned methods; --method={config.method} is dense.")
    if method.needs_checkpoint(config.ticket) and not config.checkpoint:
        check_config_file("--pretrain_config", pretrain_config, PRETRAIN_GROUPS)
    for option, value in (("ticket", config.ticket), ("checkpoint", config.checkpoint)):
        if value and not Path(value).is_file():
            raise UsageError(f"--{option}={value!r}: no such file.")
    if config.ticket:  # the ticket is the mask: record its sparsity, not the YAML's (W&B filters)
        sparsity = Ticket.load(config.ticket, option="--ticket").sparsity
    return replace(
        config,
        provenance=None,  # a record of the run, filled in by `federate`; never an input
        pretrain_config=pretrain_config,
        seeds=seeds,
        data=replace(config.data, split_seed=seeds.of("split")),
        rounds=federation.rounds,
        federation=federation,
        output=str(output),
        sparsity=sparsity,
    )


def checked(config: FederateConfig) -> FederateConfig:
    """`resolved(config)`, with the round loop's settings validated against the number of
    clients (`clients_per_round`, `min_clients`, `rounds`): every check `federate` makes before
    work that needs no data and writes nothing."""
    config = resolved(config)
    config.federation.validate(config.data.num_clients)
    return config
