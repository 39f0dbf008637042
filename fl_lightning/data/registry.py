"""The dataset registry: every dataset the suite can load, built-in or the user's, by name.

A dataset is a `DatasetInfo` (shape, classes, normalisation, loader). It becomes known by
`register_dataset(info)` (from Python: the built-ins in `fl_lightning.data.sources` are
registered this way), by a `module:object` name that points at one (usable in any config or
command line, `--data.dataset my_plugin.data:DIGITS`), or by an entry point of the group
`fl_lightning.datasets` of an installed distribution. `lookup` resolves all three and refuses an
unknown name with a `UsageError` that lists the registered ones.

Only references and entry points are found again in another process (a Flower worker, a new
command): a dataset registered from Python exists in the process that registered it.
"""

from __future__ import annotations

import dataclasses

from fl_lightning.data.dataset_info import DatasetInfo
from fl_lightning.errors import UsageError
from fl_lightning.plugins import (
    DATASETS_GROUP,
    entry_point_names,
    is_reference,
    load_entry_point,
    load_reference,
)

_REGISTERED: dict[str, DatasetInfo] = {}
#: References and entry points resolved in this process (not listed as registered names).
_RESOLVED: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo, *, replace: bool = False) -> DatasetInfo:
    """Make `info` known under `info.name`; returns it.

    A name already registered is refused unless `replace` (a plugin must not silently shadow a
    built-in dataset); so is a description with impossible values.
    """
    if not isinstance(info, DatasetInfo):
        raise UsageError(f"register_dataset needs a DatasetInfo, got {type(info).__name__}.")
    _check(info, f"dataset {info.name!r}")
    if info.name in _REGISTERED and not replace and _REGISTERED[info.name] is not info:
        raise UsageError(
            f"dataset {info.name!r} is already registered; pass replace=True to replace it."
        )
    _REGISTERED[info.name] = info
    return info


def registered_datasets() -> list[str]:
    """Names registered in this process and those installed plugins declare, sorted."""
    return sorted(set(_REGISTERED) | set(entry_point_names(DATASETS_GROUP)))


def lookup(name: str, option: str = "dataset") -> DatasetInfo:
    """The dataset called `name`: registered, a `module:object` reference or an entry point.

    `UsageError` (naming `option`) for anything else, listing the registered names.
    """
    if not isinstance(name, str):
        raise UsageError(f"{option}={name!r} must be a dataset name (a string).")
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _RESOLVED:
        return _RESOLVED[name]
    found: object | None = None
    if is_reference(name):
        found = load_reference(name, option)
    else:
        found = load_entry_point(DATASETS_GROUP, name, option)
        if found is None:
            raise UsageError(
                f"{option}={name!r} is not known; choose one of: "
                f"{', '.join(registered_datasets())}, or module:object naming a DatasetInfo "
                "of your own code."
            )
    if not isinstance(found, DatasetInfo):
        raise UsageError(
            f"{option}={name!r} points at a {type(found).__name__}, not a "
            "fl_lightning.data.DatasetInfo."
        )
    info = dataclasses.replace(found, name=name)
    _check(info, f"{option}={name!r}")
    _RESOLVED[name] = info
    return info


def _check(info: DatasetInfo, what: str) -> None:
    problems = info.problems()
    if problems:
        raise UsageError(f"{what}: {'; '.join(problems)}.")
