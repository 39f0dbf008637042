"""Weights & Biases runs: offline by default, one run per job, `round` as the step.

These machines usually have no internet, so every run is written offline unless `WANDB_MODE`
says otherwise; `wandb sync <run dir>` uploads it later, `WANDB_MODE=online` streams it live.
Reading an offline run back is `fl_lightning.tracking.offline_reader`; the metric names are
`fl_lightning.federated.metric_names`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fl_lightning.federated.metric_names import ROUND, TEST_ACC
from fl_lightning.recorded_paths import recorded_tree
from fl_lightning.version import code_version


def use_offline_default() -> str:
    """Make W&B offline unless `WANDB_MODE` is already set; returns the mode in force."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    # Git metadata is collected by a subprocess per run: slow and useless in a clean clone.
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    return os.environ["WANDB_MODE"]


class WandbRun:
    """One W&B run with `round` as its step; a no-op when `enabled` is False.

    The engines log through this class only, so turning W&B off (`--wandb.enabled false`) or
    changing its project never touches the round loop.
    """

    def __init__(
        self,
        *,
        enabled: bool,
        project: str,
        name: str | None,
        group: str | None,
        save_dir: str | os.PathLike[str],
        config: Mapping[str, Any],
        job_type: str = "federate",
        run_id: str | None = None,
    ) -> None:
        """`run_id` continues the W&B run with that id (a resumed federation); None starts one.

        The run config is `config` with its absolute paths made relative (`recorded_tree`) and
        the code that made the run (`code`: `version.code_version`)."""
        self.run: Any = None
        if not enabled:
            return
        import wandb

        use_offline_default()
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=project,
            name=name,
            group=group,
            job_type=job_type,
            dir=str(save_dir),
            config={**recorded_tree(dict(config)), "code": code_version()},
            reinit="create_new",
            id=run_id,
            resume="allow" if run_id else None,
        )
        self.run.define_metric(ROUND)
        self.run.define_metric("*", step_metric=ROUND)
        # the best accuracy over rounds in the run summary, beside the last one
        self.run.define_metric(TEST_ACC, step_metric=ROUND, summary="max,last")

    @classmethod
    def around(cls, run: Any) -> WandbRun:
        """A `WandbRun` over a run started elsewhere (Lightning's `WandbLogger.experiment`)."""
        wrapped = cls.__new__(cls)
        wrapped.run = run
        return wrapped

    @property
    def directory(self) -> Path | None:
        """The run's local folder (what `wandb sync` takes), or None when disabled."""
        return Path(self.run.dir).parent if self.run is not None else None

    def log(self, metrics: Mapping[str, Any]) -> None:
        if self.run is not None:
            self.run.log(dict(metrics))

    def log_table(self, key: str, rows: list[dict[str, Any]]) -> None:
        """Log a list of same-keyed dicts as a `wandb.Table`.

        A list cell (per-seed values, which may hold None) is logged as its JSON text: W&B
        types a table column once and refuses a list with a missing value in a number column.
        """
        if self.run is None or not rows:
            return
        import wandb

        names = list(rows[0])
        columns: list[str | int] = list(names)
        data = [[_cell(r.get(c)) for c in names] for r in rows]
        self.run.log({key: wandb.Table(columns=columns, data=data)})

    def log_image(self, key: str, path: str | os.PathLike[str]) -> None:
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Image(str(path))})

    def log_artifact(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str,
        sha256: str,
        inputs: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Log the file `path` as W&B Artifact `artifact_name(kind, sha256)`; returns the name.

        `inputs` name the artifacts it was made from (the DAE checkpoint of a ticket, the
        ticket of a federation): lineage. Online, the run uses them (W&B draws the graph
        pretrain -> ticket -> federation); offline W&B cannot use artifacts, so they are kept
        in the metadata (`derived_from`) of the artifact and in the run config (`inputs`).
        """
        if self.run is None:
            return None
        import wandb

        name = artifact_name(kind, sha256)
        meta = {"sha256": sha256, "file": Path(path).name, "derived_from": list(inputs)}
        artifact = wandb.Artifact(name, type=kind, metadata={**meta, **dict(metadata or {})})
        artifact.add_file(str(path))
        if inputs:
            self.run.config.update({"inputs": list(inputs)}, allow_val_change=True)
            if not self.run.settings._offline:
                for source in inputs:
                    self.run.use_artifact(f"{source}:latest")
        self.run.log_artifact(artifact)
        return name

    def summary(self, values: Mapping[str, Any]) -> None:
        if self.run is not None:
            self.run.summary.update(dict(values))

    def finish(self) -> None:
        """Close the run and wait until its offline file is complete on disk."""
        if self.run is not None:
            self.run.finish()
            self.run = None
            finish_wandb_writes()


#: Artifact types: the DAE checkpoint, the lottery ticket, the final federated model.
DAE_ARTIFACT = "dae-checkpoint"
TICKET_ARTIFACT = "ticket"
MODEL_ARTIFACT = "federated-model"


def artifact_name(kind: str, sha256: str) -> str:
    """`dae-checkpoint-0123456789abcdef`: named by content, so whoever logs or uses the same
    file refers to the same artifact."""
    return f"{kind}-{sha256[:16]}"


def finish_wandb_writes() -> None:
    """Wait for W&B's background service to flush every run (`wandb.teardown()`).

    In wandb 0.31, `finish()` can return before an offline `.wandb` file is complete when the
    machine is busy; teardown waits, so a run is whole on disk when a command returns.
    """
    import wandb

    wandb.teardown()


def _cell(value: Any) -> Any:
    """A table cell as W&B takes it: lists and tuples as JSON text, anything else as is."""
    return json.dumps(value) if isinstance(value, list | tuple) else value
