"""Atomic file writes: a crash leaves the previous valid file, never a half-written one.

Checkpoints, tickets, masks and results all go through these functions.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_temporary(target: Path, data: bytes) -> Path:
    """`data` in a temporary file beside `target` (synced, ordinary permissions); removed
    again if writing fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are for others too
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one."""
    atomic_write_files({path: data})


def atomic_write_files(files: Mapping[str | os.PathLike[str], bytes]) -> None:
    """Write several files that belong together (a ticket and its report): every one is
    written to a temporary file first, and only when all are whole are they renamed into
    place, so a full disk leaves the old set, not a new file beside an old one."""
    written: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            target = Path(path)
            written.append((_write_temporary(target, data), target))
        for tmp, target in written:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        raise


def torch_bytes(obj: Any) -> bytes:
    """What `torch.save(obj, path)` would write."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """`torch.save` through a temporary file and a rename."""
    atomic_write_bytes(path, torch_bytes(obj))


def json_bytes(obj: Any) -> bytes:
    """`obj` as indented JSON text, as `atomic_write_json` writes it."""
    return (json.dumps(obj, indent=2) + "\n").encode()


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """JSON (indented, sorted keys off) through a temporary file and a rename."""
    atomic_write_bytes(path, json_bytes(obj))


def check_can_create(path: str | os.PathLike[str], option: str, *, folder: bool = False) -> None:
    """`UsageError` unless files can be created where `path` goes (a probe, removed at once).

    With `folder`, `path` is a folder to be: an existing file there is refused too.

    Permission bits do not tell (root may write anywhere, a read-only or virtual file system
    refuses everyone), so the nearest existing folder is asked to hold a temporary folder.
    Nothing is left behind either way.
    """
    from fl_lightning.errors import UsageError

    target = Path(path)
    if folder and target.exists() and not target.is_dir():
        raise UsageError(f"{option}={str(target)!r} exists and is not a folder; choose a folder.")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option}={str(target)!r} cannot be created: {str(parent)!r} is a file.")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".fl-lightning-probe-", dir=parent))
    except OSError as err:
        raise UsageError(
            f"{option}={str(target)!r} cannot be written: {str(parent)!r} refuses new files "
            f"({err.strerror}); choose a writable folder."
        ) from None
