"""What `compare` may write into its `--output`: its own report, never another command's files.

A comparison writes summary.json first, then summary.md, curves.csv, the label heatmaps and the
plots (`comparison._report`), so a comparison's report files lie beside a comparison's
summary.json or not at all. Report files without one are someone else's (a `federate` run's
summary.json, a user's notes in summary.md): `compare` refuses the folder before anything runs
rather than replace them. A federation run or a pre-training in the folder itself is refused too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fl_lightning.errors import UsageError
from fl_lightning.experiments.plots import PLOT_FILES

#: The report files of every comparison (beside `label_distribution_<partition>.png`).
REPORT_FILES = ("summary.json", "summary.md", "curves.csv", *PLOT_FILES.values())

#: Keys of every comparison's summary.json (`experiments.report.write_reports`).
SUMMARY_KEYS = frozenset({"target_acc", "rows"})

#: Files that make a folder another command's: a federation run, a pre-training.
OTHER_COMMANDS = {"checkpoint.pt": "a federation run", "dae.ckpt": "a pre-training"}


def check_compare_output(output: Path, partitions: Sequence[str]) -> None:
    """`UsageError` unless the comparison's files can go to `output` replacing only what an
    earlier comparison wrote there (`partitions`: the grid's partition folders, which name
    the label heatmaps)."""
    for name, what in OTHER_COMMANDS.items():
        if (output / name).exists():
            raise UsageError(
                f"--output={str(output)!r} holds {what} ({name}), not a comparison; choose "
                "another --output (nothing there is replaced)."
            )
    if is_compare_summary(output / "summary.json"):
        return
    names = [*REPORT_FILES, *(f"label_distribution_{p}.png" for p in partitions)]
    foreign = [name for name in names if (output / name).exists()]
    if foreign:
        raise UsageError(
            f"--output={str(output)!r} holds {', '.join(foreign)}, which `fl-lightning compare` "
            "did not write (no comparison's summary.json is there); choose another --output "
            "(nothing there is replaced)."
        )


def is_compare_summary(path: Path) -> bool:
    """Whether `path` is a comparison's summary.json (`write_reports`)."""
    try:
        summary: Any = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(summary, dict) and summary.keys() >= SUMMARY_KEYS
