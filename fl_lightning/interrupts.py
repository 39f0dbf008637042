"""SIGTERM and SIGINT as batch schedulers and users mean them: stop now, cleanly, non-zero.

`stop_on_signals()` turns both signals into an `Interrupted` exception in the main thread.
It derives from `BaseException`, so no `except Exception` on the way (a client that "fails",
Lightning's own error handling) can swallow it; Lightning re-raises it after tearing its Trainer
down, and SIGTERM no longer ends a client's training as if it had finished. The round in flight
is abandoned: every file is written atomically and the checkpoint last, so the previous
checkpoint stays intact. `cli.main` prints one line and exits with 128 + the signal's number
(130 for SIGINT, 143 for SIGTERM), as shells report a process that a signal ended.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The run was stopped by SIGINT or SIGTERM; `detail` says where (set by the command)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.detail: str | None = None
        super().__init__(f"stopped by {self.signal_name}")

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise `Interrupted` (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
