"""Reading an offline W&B run back from disk, without uploading it or starting W&B.

A `.wandb` file is a 7-byte header (":W&B", magic 0xBEE1, version) followed by LevelDB-log
records (32 KiB blocks; each chunk: crc32 u32, length u16, type u8) holding protobuf Records.
Used to resume a federation's W&B run (which rounds it already holds) and by tests.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    "config": {...}, "summary": {...}, "artifacts": [...], "run": {...}, "metrics": [...]}`;
    values are decoded from their JSON; each artifact is `{"name", "type", "metadata",
    "files"}`; `run` is `{"id", "name", "group", "job_type"}`; `metrics` are the names (or
    globs, such as `*`) the run defined with `define_metric`.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb file in {run_dir}")
    history: list[dict[str, Any]] = []
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    artifacts: list[dict[str, Any]] = []
    run: dict[str, Any] = {}
    metrics: list[str] = []
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
            if kind == "run":
                r = record.run
                run = {"id": r.run_id, "name": r.display_name, "group": r.run_group}
                run["job_type"] = r.job_type
        elif kind == "metric" and not record.metric.expanded_from_glob:
            metrics.append(record.metric.name or record.metric.glob_name)
        elif kind == "summary":
            for i in record.summary.update:
                summary[_key(i)] = json.loads(i.value_json)
        elif kind == "artifact":
            a = record.artifact
            artifacts.append(
                {
                    "name": a.name,
                    "type": a.type,
                    "metadata": json.loads(a.metadata) if a.metadata else {},
                    "files": [c.path for c in a.manifest.contents],
                }
            )
    return {
        "history": history,
        "config": config,
        "summary": summary,
        "artifacts": artifacts,
        "run": run,
        "metrics": metrics,
    }


def _key(item: Any) -> str:
    return item.key if item.key else "/".join(item.nested_key)


def offline_run_parts(wandb_dir: str | os.PathLike[str], run_id: str) -> list[Path]:
    """The folders in `wandb_dir` that hold parts of W&B run `run_id`, oldest first.

    A part is `offline-run-<date>_<time>-<id>`, and W&B adds `-<n>` when a part of the same
    run starts within the same second as the previous one (a quick resume): both count. A name
    cannot tell that suffix from another run's id that is `run_id` plus `-<digits>`, so a
    suffixed folder counts only when its own run record names `run_id`.
    """
    exact = re.compile(rf"(?:offline-)?run-\d{{8}}_\d{{6}}-{re.escape(run_id)}")
    suffixed = re.compile(rf"{exact.pattern}-\d+")
    parts = []
    for path in Path(wandb_dir).glob("*run-*"):
        if not path.is_dir() or path.is_symlink():
            continue
        if exact.fullmatch(path.name) or (
            suffixed.fullmatch(path.name) and _recorded_id(path) == run_id
        ):
            parts.append(path)
    return sorted(parts)


def _recorded_id(part: Path) -> str | None:
    """The run id that `part`'s own run record names; None when it cannot be read."""
    try:
        return read_offline_run(part)["run"].get("id") or None
    except Exception:  # killed mid-write before its run record
        return None


def offline_run_ids(wandb_dir: str | os.PathLike[str]) -> list[str]:
    """The ids of the W&B runs with parts in `wandb_dir`, in the order their first parts
    started, read from each part's own run record (a folder name cannot tell an id ending in
    `-<digits>` from W&B's same-second suffix); a part too damaged to read is left out."""
    ids: dict[str, None] = {}
    for part in sorted(Path(wandb_dir).glob("*run-*")):
        if not part.is_dir() or part.is_symlink():
            continue
        run_id = _recorded_id(part)
        if run_id:
            ids.setdefault(run_id)
    return list(ids)
