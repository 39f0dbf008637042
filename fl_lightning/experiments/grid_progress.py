"""`GridProgress`: which run of how many is going, time elapsed and time left, for `compare`."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class Describable(Protocol):
    """A planned run: anything that can say what it is in a few words."""

    def describe(self) -> str: ...


def clock(seconds: float) -> str:
    """`3725.2` -> `1:02:05` (hours unbounded)."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@dataclass
class GridProgress:
    """`run i/N: method, partition, seed`, elapsed and estimated time left.

    The estimate is the mean time of the runs executed so far (reused runs take no time and
    are not counted) times the runs still to do. Every line is plain text; the live bar shows
    only on a terminal (in a pipe or a log its frames would be noise).
    """

    total: int
    enabled: bool
    executed_seconds: float = 0.0
    executed: int = 0
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("left {task.fields[left]}"),
            disable=not self.enabled or not Console().is_terminal,
        )
        self.task = self.bar.add_task("compare", total=self.total, left="?")

    def __enter__(self) -> GridProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def left(self, done: int) -> str:
        if not self.executed:
            return "?"
        return clock(self.executed_seconds / self.executed * (self.total - done))

    def start(self, index: int, run: Describable, *, reused: bool = False) -> None:
        """The line of a run about to start, or to be `reused` (it finished earlier)."""
        text = f"run {index}/{self.total}: {run.describe()}"
        self.bar.update(self.task, description=text, left=self.left(index - 1))
        elapsed = clock(time.perf_counter() - self.started)
        how = ": reused (finished earlier)" if reused else ""
        self._print(f"{text}{how}  (elapsed {elapsed}, left {self.left(index - 1)})")

    def _print(self, line: str) -> None:
        """A plain line: above the live bar when it shows, else straight to stdout (a pipe
        delivers it at once, between the lines of worker processes)."""
        if self.bar.disable:
            sys.stdout.write(line + "\n")  # one write: whole between the workers' lines
            sys.stdout.flush()
        else:
            self.bar.console.print(line, markup=False, highlight=False)

    def finish(self, index: int, seconds: float, executed: bool) -> None:
        if executed:
            self.executed += 1
            self.executed_seconds += seconds
        self.bar.update(self.task, completed=index, left=self.left(index))

    def _say(self, text: str) -> None:
        elapsed = clock(time.perf_counter() - self.started)
        self._print(f"{text}  (elapsed {elapsed})")

    def done(self, index: int, run: Describable, seconds: float, executed: bool) -> None:
        """A line for a run that finished (parallel grids, where runs end in any order)."""
        how = f"ran in {clock(seconds)}" if executed else "reused"
        self._say(f"run {index}/{self.total} done: {run.describe()}, {how}")

    def failed(self, index: int, run: Describable, error: Exception) -> None:
        """A line for a run that failed; the grid goes on."""
        self._say(
            f"run {index}/{self.total} FAILED: {run.describe()}: {type(error).__name__}: {error}"
        )
