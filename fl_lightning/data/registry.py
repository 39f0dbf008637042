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

from fl_lightning.data.dataset_info import DatasetInfo
from fl_lightning.plugins import DATASETS_GROUP, Registry

#: The datasets known by name (`Registry`: registered, referenced or an entry point).
DATASET_REGISTRY = Registry("dataset", DATASETS_GROUP, DatasetInfo, "fl_lightning.data.DatasetInfo")


def register_dataset(info: DatasetInfo, *, replace: bool = False) -> DatasetInfo:
    """Make `info` known under `info.name`; returns it.

    A name already registered is refused unless `replace` (a plugin must not silently shadow a
    built-in dataset); so is a description with impossible values.
    """
    return DATASET_REGISTRY.register(info, replace=replace)


def registered_datasets() -> list[str]:
    """Names registered in this process and those installed plugins declare, sorted."""
    return DATASET_REGISTRY.names()


def lookup(name: str, option: str = "dataset") -> DatasetInfo:
    """The dataset called `name`: registered, a `module:object` reference or an entry point.

    `UsageError` (naming `option`) for anything else, listing the registered names.
    """
    return DATASET_REGISTRY.lookup(name, option)
