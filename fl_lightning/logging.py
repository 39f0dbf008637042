"""Weights & Biases: offline by default, one run per job, and a reader for offline runs.

These machines usually have no internet, so every run is written offline unless `WANDB_MODE`
says otherwise; `wandb sync <run dir>` uploads it later, `WANDB_MODE=online` streams it live.
The metric names of a federation are fixed here, so the engines, the CSV files and W&B agree.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# Metric names (DESIGN.md "Metric names"): the columns of metrics.csv and the W&B keys.
ROUND = "round"
TEST_ACC = "test/acc"
TEST_LOSS = "test/loss"
TRAIN_LOSS = "train/loss"
DOWN_BYTES = "comm/down_bytes"
UP_BYTES = "comm/up_bytes"
TOTAL_BYTES = "comm/total_bytes"
FLOPS = "compute/flops"
CLIENT_SECONDS = "compute/client_seconds"
DENSITY = "model/density"
PARTICIPATED = "clients/participated"
FAILED = "clients/failed"
ROUND_METRICS = (
    ROUND,
    TEST_ACC,
    TEST_LOSS,
    TRAIN_LOSS,
    DOWN_BYTES,
    UP_BYTES,
    TOTAL_BYTES,
    FLOPS,
    CLIENT_SECONDS,
    DENSITY,
    PARTICIPATED,
    FAILED,
)
#: Fields that measure wall-clock time: they differ between otherwise identical runs.
WALL_CLOCK_FIELDS = (CLIENT_SECONDS, "client_seconds", "wall_seconds", "seconds_to_target")


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
        """`run_id` continues the W&B run with that id (a resumed federation); None starts one."""
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
            config=dict(config),
            reinit="create_new",
            id=run_id,
            resume="allow" if run_id else None,
        )
        self.run.define_metric(ROUND)
        self.run.define_metric("*", step_metric=ROUND)

    @property
    def directory(self) -> Path | None:
        """The run's local folder (what `wandb sync` takes), or None when disabled."""
        return Path(self.run.dir).parent if self.run is not None else None

    def log(self, metrics: Mapping[str, Any]) -> None:
        if self.run is not None:
            self.run.log(dict(metrics))

    def log_table(self, key: str, rows: list[dict[str, Any]]) -> None:
        """Log a list of same-keyed dicts as a `wandb.Table`."""
        if self.run is None or not rows:
            return
        import wandb

        names = list(rows[0])
        columns: list[str | int] = list(names)
        self.run.log(
            {key: wandb.Table(columns=columns, data=[[r.get(c) for c in names] for r in rows])}
        )

    def log_image(self, key: str, path: str | os.PathLike[str]) -> None:
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Image(str(path))})

    def summary(self, values: Mapping[str, Any]) -> None:
        if self.run is not None:
            self.run.summary.update(dict(values))

    def finish(self) -> None:
        """Close the run and wait until its offline file is complete on disk."""
        if self.run is not None:
            self.run.finish()
            self.run = None
            finish_wandb_writes()


def finish_wandb_writes() -> None:
    """Wait for W&B's background service to flush every run (`wandb.teardown()`).

    In wandb 0.31, `finish()` can return before an offline `.wandb` file is complete when the
    machine is busy; teardown waits, so a run is whole on disk when a command returns.
    """
    import wandb

    wandb.teardown()


# -- reading offline runs back -------------------------------------------------------------
# A `.wandb` file is a 7-byte header (":W&B", magic 0xBEE1, version) followed by LevelDB-log
# records (32 KiB blocks; each chunk: crc32 u32, length u16, type u8) holding protobuf Records.
_BLOCK = 32768
_CHUNK_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _records(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    pos, pending = 7, b""
    while pos + _CHUNK_HEADER <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _CHUNK_HEADER:  # block trailer padding
            pos += room
            continue
        _crc, length, kind = struct.unpack_from("<IHB", data, pos)
        chunk = data[pos + _CHUNK_HEADER : pos + _CHUNK_HEADER + length]
        pos += _CHUNK_HEADER + length
        if kind == 0 and length == 0:
            pos += _BLOCK - pos % _BLOCK if pos % _BLOCK else 0
            continue
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            yield pending + chunk
            pending = b""


def read_offline_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """History rows, config and summary of an offline run folder (`.../offline-run-*`).

    For tests and for users who want their numbers without uploading: `{"history": [...],
    "config": {...}, "summary": {...}}`; history values are decoded from their JSON.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb file in {run_dir}")
    history: list[dict[str, Any]] = []
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for raw in _records(files[0]):
        record = pb.Record()  # type: ignore[attr-defined]
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind in ("config", "run"):
            updates = record.config.update if kind == "config" else record.run.config.update
            for i in updates:
                config[_key(i)] = json.loads(i.value_json)
        elif kind == "summary":
            for i in record.summary.update:
                summary[_key(i)] = json.loads(i.value_json)
    return {"history": history, "config": config, "summary": summary}


def _key(item: Any) -> str:
    return item.key if item.key else "/".join(item.nested_key)
