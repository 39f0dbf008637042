"""SIGTERM and SIGINT as batch schedulers and users mean them: stop now, cleanly, non-zero.

`stop_on_signals()` turns both signals into an `Interrupted` exception in the main thread.
It derives from `BaseException`, so no `except Exception` on the way (a client that "fails",
Lightning's own error handling) can swallow it; Lightning re-raises it after tearing its Trainer
down, and SIGTERM no longer ends a client's training as if it had finished. The round in flight
is abandoned: every file is written atomically and the checkpoint last, so the previous
checkpoint stays intact. `cli.main` prints one line and exits with 128 + the signal's number
(130 for SIGINT, 143 for SIGTERM), as shells report a process that a signal ended.

The first signal decides: from then on the process is stopping, and a second one (an impatient
Ctrl-C, a scheduler's follow-up SIGTERM) is ignored rather than breaking the clean-up half way
or changing the exit status. Libraries that install their own handlers (Ray does, in `ray.init`)
are run inside `keep_signal_handlers()`; a main thread that must not be interrupted (Flower's
simulation runs there) tells the others to stop instead (`on_first_signal`). Worker processes
(`compare --jobs N`) call `stop_when_told()` first: a signal that reaches an idle worker (Ctrl-C
goes to the whole process group) is remembered, and `raise_if_stopped()` refuses to start the
next task.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The run was stopped by SIGINT or SIGTERM; `detail` says where (set by the command)."""

    def __init__(self, signum: int, detail: str | None = None) -> None:
        self.signum = signum
        self.detail = detail
        super().__init__(f"stopped by {self.signal_name}")

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int, str | None]]:
        # Picklable with its fields: it travels back from a worker process.
        return (type(self), (self.signum, self.detail))

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    """A signal after the first: the process is already stopping cleanly; let it."""


def ignore_further_signals() -> None:
    """From now on SIGINT and SIGTERM change nothing (main thread only; else a no-op)."""
    if _in_main_thread():
        for s in SIGNALS:
            signal.signal(s, _already_stopping)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    ignore_further_signals()  # the clean-up below must not be interrupted in turn
    raise Interrupted(signum)


@contextmanager
def stop_on_signals(*, exiting: bool = False) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise `Interrupted` (main thread only; else a no-op).

    The first signal raises; later ones are ignored until the block is left, when the handlers
    from before are put back, unless `exiting` (the process ends after the block: later signals
    then stay ignored, so they cannot change its exit status)."""
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    except Interrupted:
        if exiting:
            previous = {}
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def on_first_signal(callback: Callable[[int], None]) -> Iterator[None]:
    """While inside, the first SIGINT or SIGTERM calls `callback(signum)` instead of raising
    (for a main thread that must not be interrupted: it waits on threads that will stop on
    their own once told); later ones are ignored. After a signal, the block leaves the
    process stopping: under `stop_on_signals` later signals stay ignored (main thread only;
    else a no-op)."""
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    told: list[int] = []

    def tell(signum: int, frame: FrameType | None) -> None:
        ignore_further_signals()
        told.append(signum)
        callback(signum)

    for s in SIGNALS:
        signal.signal(s, tell)
    try:
        yield
    finally:
        for s, handler in previous.items():
            stopping = told and handler is _raise_interrupted
            signal.signal(s, _already_stopping if stopping else handler)


@contextmanager
def keep_signal_handlers() -> Iterator[None]:
    """Put this process's SIGINT and SIGTERM handlers back after the block (which may install
    its own: `ray.init` replaces SIGTERM's with one that aborts through a native stack dump)."""
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


#: The first signal a worker process got while no task ran (`stop_when_told`), or None.
_told: int | None = None


def _remember(signum: int, frame: FrameType | None) -> None:
    global _told
    _told = _told or signum


def stop_when_told() -> None:
    """Install in a worker process: a signal that arrives between tasks is remembered (no
    traceback), and `raise_if_stopped` then refuses every further task."""
    for s in SIGNALS:
        signal.signal(s, _remember)


class NotStarted(Interrupted):
    """A worker process told to stop refused to start a task (`raise_if_stopped`)."""


def raise_if_stopped() -> None:
    """`NotStarted` if this worker process was told to stop (`stop_when_told`)."""
    if _told is not None:
        raise NotStarted(_told)


def told_to_stop(signum: int) -> None:
    """Record that this worker process was stopped by `signum` (its task was interrupted)."""
    _remember(signum, None)
