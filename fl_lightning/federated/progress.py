"""`RoundProgress`: a federation's progress: a rich bar on a terminal, plain lines elsewhere;
`ProgressRecorder`: the round observer that shows it as the engine runs.

On a terminal the bar shows round, clients, accuracy, traffic, elapsed time and ETA. When
output is not a terminal (`make demo | tee`, `nohup`, a cluster job's log) a live bar prints
nothing useful, so each round prints one plain line with the same figures instead.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typing_extensions import override

from fl_lightning.federated.observers import RoundLoop, RoundObserver
from fl_lightning.tracking.metric_names import CUM_BYTES, ROUND, TEST_ACC


def human_bytes(n: float) -> str:
    """`1536` -> `1.5 KB` (decimal units, as network traffic is usually quoted)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class RoundProgress:
    """A bar over rounds whose text shows clients done, last test accuracy and total traffic."""

    def __init__(
        self,
        rounds: int,
        clients_per_round: int,
        *,
        enabled: bool,
        done: int = 0,
        stream: TextIO | None = None,
    ) -> None:
        """`stream` (default stdout) gets the bar if it is a terminal, plain lines otherwise."""
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stdout
        console = Console(file=self.stream)
        self.plain = enabled and not console.is_terminal
        self.rounds = rounds
        self.done = done
        self.started = time.monotonic()
        self.started_at = done
        self.clients_per_round = clients_per_round
        self.clients = 0
        self.acc = "-"
        self.traffic = "0 B"
        self.progress = Progress(
            TextColumn("[bold]round[/] {task.completed:.0f}/{task.total:.0f}"),
            BarColumn(),
            TextColumn("clients {task.fields[clients]}"),
            TextColumn("test/acc {task.fields[acc]}"),
            TextColumn("traffic {task.fields[traffic]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled or self.plain,
            transient=False,
        )
        self.task = self.progress.add_task(
            "federate",
            total=rounds,
            completed=done,
            clients=self._clients(),
            acc="-",
            traffic="0 B",
        )

    def _clients(self) -> str:
        return f"{self.clients}/{self.clients_per_round}"

    def __enter__(self) -> RoundProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def client_done(self) -> None:
        self.clients += 1
        self.progress.update(self.task, clients=self._clients())

    def end_round(self, row: dict[str, Any]) -> None:
        self.clients = 0
        if row.get(TEST_ACC) is not None:
            self.acc = f"{row[TEST_ACC]:.4f}"
        self.traffic = human_bytes(row[CUM_BYTES])
        self.progress.update(
            self.task, advance=1, clients=self._clients(), acc=self.acc, traffic=self.traffic
        )
        self.done += 1
        if self.plain:
            print(self.plain_line(row), file=self.stream, flush=True)

    def plain_line(self, row: dict[str, Any]) -> str:
        """`round 3/15  test/acc 0.6123  traffic 1.2 MB  elapsed 0:00:42  ETA 0:03:16`."""
        elapsed = time.monotonic() - self.started
        finished, left = self.done - self.started_at, self.rounds - self.done
        return round_line(row, self.rounds, self.acc, elapsed, finished, left)


class ProgressRecorder(RoundObserver):
    """Shows the engine's rounds as a `RoundProgress` (nothing when not `enabled`): the bar
    starts with the loop, counts the round's clients, advances after each recorded round (so
    it comes after the run-files recorder) and stops when the loop ends."""

    def __init__(self, enabled: bool = True, *, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream
        self.bar: RoundProgress | None = None

    @override
    def on_loop_start(self, engine: RoundLoop) -> None:
        self.bar = RoundProgress(
            engine.federation.rounds,
            engine.k,
            enabled=self.enabled,
            done=engine.round,
            stream=self.stream,
        )
        self.bar.__enter__()

    @override
    def on_client_done(self, engine: RoundLoop) -> None:
        if self.bar is not None:
            self.bar.client_done()

    @override
    def on_round(self, engine: RoundLoop, row: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.end_round(row)

    @override
    def on_loop_end(self, engine: RoundLoop) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


class RoundLines:
    """One plain line per finished round, after the run's `label`: the `on_round` observer of
    a comparison's federations, which print no bar of their own (several may run at once,
    each in its own process, and the comparison has its own display).

        fedavg, iid, seed 0: round 3/15  test/acc 0.6123  traffic 1.2 MB  elapsed 0:00:42  ...
    """

    def __init__(self, label: str, rounds: int) -> None:
        self.label = label
        self.rounds = rounds
        self.started = time.monotonic()
        self.finished = 0
        self.acc = "-"

    def __call__(self, row: dict[str, Any]) -> None:
        self.finished += 1
        if row.get(TEST_ACC) is not None:
            self.acc = f"{row[TEST_ACC]:.4f}"
        elapsed = time.monotonic() - self.started
        left = self.rounds - int(row[ROUND])
        line = round_line(row, self.rounds, self.acc, elapsed, self.finished, left)
        # One write per line (print writes the newline apart), so the lines of federations
        # running at once in several processes stay whole in a shared pipe; sys.stdout looked
        # up now, as a live display may have redirected it since.
        sys.stdout.write(f"{self.label}: {line}\n")
        sys.stdout.flush()


def round_line(
    row: dict[str, Any], rounds: int, acc: str, elapsed: float, finished: int, left: int
) -> str:
    """The plain line of the round `row`: `finished` rounds took `elapsed` s here, `left` remain
    (the ETA assumes they take as long)."""
    eta = _clock(elapsed / finished * left) if finished > 0 else "-"
    return (
        f"round {row[ROUND]}/{rounds}  test/acc {acc}  traffic {human_bytes(row[CUM_BYTES])}  "
        f"elapsed {_clock(elapsed)}  ETA {eta}"
    )


def _clock(seconds: float) -> str:
    """`3725.4` -> `1:02:05`."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
