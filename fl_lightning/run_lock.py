"""`RunLock`: one process at a time writes a run's output.

Every command holds the lock of its output (`federate`, `pretrain`, `compare`: the run folder;
`prune`: the ticket file) for the run's whole life, so two runs started on the same output
cannot mix their files: the second one stops at once with a `UsageError` naming the holder.

The lock is a file (`.fl-lightning.lock` in a folder, `.<name>.lock` beside a file) holding the
holder's pid, host and command, locked with `fcntl.flock`. The kernel drops a flock when its
process dies, however it dies (SIGKILL included), so a lock left behind by a dead run is stale
by construction and does not block the next one; the file's text only names the holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType

from fl_lightning.errors import UsageError

FOLDER_LOCK_NAME = ".fl-lightning.lock"


def lock_path(output: Path, *, folder: bool) -> Path:
    """Where the lock of `output` lives: inside a folder, beside a file."""
    return output / FOLDER_LOCK_NAME if folder else output.parent / f".{output.name}.lock"


class RunLock:
    """An exclusive, process-lifetime lock on one output (a context manager).

    `acquire` makes the folder that holds the lock file when it is missing; `release` removes the
    lock file, and that folder again when this lock made it and nothing else was written there,
    so a command stopped by a usage error leaves nothing behind.
    """

    def __init__(self, output: str | os.PathLike[str], option: str, *, folder: bool = True) -> None:
        """Args:
        output: the run folder (or, with `folder=False`, the output file) to lock.
        option: the option that named it (for messages), e.g. `--output`.
        folder: whether `output` is a folder (else a file; the lock goes beside it).
        """
        self.output = Path(output)
        self.option = option
        self.path = lock_path(self.output, folder=folder)
        self._fd: int | None = None
        self._made: list[Path] = []

    def acquire(self) -> RunLock:
        """Take the lock, or raise `UsageError` naming the process that holds it."""
        self._made = _make_parents(self.path.parent)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                self._remove_made()
                raise UsageError(
                    f"{self.option}={str(self.output)!r} is in use by another run ({holder}); "
                    "wait for it to finish, stop it, or choose another "
                    f"{self.option}."
                ) from None
            # The file may have been removed (its holder released it) between open and flock:
            # then this flock guards nothing, and the next open makes a fresh file.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": sys.argv}
        try:
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(me) + "\n").encode())
        except OSError as err:  # a full disk: leave no empty lock file behind
            self.path.unlink(missing_ok=True)
            os.close(fd)
            self._remove_made()
            raise OSError(err.errno, err.strerror, str(self.path)) from None
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (and the folder it made, if that is still empty)."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # before the flock goes: no one can lock a dead file
        os.close(self._fd)
        self._fd = None
        self._remove_made()

    def _remove_made(self) -> None:
        for folder in reversed(self._made):
            try:
                folder.rmdir()
            except OSError:  # not empty: the run wrote there, keep it
                break
        self._made = []

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` (and missing parents); returns those created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def _read_holder(fd: int) -> str:
    """The holder as 'pid N on HOST: COMMAND' (or what of it the lock file tells)."""
    try:
        text = os.pread(fd, 65536, 0).decode(errors="replace")
        info = json.loads(text)
        command = " ".join(str(a) for a in info.get("command", []))
        return f"pid {info['pid']} on {info['host']}: {command}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "a process that is starting"
