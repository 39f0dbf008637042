"""Round observers: what records a federation's rounds, apart from the loop that runs them.

`RoundEngine` tells each observer every finished round's metrics row (before the round's files
are written, so a row is recorded at the same point of the round as before) and, at the end of
a run, its summary. Observers are given to the engine's constructor, or to `run` when they are
opened only after the engine is built (the W&B run, which `app.federate` opens once every check
on the engine and its resumed checkpoint has passed), so no attribute of an engine is set from
outside it.
"""

from __future__ import annotations

from typing import Any, Protocol

from fl_lightning.tracking.wandb_run import WandbRun


class RoundObserver(Protocol):
    """Told every round's metrics row and the run's summary."""

    def on_round(self, row: dict[str, Any]) -> None: ...

    def on_summary(self, summary: dict[str, Any]) -> None: ...


class WandbRecorder:
    """Logs every round's row to a W&B run and the summary (less its history) to the run's
    summary."""

    def __init__(self, run: WandbRun) -> None:
        self.run = run

    def on_round(self, row: dict[str, Any]) -> None:
        self.run.log(row)

    def on_summary(self, summary: dict[str, Any]) -> None:
        self.run.summary({k: v for k, v in summary.items() if k != "history"})
