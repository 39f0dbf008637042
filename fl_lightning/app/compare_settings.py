"""`CompareConfig`: a comparison's options as one frozen, typed value.

Attribute names are the options' names (`config.methods`, `config.fdae.rounds`), as in
configs/compare/*.yaml. Every check that needs no file is made when it is built, so a bad value
is refused where it is given (`UsageError` naming the option, the value and what is allowed).
The conversions sit at the edge: `from_dict` / `to_dict` and `from_yaml` / `to_yaml` (the
YAML's layout); `compare_loader.compare_config` reads a YAML as the command does, and
`commands/compare_parser` turns a parse of `fl-lightning compare` into one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fl_lightning.app.compare_groups import CodecSpec, CompareWandb, PartitionSpec, check_codecs
from fl_lightning.app.config_yaml import YamlConfig
from fl_lightning.app.grid_fdae import FdaeSpec
from fl_lightning.app.typed_build import build
from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.experiments.equal_budget import DEFAULT_BUDGET_ROUNDS
from fl_lightning.experiments.grid_executors import Execution, ExecutorName, RayOptions
from fl_lightning.experiments.methods import method_names
from fl_lightning.experiments.report_options import ReportOptions
from fl_lightning.federated.config import check_seed


@dataclass(frozen=True)
class CompareConfig(YamlConfig):
    """A comparison's options (`fl-lightning compare`'s, documented in its `--help`).

    Built from a YAML with `fl.compare_config(...)`, from a parse of the command line by
    `commands/compare_parser.compare_config_of`, from plain values with `from_dict`. Lists are
    held as tuples (the value is frozen); `federate_config` is the path as given or, when read
    from a YAML or the command line, found as the command finds it (beside that YAML first).
    """

    STEP: ClassVar[str] = "compare"

    federate_config: str = "configs/federate/fashion_mnist.yaml"
    overrides: tuple[str, ...] = ()
    methods: tuple[str, ...] = field(default_factory=method_names)
    sparsities: tuple[float, ...] = (0.9,)
    partitions: tuple[PartitionSpec, ...] = (PartitionSpec(),)
    codecs: tuple[CodecSpec, ...] = ()
    seeds: tuple[int, ...] = (0,)
    row_seeds: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    target_acc: float | tuple[float, ...] = 0.8
    budget_rounds: tuple[int, ...] = DEFAULT_BUDGET_ROUNDS
    output: str = "runs/compare/default"
    title: str | None = None
    progress: bool = True
    checkpoint: str | None = None
    jobs: int = 1
    threads: int | None = None
    executor: ExecutorName = "local"
    report_only: bool = False
    verbose: bool = False
    fdae: FdaeSpec = field(default_factory=FdaeSpec)
    report: ReportOptions = field(default_factory=ReportOptions)
    ray: RayOptions = field(default_factory=RayOptions)
    wandb: CompareWandb = field(default_factory=CompareWandb)
    #: The `--config` YAML files it was read from (how it was given, not an option).
    config: tuple[str, ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        freeze = object.__setattr__  # lists given in Python are kept as the tuples promised
        for name in ("overrides", "methods", "sparsities", "partitions", "codecs", "seeds"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, list | tuple):
                raise UsageError(f"--{name}={value!r}: allowed a list.")
            freeze(self, name, tuple(value))
        if not isinstance(self.target_acc, int | float):
            freeze(self, "target_acc", tuple(self.target_acc))
        freeze(self, "budget_rounds", tuple(self.budget_rounds))
        freeze(self, "row_seeds", {k: tuple(v) for k, v in dict(self.row_seeds).items()})
        freeze(self, "codecs", tuple(_codec(c) for c in self.codecs))
        self._check()

    def _check(self) -> None:
        for option in ("methods", "partitions", "seeds"):
            if not getattr(self, option):
                raise UsageError(f"--{option}=[]: the comparison needs at least one.")
        for option in ("methods", "seeds", "sparsities"):
            values = list(getattr(self, option))
            if len(set(values)) != len(values):
                raise UsageError(f"--{option}={values!r} repeats a value.")
        for m in self.methods:
            check_choice("--methods", m, method_names())
        for s in self.sparsities:
            check_range("--sparsities", s, 0.0, 1.0)
        for seed in self.seeds:
            check_seed("--seeds", seed)
        if not str(self.output).strip():
            raise UsageError(
                f"--output={self.output!r} names no folder; give the comparison's folder."
            )
        folders = [p.folder for p in self.partitions]
        if len(set(folders)) != len(folders):
            raise UsageError(
                f"--partitions: two partitions share a name ({folders}); give a label."
            )
        check_codecs(self.codecs)
        self._check_row_seeds()
        self.targets()
        if any(n < 1 for n in self.budget_rounds):
            raise UsageError(f"--budget_rounds={list(self.budget_rounds)!r}: rounds must be >= 1.")
        self.execution()  # --jobs, --threads, --executor

    def _check_row_seeds(self) -> None:
        """Each key a row of the grid (`method` or `method+codec`), each value a non-empty
        subset of `seeds`."""
        rows = [*self.methods, *(f"{m}+{c.name}" for c in self.codecs for m in c.methods)]
        for row, seeds in self.row_seeds.items():
            check_choice("--row_seeds row", row, tuple(rows))
            outside = [s for s in seeds if s not in self.seeds]
            if not seeds or outside or len(set(seeds)) != len(seeds):
                raise UsageError(
                    f"--row_seeds: {row}: {list(seeds)!r} must be distinct seeds of --seeds "
                    f"{list(self.seeds)!r}, at least one."
                )

    def targets(self) -> list[float]:
        """The target accuracies as a checked list."""
        value = self.target_acc
        targets = [value] if isinstance(value, int | float) else list(value)
        if not targets:
            raise UsageError("--target_acc=[]: give at least one target accuracy in (0, 1].")
        for t in targets:
            check_range("--target_acc", t, 0.0, 1.0, low_inclusive=False, high_inclusive=True)
        return [float(t) for t in targets]

    def execution(self) -> Execution:
        """Where and how many federations run at once (`--jobs`, `--executor`, ...)."""
        return Execution(jobs=self.jobs, executor=self.executor, ray=self.ray, threads=self.threads)

    @classmethod
    def from_dict(cls, tree: Mapping[str, Any]) -> CompareConfig:
        """The config of a nested dict as the YAML holds it; an option it lacks takes its
        default, an unknown one is refused naming it."""
        return build(cls, tree)


def _codec(codec: Any) -> CodecSpec:
    """A codec setting with its lists held as tuples."""
    if not isinstance(codec, CodecSpec):
        raise UsageError(f"--codecs: {codec!r} is not a codec setting (name, methods, overrides).")
    return dataclasses.replace(
        codec, methods=tuple(codec.methods), overrides=tuple(codec.overrides)
    )
