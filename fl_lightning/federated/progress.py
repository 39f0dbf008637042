"""`RoundProgress`: the rich progress bar of a federation (round, clients, accuracy, traffic)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


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
        self, rounds: int, clients_per_round: int, *, enabled: bool, done: int = 0
    ) -> None:
        self.enabled = enabled
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
            disable=not enabled,
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
        if row.get("test/acc") is not None:
            self.acc = f"{row['test/acc']:.4f}"
        self.traffic = human_bytes(row["comm/total_bytes"])
        self.progress.update(
            self.task, advance=1, clients=self._clients(), acc=self.acc, traffic=self.traffic
        )
