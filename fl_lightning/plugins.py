"""Plugins: objects from the user's own code, named as `module:object` or by an entry point.

A dataset or a model that is not built into the package is found in one of two ways, the
conventions of Lightning (`class_path`) and of Python packaging:

- a reference `"my_package.my_module:OBJECT"` (any importable module on `sys.path`, e.g. through
  `PYTHONPATH`): the module is imported and `OBJECT` (a dotted attribute path) taken from it;
- an entry point of the group (`fl_lightning.datasets`, `fl_lightning.models`) that an installed
  distribution declares in its `pyproject.toml`; its name is the name users type.

Both are resolved on first use in every process that needs them, so a name written into a
checkpoint or a config stays valid wherever the plugin is importable.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from fl_lightning.errors import UsageError

DATASETS_GROUP = "fl_lightning.datasets"
MODELS_GROUP = "fl_lightning.models"


def is_reference(name: str) -> bool:
    """Whether `name` has the `module:object` form."""
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr)


def load_reference(name: str, option: str) -> object:
    """The object `name` (`module:object`) points at; `UsageError` naming `option` otherwise."""
    module_name, _, attr_path = name.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as err:
        raise UsageError(
            f"{option}={name!r}: cannot import module {module_name!r} ({err}); put the "
            "plugin's folder on PYTHONPATH or install it."
        ) from None
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise UsageError(
                f"{option}={name!r}: module {module_name!r} has no attribute {attr_path!r}."
            ) from None
    return obj


def entry_point_names(group: str) -> list[str]:
    """Names of the entry points of `group` that installed distributions declare."""
    return sorted({ep.name for ep in entry_points(group=group)})


def load_entry_point(group: str, name: str, option: str) -> object | None:
    """The object of entry point `name` in `group`, or None when no distribution declares it."""
    for ep in entry_points(group=group, name=name):
        try:
            return ep.load()
        except Exception as err:  # a broken plugin: say which one, not a traceback
            raise UsageError(
                f"{option}={name!r}: the entry point {ep.value!r} of group {group!r} cannot "
                f"be loaded ({type(err).__name__}: {err})."
            ) from None
    return None
