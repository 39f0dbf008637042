"""Lightning's scan of installed packages' entry points, done once per process, not per Trainer.

Every `Trainer.__init__` asks `importlib.metadata` for the `lightning.pytorch.callbacks_factory`
entry points (external callback factories), which reads the metadata of every installed
distribution: ~5-10 ms on this project's ~300-package environment, a third of a fresh
Trainer's cost. The federation builds one fresh Trainer per client per round (Lightning's
pruning callback cannot be reused across `fit()` calls), so the scan repeats thousands of times
with the same answer.

`install()` replaces the function Lightning's callback connector calls with one that finds the
factories once per process and group (`functools.cache`) and still *calls* every factory for
every Trainer, exactly as Lightning does, so each Trainer gets its own fresh callbacks. A
package installed while a federation runs is not seen until the next process, which is the
only difference. If a future Lightning moves the function, `install()` leaves Lightning as it
is and returns False (slower, never wrong).
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points
from typing import Any

#: Where Lightning's Trainer finds the function (imported by name into that module).
_CONNECTOR = "lightning.pytorch.trainer.connectors.callback_connector"
_NAME = "_load_external_callbacks"


@functools.cache
def factories(group: str) -> tuple[EntryPoint, ...]:
    """The entry points of `group`, read from the installed packages once per process."""
    return tuple(entry_points(group=group))


def load_external_callbacks(group: str) -> list[Any]:
    """Lightning's `_load_external_callbacks` on the cached entry points: every factory is
    loaded and called afresh (a list, or one callback, as Lightning accepts)."""
    callbacks: list[Any] = []
    for factory in factories(group):
        made = factory.load()()
        callbacks.extend(made if isinstance(made, list) else [made])
    return callbacks


def install() -> bool:
    """Make Lightning's Trainers use `load_external_callbacks`; True when it is in place."""
    import importlib

    connector = importlib.import_module(_CONNECTOR)
    current = getattr(connector, _NAME, None)
    if current is load_external_callbacks:
        return True
    if current is None or getattr(current, "__name__", "") != _NAME:
        return False
    setattr(connector, _NAME, load_external_callbacks)
    return True
