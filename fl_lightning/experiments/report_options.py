"""How the comparison's report is laid out (`compare --report.*`): the order of its rows and an
optional column of the data each method needs on the server. Neither changes a figure; at their
defaults summary.md is what it was before they existed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, get_args

from fl_lightning.errors import UsageError
from fl_lightning.experiments.ranking import RankBy


@dataclass(frozen=True)
class ReportOptions:
    """The report's layout.

    Args:
        rank_by: the rows' order in summary.md's tables and the plots' legend: `none` (as
            planned), or cheapest first by `total_bytes` / `total_flops` (to the target, the
            DAE pre-training included) or `bytes` (the federation's traffic alone); rows that
            miss the target last (`experiments.ranking`).
        server_data: a `server data` column in the to-target tables: the images each method
            needs on the server (`10,000 unlabeled` for a server DAE, `none` otherwise).
    """

    rank_by: RankBy = "none"
    server_data: bool = False

    def __post_init__(self) -> None:
        allowed = get_args(RankBy)
        if self.rank_by not in allowed:
            raise UsageError(
                f"report.rank_by={self.rank_by!r} is not a ranking; allowed: {', '.join(allowed)}."
            )

    def meta(self) -> dict[str, Any]:
        """What summary.json records of these options: nothing at their defaults (so a report
        laid out as before is written as before), else `{"report": {...}}`."""
        return {} if self == ReportOptions() else {"report": asdict(self)}

    @classmethod
    def of(cls, value: object) -> ReportOptions:
        """The options of a parsed config's `report` group (a namespace with these fields, or
        None for the defaults)."""
        if value is None:
            return cls()
        return value if isinstance(value, cls) else cls(**vars(value))

    @classmethod
    def of_meta(cls, meta: Mapping[str, Any]) -> ReportOptions:
        """The options a summary's `meta` records (the defaults when it records none)."""
        return cls(**(meta.get("report") or {}))
