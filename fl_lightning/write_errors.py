"""A full or unwritable disk is the user's to fix: one line saying what could not be written,
what is intact and what to do, never a traceback.

Every command that writes files (`pretrain`, `prune`, `federate`, `compare`) runs its writing
part inside `write_errors_as_usage`, which turns such an `OSError` into a `UsageError` (exit 2
in the CLI). Files are written atomically (`fl_lightning.atomic`), so whatever the message says
is intact is whole.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fl_lightning.errors import UsageError

#: errno values of a full or unwritable disk: the user's to fix, so a message, not a traceback.
WRITE_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
)


def is_write_error(err: BaseException) -> bool:
    """Whether `err` is an `OSError` of a full, read-only or forbidden disk (`WRITE_ERRORS`)."""
    return isinstance(err, OSError) and err.errno in WRITE_ERRORS


@contextmanager
def write_errors_as_usage(
    where: str | os.PathLike[str], advice: Callable[[], str]
) -> Iterator[None]:
    """Turn a write error (`is_write_error`) raised inside into one `UsageError` line:
    `cannot write FILE (REASON); ADVICE`. `where` stands for the file when the error names
    none; `advice()` (called only then, so it can look at what is on disk) says what is
    intact and how to go on. Any other exception passes unchanged."""
    try:
        yield
    except OSError as err:
        if not is_write_error(err):
            raise
        target = os.fsdecode(err.filename if err.filename is not None else where)
        raise UsageError(f"cannot write {target} ({err.strerror}); {advice()}") from None
