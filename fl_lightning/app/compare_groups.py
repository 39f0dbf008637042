"""The option groups of a comparison: its partition and codec axes and its W&B settings.

Each is a frozen dataclass that checks itself when built (a bad value is refused where it is
given, naming the option); `CompareConfig` (`compare_settings`) holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fl_lightning.data.partition import PartitionName, partition_names
from fl_lightning.errors import UsageError, check_choice
from fl_lightning.experiments.methods import method_named


@dataclass(frozen=True)
class PartitionSpec:
    """One client partition of the grid.

    Args:
        name: partitioner: `iid`, `dirichlet` (label skew) or `shards`.
        alpha: Dirichlet concentration (for `dirichlet`; None keeps the federate config's).
        shards_per_client: shards per client (for `shards`; None keeps the federate config's).
        label: folder and report name (default: `iid`, `dirichlet-<alpha>`, `shards-<n>`).
    """

    name: PartitionName = "iid"
    alpha: float | None = None
    shards_per_client: int | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        check_choice("--partitions name", self.name, partition_names())

    @property
    def folder(self) -> str:
        if self.label:
            return self.label
        if self.name == "dirichlet" and self.alpha is not None:
            return f"dirichlet-{self.alpha:g}"
        if self.name == "shards" and self.shards_per_client is not None:
            return f"shards-{self.shards_per_client}"
        return self.name

    def values(self) -> dict[str, Any]:
        """The federate config values that select this partition."""
        data: dict[str, Any] = {"partition": self.name}
        if self.alpha is not None:
            data["alpha"] = self.alpha
        if self.shards_per_client is not None:
            data["shards_per_client"] = self.shards_per_client
        return {"data": data}


@dataclass(frozen=True)
class CodecSpec:
    """A named codec setting of the grid's codec axis, run for each of `methods`.

    Args:
        name: the setting's name (`int8`, `topk1-ef`, ...): run folder and report suffix.
        methods: the methods (of the grid's list or not) run with this setting.
        overrides: the federate arguments of the setting, e.g.
            ['--federation.down_codec=int8', '--federation.up_codec=int8'].
    """

    name: str
    methods: Sequence[str] = ()
    overrides: Sequence[str] = ()


def check_codecs(codecs: Sequence[CodecSpec]) -> None:
    """The codec axis checked: unique names fit for a folder, each with at least one known
    method, none repeated."""
    names = [c.name for c in codecs]
    if len(set(names)) != len(names):
        raise UsageError(f"--codecs: two settings share a name ({names}).")
    for c in codecs:
        if not c.name.strip() or "/" in c.name or "+" in c.name:
            raise UsageError(f"--codecs: name {c.name!r} must be non-empty, without '/' or '+'.")
        if not c.methods:
            raise UsageError(f"--codecs: setting {c.name!r} lists no methods.")
        if len(set(c.methods)) != len(c.methods):
            raise UsageError(f"--codecs: setting {c.name!r} repeats a method ({list(c.methods)}).")
        for m in c.methods:
            method_named(m, f"--codecs ({c.name}) methods")
        if isinstance(c.overrides, str) or not all(isinstance(a, str) for a in c.overrides):
            raise UsageError(
                f"--codecs: setting {c.name!r} overrides={c.overrides!r}: allowed a list of "
                "federate arguments, e.g. ['--federation.down_codec=int8']."
            )


@dataclass(frozen=True)
class CompareWandb:
    """W&B for the comparison (offline unless WANDB_MODE says otherwise).

    Args:
        enabled: log each federation and the summary run (false: no W&B at all).
        project: W&B project.
        group: W&B group of every run of this comparison (default: `compare-<output folder
            name>`, so comparisons in different folders stay apart; a group given here, on
            the command line or in a YAML, is shared by every comparison that gives it).
    """

    enabled: bool = True
    project: str = "fl-lightning"
    group: str | None = None
