"""The plan of a comparison grid: what to run and where (`Grid`), and its runs in order.

    OUTPUT/runs/<partition>/<method>[-s<sparsity>][+<codec>]/seed<S>/   one federation

`grid` runs the plan; `grid_configs` builds each planned run's federate config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fl_lightning.app.compare_groups import CodecSpec, PartitionSpec
from fl_lightning.app.grid_fdae import FdaeSpec
from fl_lightning.experiments.methods import method_named
from fl_lightning.experiments.to_target import Arm


@dataclass(frozen=True)
class Grid:
    """What to run and where (built by `fl-lightning compare` from its YAML)."""

    federate_config: str
    methods: Sequence[str]
    sparsities: Sequence[float]
    partitions: Sequence[PartitionSpec]
    seeds: Sequence[int]
    output: Path
    overrides: Sequence[str] = ()
    wandb_enabled: bool = True
    wandb_project: str = "fl-lightning"
    wandb_group: str = "compare"
    verbose: bool = False  # the libraries' own messages too (`--verbose`)
    checkpoint: str | None = None
    codecs: Sequence[CodecSpec] = ()
    row_seeds: Mapping[str, Sequence[int]] = field(default_factory=dict)
    #: the federated DAE pre-training of the `_fdae` rows (one per partition and seed)
    fdae: FdaeSpec = field(default_factory=FdaeSpec)

    def codec(self, name: str) -> CodecSpec:
        """The codec setting called `name`."""
        return next(c for c in self.codecs if c.name == name)


@dataclass(frozen=True)
class PlannedRun:
    """One federation of the grid."""

    arm: Arm
    partition: PartitionSpec
    seed: int
    directory: Path

    def describe(self) -> str:
        sparsity = f" (sparsity {self.arm.sparsity:g})" if self.arm.sparsity is not None else ""
        codec = f" with codec {self.arm.codec}" if self.arm.codec is not None else ""
        return f"{self.arm.method}{sparsity}{codec}, {self.arm.partition}, seed {self.seed}"


def plan_runs(grid: Grid) -> list[PlannedRun]:
    """Every run, seed-major (a seed's results are complete before the next seed starts);
    within a partition the plain methods first, then each codec setting's methods. A row named
    in `row_seeds` runs only its own seeds."""
    arms: list[tuple[str, str | None]] = [(m, None) for m in grid.methods]
    arms += [(m, c.name) for c in grid.codecs for m in c.methods]
    runs: list[PlannedRun] = []
    for seed in grid.seeds:
        for part in grid.partitions:
            for method, codec in arms:
                sparsities: list[float | None] = (
                    [*grid.sparsities] if method_named(method).pruned else [None]
                )
                for sparsity in sparsities:
                    arm = Arm(part.folder, method, sparsity, codec)
                    if seed not in grid.row_seeds.get(arm.name, grid.seeds):
                        continue  # a row that runs fewer seeds (`row_seeds`)
                    path = grid.output / "runs" / part.folder / arm.label / f"seed{seed}"
                    runs.append(PlannedRun(arm, part, seed, path))
    return runs
