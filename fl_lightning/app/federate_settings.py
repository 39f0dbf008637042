"""`FederateConfig`: one federation's options as one frozen, typed value.

It is composed of the option groups their owners check (`DataOptions`, `ModelOptions`,
`ClientConfig`, `FederationConfig`, `Seeds`, `WandbConfig`, `FlowerOptions`) plus the step's own
options; attribute names are the options' names (`config.federation.rounds`,
`config.data.num_clients`), as in the YAML. The conversions: `from_dict` (of the tree the
command's parser reads, `parsers.federate_parser.parse_federate`, or of config.yaml),
`to_dict`, and `to_yaml` / `from_yaml` (config.yaml: the same text the command's parser
wrote). Resolution (seeds, rounds, output filled in) and the checks that read files are
`federate_resolution.resolved`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, get_args, get_origin, get_type_hints

from fl_lightning.app.config_yaml import YamlConfig
from fl_lightning.app.federate_groups import DataOptions, ModelOptions, WandbConfig
from fl_lightning.app.typed_build import group_type
from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.experiments.methods import method_named
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.config import FederationConfig, Seeds
from fl_lightning.federated.flower_options import FlowerOptions

Engine = Literal["local", "flower"]
Scope = Literal["global", "layer"]
ENGINES: tuple[str, ...] = get_args(Engine)
SCOPES: tuple[str, ...] = get_args(Scope)

T = TypeVar("T")


@dataclass(frozen=True)
class FederateConfig(YamlConfig):
    """One federation's options (`fl-lightning federate`'s, documented in its `--help`).

    Built from a YAML with `fl.federate_config(...)`, from a parse's tree with `from_dict`,
    from a run's config.yaml with `from_yaml`. Each group checks itself when built; the step's own
    choices (method, engine, scope) and the sparsity of a pruned method are checked here; what
    needs files or other options filled in is checked by `federate_resolution.checked`.
    """

    STEP: ClassVar[str] = "federate"

    method: str = "proposed"
    engine: Engine = "local"
    ticket: str | None = None
    checkpoint: str | None = None
    sparsity: float | None = 0.9
    scope: Scope = "global"
    rounds: int | None = None
    seed: int = 0
    seeds: Seeds = field(default_factory=Seeds)
    output: str | None = None
    resume: bool = False
    progress: bool = True
    verbose: bool = False
    data: DataOptions = field(default_factory=DataOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    client: ClientConfig = field(default_factory=ClientConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    pretrain_config: str = "configs/pretrain/fashion_mnist.yaml"
    pretrain_overrides: tuple[str, ...] = ()
    wandb: WandbConfig = field(default_factory=WandbConfig)
    provenance: dict[str, Any] | None = None
    flower: FlowerOptions = field(default_factory=FlowerOptions)
    #: The `--config` YAML files the command read (how the options were given, not an option:
    #: not in config.yaml, not compared; the W&B run config names them).
    config: tuple[str, ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        method = method_named(self.method)  # refuses an unknown one, listing the known ones
        check_choice("--engine", self.engine, ENGINES)
        check_choice("--scope", self.scope, SCOPES)
        if method.pruned and self.sparsity is not None:
            check_range("--sparsity", self.sparsity, 0.0, 1.0)
        if isinstance(self.pretrain_overrides, str) or not all(
            isinstance(a, str) for a in self.pretrain_overrides
        ):
            raise UsageError(
                f"--pretrain_overrides={self.pretrain_overrides!r}: allowed a list of "
                "`fl-lightning pretrain` arguments, e.g. ['--trainer.max_epochs=2']."
            )
        # a list given in Python is kept as the tuple the type promises (the value is frozen)
        object.__setattr__(self, "pretrain_overrides", tuple(self.pretrain_overrides))

    @classmethod
    def from_dict(cls, tree: Mapping[str, Any]) -> FederateConfig:
        """The config of a nested dict as `to_dict` (and config.yaml) holds it; an option it
        lacks takes its default, an unknown one is refused naming it."""
        return _build(cls, tree, "")


def _build(cls: type[T], tree: Mapping[str, Any], prefix: str) -> T:
    """An instance of the dataclass `cls` from the nested mapping `tree` (its groups built the
    same way); an unknown key, or a group given anything but a mapping, is refused."""
    if not isinstance(tree, Mapping):
        raise UsageError(
            f"{prefix.rstrip('.')}={tree!r}: {prefix.rstrip('.')} is a group of options; give a "
            "dict of its options."
        )
    assert dataclasses.is_dataclass(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(tree) - set(fields))
    if unknown:
        raise UsageError(
            f"{prefix}{unknown[0]}: no such option; allowed: {', '.join(fields)}"
            f"{' (in ' + prefix.rstrip('.') + ')' if prefix else ''}."
        )
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, value in tree.items():
        group = group_type(hints[name])
        if group is not None:  # a group given None or a scalar is refused by _build
            value = _build(group, value, f"{prefix}{name}.")
        elif isinstance(value, list) and get_origin(hints[name]) is tuple:
            value = tuple(value)
        values[name] = value
    try:
        return cls(**values)
    except TypeError as err:  # a value of the wrong kind deep inside a check
        raise UsageError(f"{prefix.rstrip('.') or 'federate config'}: {err}") from None
