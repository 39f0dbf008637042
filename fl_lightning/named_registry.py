"""The choices of one option as records looked up by name: the comparison's methods, the
partitioners. A new choice is one `register` call.

Unlike `plugins.Registry` (datasets and models, also found as `module:object` or an entry
point, listed sorted), a `NamedRegistry` holds only what this process registered, in the order
it was registered: the order the command line lists the choices in (`--help`, "choose one of").
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from fl_lightning.errors import UsageError, check_choice


class Named(Protocol):
    """What a `NamedRegistry` holds: a (frozen) record with a `name`."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class NamedRegistry(Generic[T]):
    """Records of one kind by name, in registration order."""

    def __init__(self, option: str) -> None:
        """`option` names the setting that chooses one (`--method`) in `lookup`'s refusal."""
        self.option = option
        #: the records by name, in registration order
        self.registered: dict[str, T] = {}

    def register(self, item: T, *, replace: bool = False) -> T:
        """Make `item` known under `item.name`; returns it. A name already registered is
        refused unless `replace` (a new entry must not silently shadow a built-in)."""
        if not item.name or not isinstance(item.name, str):
            raise UsageError(f"{self.option}: a registered name must be a non-empty string.")
        if item.name in self.registered and not replace and self.registered[item.name] != item:
            raise UsageError(
                f"{self.option}={item.name!r} is already registered; pass replace=True to "
                "replace it."
            )
        self.registered[item.name] = item
        return item

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self.registered)

    def get(self, name: object) -> T | None:
        """The record called `name`, or None when there is none."""
        return self.registered.get(name) if isinstance(name, str) else None

    def lookup(self, name: object, option: str | None = None) -> T:
        """The record called `name`; a `UsageError` naming `option` (default: the registry's)
        and listing the registered names otherwise."""
        found = self.get(name)
        if found is None:
            check_choice(option or self.option, name, self.names())
            raise AssertionError(name)  # check_choice raised: `name` is not registered
        return found
