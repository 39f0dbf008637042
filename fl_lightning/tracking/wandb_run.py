"""Weights & Biases runs: offline by default, one run per job, `round` as the step.

These machines usually have no internet, so every run is written offline unless `WANDB_MODE`
says otherwise (or `wandb agent` started it: a sweep's runs stream online); `wandb sync
<run dir>` uploads it later, `WANDB_MODE=online` streams it live.
Reading an offline run back is `fl_lightning.tracking.offline_reader`; the metric names are
`fl_lightning.tracking.metric_names`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shlex
import string
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fl_lightning.atomic import check_can_create
from fl_lightning.recorded_paths import recorded_tree
from fl_lightning.tracking.metric_names import ROUND, TEST_ACC
from fl_lightning.version import code_version
from fl_lightning.write_errors import is_write_error


def use_offline_default() -> str:
    """Make W&B offline unless `WANDB_MODE` is already set; returns the mode in force.

    A run started by `wandb agent` (`WANDB_SWEEP_ID` set) is online instead: the sweep's
    server chooses the next run from this one's metric, which an offline run never sends.
    Also keeps a W&B that cannot write quiet (`quiet_wandb_failures`): the command's own
    one-line message says what went wrong."""
    os.environ.setdefault("WANDB_MODE", "online" if os.environ.get("WANDB_SWEEP_ID") else "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    # Git metadata is collected by a subprocess per run: slow and useless in a clean clone.
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    quiet_wandb_failures()
    return os.environ["WANDB_MODE"]


def check_wandb_folder(save_dir: str | os.PathLike[str], option: str = "--output") -> None:
    """`UsageError` unless W&B can create its run under `save_dir`/wandb/: checked before a
    command starts, since W&B cannot say why it fails in a file named wandb or on a read-only
    folder (it fails with a traceback, after the work is done)."""
    check_can_create(Path(save_dir) / "wandb" / "run", f"{option}'s wandb/ folder", folder=True)


class _DeadServiceNoise(logging.Filter):
    """Drops asyncio's `socket.send() raised exception.`: W&B's service stopped (its disk is
    full), and every later message to it would print that line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("socket.send() raised exception")


_QUIET = _DeadServiceNoise()


def quiet_wandb_failures() -> None:
    """Keep a W&B that cannot write from printing a traceback per log message.

    On a full disk, W&B's debug log handler fails on every message and Python's logging prints
    each failure with a traceback (`logging.raiseExceptions`, meant for development), and its
    stopped service makes asyncio warn on every send. The failure itself still surfaces: the
    run's `finish` raises the `OSError`, which the command turns into one line.
    """
    logging.raiseExceptions = False
    asyncio_log = logging.getLogger("asyncio")
    if _QUIET not in asyncio_log.filters:
        asyncio_log.addFilter(_QUIET)


@contextmanager
def wandb_write_errors(save_dir: str | os.PathLike[str]) -> Iterator[None]:
    """A write error inside W&B (`is_write_error`) as an `OSError` naming its folder,
    `save_dir`/wandb (W&B's own errors name no file, or one of its temporary files)."""
    try:
        yield
    except OSError as err:
        if not is_write_error(err):
            raise
        folder = Path(save_dir) / "wandb"
        raise OSError(err.errno, f"W&B: {err.strerror}", str(folder)) from None


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
        round_metrics: bool = True,
    ) -> None:
        """`run_id` continues the W&B run with that id (a resumed federation, the summary run
        of a comparison run again); None starts one. `round_metrics` defines `round` as the
        step of every metric and keeps `test/acc`'s best beside its last: for runs that log
        rounds (federations), not for those that log none (prune, a comparison's summary).

        The run config is `config` with its absolute paths made relative (`recorded_tree`) and
        the code that made the run (`code`: `version.code_version`)."""
        self.run: Any = None
        self.save_dir = Path(save_dir)
        if not enabled:
            return
        import wandb

        use_offline_default()
        self.save_dir.mkdir(parents=True, exist_ok=True)
        with wandb_write_errors(self.save_dir):
            self._init(wandb, project, name, group, job_type, config, run_id, round_metrics)

    def _init(
        self,
        wandb: Any,
        project: str,
        name: str | None,
        group: str | None,
        job_type: str,
        config: Mapping[str, Any],
        run_id: str | None,
        round_metrics: bool,
    ) -> None:
        self.run = wandb.init(
            project=project,
            name=name,
            group=group,
            job_type=job_type,
            dir=str(self.save_dir),
            config={**recorded_tree(dict(config)), "code": code_version()},
            reinit="create_new",
            id=run_id,
            resume="allow" if run_id else None,
        )
        if round_metrics:
            self.run.define_metric(ROUND)
            self.run.define_metric("*", step_metric=ROUND)
            # the best accuracy over rounds in the run summary, beside the last one
            self.run.define_metric(TEST_ACC, step_metric=ROUND, summary="max,last")

    @classmethod
    def around(cls, run: Any) -> WandbRun:
        """A `WandbRun` over a run started elsewhere (Lightning's `WandbLogger.experiment`)."""
        wrapped = cls.__new__(cls)
        wrapped.run = run
        wrapped.save_dir = Path(run.dir).parents[2]  # SAVE_DIR/wandb/<run>/files
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
        with wandb_write_errors(self.save_dir):
            self.run.log({key: wandb.Table(columns=columns, data=data)})

    def log_image(self, key: str, path: str | os.PathLike[str]) -> None:
        if self.run is not None:
            import wandb

            with wandb_write_errors(self.save_dir):  # the image is copied into the run
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
        pretrain -> ticket -> federation). Offline, W&B refuses `use_artifact` ("Cannot use
        artifact when in offline mode"), so an offline run records no use and `wandb sync`
        cannot add one: its lineage is metadata only, the artifact's `derived_from` and the
        run config's `inputs`.
        """
        if self.run is None:
            return None
        import wandb

        with wandb_write_errors(self.save_dir):
            return self._log_artifact(wandb, path, kind, sha256, inputs, metadata)

    def _log_artifact(
        self,
        wandb: Any,
        path: str | os.PathLike[str],
        kind: str,
        sha256: str,
        inputs: Sequence[str],
        metadata: Mapping[str, Any] | None,
    ) -> str:
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
        """Close the run and wait until its offline file is complete on disk.

        A full or read-only disk surfaces here (W&B writes in the background): an `OSError`
        naming the run's wandb/ folder (`wandb_write_errors`)."""
        if self.run is not None:
            run, self.run = self.run, None
            with wandb_write_errors(self.save_dir):
                try:
                    run.finish()
                finally:
                    finish_wandb_writes()


def new_run_id() -> str:
    """A fresh W&B run id (8 random base-36 characters, as W&B makes them), to name a run
    before it starts: its first checkpoint records it before W&B is imported."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


#: Artifact types: the DAE checkpoint, the lottery ticket, the final federated model.
DAE_ARTIFACT = "dae-checkpoint"
TICKET_ARTIFACT = "ticket"
MODEL_ARTIFACT = "federated-model"


def artifact_name(kind: str, sha256: str) -> str:
    """`dae-checkpoint-0123456789abcdef`: named by content, so whoever logs or uses the same
    file refers to the same artifact."""
    return f"{kind}-{sha256[:16]}"


def stable_run_id(kind: str, folder: str | os.PathLike[str]) -> str:
    """A W&B run id fixed by `folder` (`compare-summary-0123456789ab`): the run that folder
    logs again on a re-run continues the same W&B run instead of adding one."""
    digest = hashlib.sha256(os.path.abspath(folder).encode()).hexdigest()[:12]
    return f"{kind}-{digest}"


def sync_command(root: str | os.PathLike[str]) -> str | None:
    """The one `wandb sync` command that uploads every offline run under `root` (None: none).

    `wandb sync` takes run folders and `wandb/` folders, any number of them; runs nested at
    the same depth (`runs/<partition>/<arm>/<seed>/wandb`) are named by one shell pattern, so
    the command stays one line however many runs a comparison holds.
    """
    base = Path(root)
    found = {p.parent.parent for p in base.rglob("offline-run-*/*.wandb")}
    patterns: dict[str, None] = {}
    for folder in sorted(found, key=lambda f: (len(f.parts), f)):  # the comparison's own first
        parts = folder.relative_to(base).parts  # (..., "wandb")
        middle = ["*"] * (len(parts) - 2)
        patterns["/".join([parts[0], *middle, parts[-1]] if len(parts) > 1 else parts)] = None
    if not patterns:
        return None
    prefix = shlex.quote(str(base))
    return "wandb sync " + " ".join(f"{prefix}/{pattern}" for pattern in patterns)


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
