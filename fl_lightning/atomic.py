"""Atomic file writes: a crash leaves the previous valid file, never a half-written one.

Checkpoints, tickets, masks and results all go through these functions.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are for others too
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """`torch.save` through a temporary file and a rename."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """JSON (indented, sorted keys off) through a temporary file and a rename."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


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
