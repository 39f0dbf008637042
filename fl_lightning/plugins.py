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

import dataclasses
import importlib
from importlib.metadata import entry_points
from typing import Generic, Protocol, TypeVar

from fl_lightning.errors import UsageError

DATASETS_GROUP = "fl_lightning.datasets"
MODELS_GROUP = "fl_lightning.models"

T = TypeVar("T", bound="Registrable")


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
            loaded: object = ep.load()
            return loaded
        except Exception as err:  # a broken plugin: say which one, not a traceback
            raise UsageError(
                f"{option}={name!r}: the entry point {ep.value!r} of group {group!r} cannot "
                f"be loaded ({type(err).__name__}: {err})."
            ) from None
    return None


class Registrable(Protocol):
    """What a registry holds: a frozen dataclass with a `name` that can list its own problems."""

    @property
    def name(self) -> str: ...

    def problems(self) -> list[str]: ...


class Registry(Generic[T]):
    """Things of one kind (`T`: a dataset's `DatasetInfo`, a model's `ModelSpec`) by name.

    A thing becomes known by `register` (from Python, in this process), by a `module:object`
    name that points at one, or by an entry point of `group`; `lookup` resolves all three and
    refuses an unknown name with a `UsageError` that lists the registered ones. Only
    references and entry points are found again in another process (a Flower worker, a new
    command).
    """

    def __init__(self, kind: str, group: str, cls: type[T], public_name: str) -> None:
        """`kind` names the thing in messages (`dataset`); `public_name` is where users import
        `cls` from (`fl_lightning.data.DatasetInfo`)."""
        self.kind = kind
        self.group = group
        self.cls = cls
        self.public_name = public_name
        #: registered from Python in this process, by name
        self.registered: dict[str, T] = {}
        #: references and entry points resolved in this process (not listed as registered)
        self._resolved: dict[str, T] = {}

    def register(self, item: T, *, replace: bool = False) -> T:
        """Make `item` known under `item.name`; returns it. A name already registered is
        refused unless `replace` (a plugin must not silently shadow a built-in); so is an item
        with impossible values."""
        if not isinstance(item, self.cls):
            raise UsageError(
                f"register_{self.kind} needs a {self.cls.__name__}, got {type(item).__name__}."
            )
        self._check(item, f"{self.kind} {item.name!r}")
        if item.name in self.registered and not replace and self.registered[item.name] is not item:
            raise UsageError(
                f"{self.kind} {item.name!r} is already registered; pass replace=True to replace it."
            )
        self.registered[item.name] = item
        return item

    def names(self) -> list[str]:
        """Names registered in this process and those installed plugins declare, sorted."""
        return sorted(set(self.registered) | set(entry_point_names(self.group)))

    def lookup(self, name: str, option: str) -> T:
        """The thing called `name`: registered, a `module:object` reference or an entry point;
        `UsageError` (naming `option`) for anything else, listing the registered names."""
        if not isinstance(name, str):
            raise UsageError(f"{option}={name!r} must be a {self.kind} name (a string).")
        known = self.registered.get(name) or self._resolved.get(name)
        if known is not None:
            return known
        if is_reference(name):
            found = load_reference(name, option)
        else:
            found = load_entry_point(self.group, name, option)
            if found is None:
                raise UsageError(
                    f"{option}={name!r} is not known; choose one of: {', '.join(self.names())}, "
                    f"or module:object naming a {self.cls.__name__} of your own code."
                )
        if not isinstance(found, self.cls):
            raise UsageError(
                f"{option}={name!r} points at a {type(found).__name__}, not a {self.public_name}."
            )
        item = dataclasses.replace(found, name=name)  # type: ignore[type-var]
        self._check(item, f"{option}={name!r}")
        self._resolved[name] = item
        return item

    @staticmethod
    def _check(item: Registrable, what: str) -> None:
        problems = item.problems()
        if problems:
            raise UsageError(f"{what}: {'; '.join(problems)}.")
