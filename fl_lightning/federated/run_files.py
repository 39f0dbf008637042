"""`RunFiles`: the files of one federation run, each written atomically; `RunFilesRecorder`:
the round observer that writes them as the engine runs.

    DIR/metrics.csv     one row per round, columns as in `metric_names.ROUND_METRICS`
    DIR/summary.json    totals, final / best accuracy, the per-round history
    DIR/config.yaml     the resolved configuration, seeds included
    DIR/model.pt        the final global model (state_dict + mask) and what rebuilds it
                        (`model_info`: family, dataset, widths, options, package version)
    DIR/checkpoint.pt   the engine's state after the last finished round (for `--resume`), with
                        a copy of config.yaml's text (what a resume must match) and the id
                        of the run's W&B run (the one a resume continues)
    DIR/DONE.json       written last, once every other file is final: the run is complete
    DIR/label_distribution.png   the clients x classes heatmap of the split (`app.federation`)

Every file is rewritten whole through a temporary file and a rename, so a killed run leaves the
previous valid version and `metrics.csv` holds each round exactly once, also after a resume.
`RunFilesRecorder` writes checkpoint.pt when the loop starts at round 0 (a run killed in its
first round resumes like any other), metrics.csv and then checkpoint.pt after every round (the
checkpoint last: it marks the round as done), summary.json and model.pt at the end; config.yaml
and DONE.json are the caller's (`app.federate`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from typing_extensions import override

from fl_lightning.atomic import atomic_torch_save, atomic_write_bytes, atomic_write_json
from fl_lightning.errors import UsageError
from fl_lightning.federated.observers import RoundLoop, RoundObserver
from fl_lightning.tracking.metric_names import ROUND_METRICS

#: The name of the run's clients x classes heatmap (written by `app.federation`).
LABELS_PNG = "label_distribution.png"


class RunFiles:
    """Paths and atomic writers of a run folder."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self.metrics = self.dir / "metrics.csv"
        self.summary = self.dir / "summary.json"
        self.config = self.dir / "config.yaml"
        self.model = self.dir / "model.pt"
        self.checkpoint = self.dir / "checkpoint.pt"
        self.done = self.dir / "DONE.json"
        self.labels = self.dir / LABELS_PNG
        #: config.yaml's text, stored in every checkpoint (set by `federate` before round 0)
        self.run_config: str | None = None
        #: the id of the run's W&B run, stored in every checkpoint (set by `federate` too)
        self.wandb_run_id: str | None = None
        #: stored in model.pt beside the weights (set by `federate`): what rebuilds the model
        self.model_info: dict[str, Any] | None = None

    def run_files(self) -> list[Path]:
        """The run's own result files that exist now (the checkpoint apart)."""
        own = (self.metrics, self.summary, self.config, self.model, self.done)
        return [path for path in own if path.exists()]

    @property
    def complete(self) -> bool:
        """Whether the run finished and wrote every file: its completion marker (written last)
        and the results it vouches for are all there."""
        return all(p.is_file() for p in (self.done, self.summary, self.model, self.metrics))

    def create(self) -> None:
        """Make the folder (its place was checked by `check_can_create` before any work)."""
        self.dir.mkdir(parents=True, exist_ok=True)

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete the temporary files a killed run left mid-write (`.<name>.*.tmp`); returns them.

        Only temporaries of this folder's own files are touched; call it before resuming.
        """
        stale = [path for path in self.dir.glob(".*.tmp") if self.is_temporary(path)]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def is_temporary(self, path: Path) -> bool:
        """Whether `path` is a temporary file of one of this folder's own files (`atomic`)."""
        own = (self.metrics, self.summary, self.config, self.model, self.checkpoint, self.done)
        return (
            path.parent == self.dir
            and path.is_file()
            and path.name.endswith(".tmp")
            and any(path.name.startswith(f".{p.name}.") for p in own)
        )

    def write_metrics(self, history: Sequence[Mapping[str, Any]]) -> None:
        buffer = io.StringIO()
        extra = sorted({k for row in history for k in row} - set(ROUND_METRICS))
        writer = csv.DictWriter(buffer, fieldnames=[*ROUND_METRICS, *extra], restval="")
        writer.writeheader()
        for row in history:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        atomic_write_bytes(self.metrics, buffer.getvalue().encode())

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        atomic_write_json(self.summary, dict(summary))

    def write_config(self, text: str) -> None:
        atomic_write_bytes(self.config, text.encode())

    def write_model(self, state: Mapping[str, torch.Tensor], mask_state: Mapping[str, Any]) -> None:
        saved = {"state_dict": dict(state), "mask": dict(mask_state), **(self.model_info or {})}
        atomic_torch_save(saved, self.model)

    def write_checkpoint(self, state: Mapping[str, Any]) -> None:
        extra: dict[str, Any] = {} if self.run_config is None else {"config": self.run_config}
        if self.wandb_run_id is not None:
            extra[WANDB_RUN_ID_KEY] = self.wandb_run_id
        atomic_torch_save({**state, **extra}, self.checkpoint)

    def write_done(self, info: Mapping[str, Any]) -> None:
        """The completion marker: call it last, after every other file is written."""
        atomic_write_json(self.done, {"complete": True, **info})

    def read_checkpoint(self, option: str = "--resume") -> dict[str, Any]:
        """The engine state in checkpoint.pt, loaded without running code (`weights_only`)."""
        if not self.checkpoint.is_file():
            raise UsageError(
                f"{option}: no checkpoint in {str(self.dir)!r} (expected {self.checkpoint.name}); "
                "run without --resume to start a new federation."
            )
        try:
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        except Exception as err:  # not a torch file, truncated, or objects beyond plain data
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UsageError(
                f"{option}: {self.checkpoint} is not a readable federation checkpoint ({reason})."
            ) from None
        if not isinstance(state, dict):
            raise UsageError(f"{option}: {self.checkpoint} is not a federation checkpoint.")
        return dict(state)

    def recorded_config(self) -> str | None:
        """The config.yaml text checkpoint.pt carries (None: no checkpoint, or one of a version
        that stored none). Memory-mapped: the weights and residuals it holds are not read."""
        try:
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # absent, unreadable, not a torch zip file
            return None
        text = state.get("config") if isinstance(state, dict) else None
        return text if isinstance(text, str) else None

    def read_engine_checkpoint(self, option: str = "--resume") -> dict[str, Any]:
        """`read_checkpoint`, refused unless it holds a whole engine state (`CHECKPOINT_KEYS`)."""
        state = self.read_checkpoint(option)
        missing = [k for k in CHECKPOINT_KEYS if k not in state]
        if missing:
            raise UsageError(
                f"{option}: {self.checkpoint} is not a federation checkpoint (no "
                f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}); a model.pt or a "
                "DAE checkpoint cannot be resumed."
            )
        return state


#: The checkpoint.pt key of the run's W&B run id (absent in checkpoints of older versions).
WANDB_RUN_ID_KEY = "wandb_run_id"

#: What every checkpoint.pt holds (`RoundEngine.state_dict`).
CHECKPOINT_KEYS = (
    "round",
    "global_state",
    "mask",
    "sampler",
    "faults",
    "comm",
    "compute",
    "history",
    "clients_with_mask",
    "stopped",
)


class RunFilesRecorder(RoundObserver):
    """Writes a run's round files into `files` as the engine runs (see the module doc)."""

    def __init__(self, files: RunFiles) -> None:
        self.files = files

    @override
    def on_loop_start(self, engine: RoundLoop) -> None:
        if engine.round == 0:  # a run killed in its first round can be resumed like any other
            self.files.write_checkpoint(engine.state_dict())

    @override
    def on_round(self, engine: RoundLoop, row: dict[str, Any]) -> None:
        self.files.write_metrics(engine.history)
        self.files.write_checkpoint(engine.state_dict())  # last: it marks the round as done

    @override
    def on_summary(self, engine: RoundLoop, summary: dict[str, Any]) -> None:
        self.files.write_summary(summary)
        self.files.write_model(engine.global_state, engine.mask.state_dict())
