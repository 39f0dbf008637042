"""`YamlConfig`: how a step's frozen config is written as YAML and read back.

One mixin for `FederateConfig` (config.yaml of a run) and `CompareConfig` (a comparison's
YAML): `to_dict` gives the options as nested plain values in the order of the command's
options, `to_yaml` dumps them as the command's parser lays them out (block style, keys in
field order, unicode kept), `from_yaml` reads such a text back through the class's own
`from_dict`. Fields named in `NOT_OPTIONS` (the path of the YAML a config was read from) are
not options and are not written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import yaml

from fl_lightning.errors import UsageError


class YamlConfig:
    """A frozen dataclass config that writes itself as YAML and reads itself back."""

    #: Which step's config this is, as a refused YAML's message names it ("federate").
    STEP: ClassVar[str]
    #: Fields that are not options: not in `to_dict` (the YAML).
    NOT_OPTIONS: ClassVar[tuple[str, ...]] = ("config",)

    @classmethod
    def from_dict(cls, tree: Mapping[str, Any]) -> Self:
        """The config of a nested dict as `to_dict` holds it (each step builds its own)."""
        raise NotImplementedError

    @classmethod
    def from_yaml(cls, text: str) -> Self:
        """The config of a YAML text (`to_yaml`); a text that is not a mapping is refused."""
        tree = yaml.safe_load(text) or {}
        if not isinstance(tree, dict):
            raise UsageError(f"a {cls.STEP} config must be a mapping of options, not {tree!r}.")
        return cls.from_dict(tree)

    def to_dict(self) -> dict[str, Any]:
        """The options as nested plain values (dicts, lists, numbers, strings), in the order of
        the command's options."""
        plain: dict[str, Any] = plain_value(self)
        for name in self.NOT_OPTIONS:
            del plain[name]
        return plain

    def to_yaml(self) -> str:
        """`to_dict` as YAML text, laid out as the command's parser dumps it."""
        return yaml.safe_dump(
            self.to_dict(), default_flow_style=False, allow_unicode=True, sort_keys=False
        )


def plain_value(value: Any) -> Any:
    """`value` as YAML holds it: a dataclass as a dict, a tuple as a list, a path as text;
    numbers as given (a `clients_per_round` the parser read as `4.0` stays `4.0`, its default
    `10` stays `10`, as the parser dumps them)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
