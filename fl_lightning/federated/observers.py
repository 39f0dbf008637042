"""Round observers: what records a federation's rounds, apart from the loop that runs them.

`RoundEngine` tells its observers, in the order they were given, when its round loop starts,
when a client of the round finishes, every finished round's metrics row, when the loop ends
(also when it raises) and, at the end of a run, its summary. The recorders are observers
(Lightning's `Callback` shape: every hook gets the engine and does nothing unless overridden):

    WandbRecorder       (here)              each row to a W&B run, the summary to its summary
    RunFilesRecorder    (`run_files.py`)    metrics.csv and checkpoint.pt each round; summary.json
                                            and model.pt at the end
    ProgressRecorder    (`progress.py`)     the progress bar (or one plain line per round)

Observers are given to the engine's constructor, or to `run` when they are opened only after
the engine is built (the W&B run, which `app.federate` opens once every check on the engine
and its resumed checkpoint has passed), so no attribute of an engine is set from outside it.
The order is the recording order: `app.federate` gives W&B, run files, progress, so a row is
logged to W&B before the round's files are written (the checkpoint last marks it as done).
An engine with no observers records nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from typing_extensions import override

from fl_lightning.federated.config import FederationConfig
from fl_lightning.pruning.mask import Mask
from fl_lightning.tracking.wandb_run import WandbRun


class RoundLoop(Protocol):
    """What an observer may read of the engine that tells it (`RoundEngine` is one)."""

    @property
    def round(self) -> int:
        """Rounds finished."""
        ...

    @property
    def k(self) -> int:
        """Clients sampled per round."""
        ...

    @property
    def federation(self) -> FederationConfig: ...

    @property
    def history(self) -> list[dict[str, Any]]:
        """The metrics row of every finished round."""
        ...

    @property
    def global_state(self) -> dict[str, torch.Tensor]: ...

    @property
    def mask(self) -> Mask: ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue after the last finished round."""
        ...


class RoundObserver:
    """Told of a run's round loop by the engine; every hook does nothing unless overridden."""

    def on_loop_start(self, engine: RoundLoop) -> None:
        """The loop starts after `engine.round` finished rounds (0, or a resumed run's)."""

    def on_client_done(self, engine: RoundLoop) -> None:
        """A client of the round being trained has finished (its reply is in)."""

    def on_round(self, engine: RoundLoop, row: dict[str, Any]) -> None:
        """Round `row["round"]` is finished (`engine.round`, last of `engine.history`)."""

    def on_loop_end(self, engine: RoundLoop) -> None:
        """The loop has ended: after the last round, or because it raised."""

    def on_summary(self, engine: RoundLoop, summary: dict[str, Any]) -> None:
        """The run's summary (`RoundEngine.summary`), once its loop ended without error."""


class WandbRecorder(RoundObserver):
    """Logs every round's row to a W&B run and the summary (less its history) to the run's
    summary."""

    def __init__(self, run: WandbRun) -> None:
        self.run = run

    @override
    def on_round(self, engine: RoundLoop, row: dict[str, Any]) -> None:
        self.run.log(row)

    @override
    def on_summary(self, engine: RoundLoop, summary: dict[str, Any]) -> None:
        self.run.summary({k: v for k, v in summary.items() if k != "history"})
