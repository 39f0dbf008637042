"""`RunLock`: one process at a time writes a run's output.

Every command holds the lock of its output (`federate`, `pretrain`, `compare`: the run folder;
`prune`: the ticket file) for the run's whole life, so two runs started on the same output
cannot mix their files: the second one stops at once with a `UsageError` naming the holder.

The lock is a file (`.fl-lightning.lock` in a folder, `.<name>.lock` beside a file) holding the
holder's pid, host and command, locked with `fcntl.flock`. The kernel drops a flock when its
process dies, however it dies (SIGKILL included), so a lock left behind by a dead run is stale
by construction and does not block the next one; the file's text only names the holder.

The lock file is opened without following a symbolic link (`O_NOFOLLOW`) and rewritten only
once it is known to be a plain file of one name that this process holds the flock of: a link
planted in a shared output folder cannot make a run write into another file, and a lock path
that is a folder, a link or anything but a plain file is a one-line `UsageError`.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
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
            fd = self._open()
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
                same = os.fstat(fd).st_ino == os.lstat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": sys.argv}
        # Our own lock file (a plain file of one name, flock held): rewriting it touches no other.
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

    def _open(self) -> int:
        """The lock file, opened (made if missing) without following a link; `UsageError` when
        the path is a folder, a link (dangling or not), a hard link or not a plain file."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as err:
            self._remove_made()
            raise UsageError(self._not_a_lock(_what_is(self.path, err))) from None
        info = os.fstat(fd)
        # st_nlink 0: its holder removed it since (released); the caller's inode check retries
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            os.close(fd)
            self._remove_made()
            what = "not a plain file" if not stat.S_ISREG(info.st_mode) else "a hard link"
            raise UsageError(self._not_a_lock(what))
        return fd

    def _not_a_lock(self, what: str) -> str:
        return (
            f"{self.option}={str(self.output)!r}: its lock file {str(self.path)!r} is {what}, "
            "not one this package wrote; remove it (nothing was written), or choose another "
            f"{self.option}."
        )

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


def _what_is(path: Path, err: OSError) -> str:
    """What stands at `path` that the lock file cannot be opened there (`err`: why)."""
    if path.is_symlink():
        return "a symbolic link" if path.exists() else "a dangling symbolic link"
    if path.is_dir():
        return "a folder"
    return f"unusable ({err.strerror})"


def _read_holder(fd: int) -> str:
    """The holder as 'pid N on HOST: COMMAND' (or what of it the lock file tells)."""
    try:
        text = os.pread(fd, 65536, 0).decode(errors="replace")
        info = json.loads(text)
        command = " ".join(str(a) for a in info.get("command", []))
        return f"pid {info['pid']} on {info['host']}: {command}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "a process that is starting"
