"""YAML config files checked before a parser sees them, so each mistake gets one clear line.

A config of random bytes, an empty one, a YAML list, an option group given a scalar, list or
null (`data: 5`, `model: null`), or a misspelt key would otherwise end in a traceback from deep
inside the parser, or in a message such as `Unexpected config: ` that names nothing. Every check
here raises `UsageError` naming the option, the file and what is allowed; none writes anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fl_lightning.errors import UsageError

#: Option groups (nested): each name maps to the groups inside it.
Groups = Mapping[str, Any]

#: The groups of `fl-lightning pretrain`'s YAML (LightningCLI's): each must be a mapping.
PRETRAIN_GROUPS: Groups = {
    "trainer": {},
    "model": {},
    "data": {},
}


def read_config_file(option: str, path: str | Path) -> dict[str, Any]:
    """The YAML mapping in `path`; `UsageError` for a missing, binary, malformed or empty file,
    or one that gives a key twice."""
    shown = f"{option}={str(path)!r}"
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{shown}: no such file.")
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{shown} is not a text file (not UTF-8); give a YAML file.") from None
    try:
        check_unique_keys(shown, yaml.compose(text, Loader=yaml.SafeLoader))
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise UsageError(f"{shown} is not valid YAML{line}: {_first_line(err)}.") from None
    if data is None:
        raise UsageError(f"{shown} is empty; give a YAML mapping of options (see configs/).")
    if not isinstance(data, dict):
        raise UsageError(
            f"{shown} holds a {type(data).__name__}, not a mapping of options; give "
            "`option: value` lines (see configs/)."
        )
    return data


def check_unique_keys(shown: str, node: yaml.Node | None, prefix: str = "") -> None:
    """`UsageError` naming the key, its lines and `shown` (the file) when a mapping of the
    composed YAML `node` gives one key twice: YAML keeps the last value without a word, so
    `method: fedavg` above `method: proposed` would run proposed silently."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node | None, str]] = [(node, prefix)]
    while stack:
        current, path = stack.pop()
        if current is None or id(current) in seen:  # an alias repeats its anchor: once is enough
            continue
        seen.add(id(current))
        if isinstance(current, yaml.SequenceNode):
            stack += [(item, f"{path.rstrip('.')}[{i}].") for i, item in enumerate(current.value)]
        elif isinstance(current, yaml.MappingNode):
            lines: dict[tuple[str, str], int] = {}
            for key_node, value_node in current.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if key in lines:
                    raise UsageError(
                        f"{shown}: key {path}{key_node.value} is given twice (lines "
                        f"{lines[key]} and {line}); keep one (YAML would silently use the last)."
                    )
                lines[key] = line
                stack.append((value_node, f"{path}{key_node.value}."))


#: How a group's mapping is written in a YAML file (the default) and in Python's `values=`.
YAML_MAPPING = "a mapping (`{name}:` then indented `option: value` lines)"
DICT_MAPPING = 'a dict of its options (`{{"{name}": {{"option": value}}}}`)'


def check_groups(
    shown: str,
    data: Mapping[str, Any],
    groups: Groups,
    prefix: str = "",
    mapping: str = YAML_MAPPING,
) -> None:
    """`UsageError` for a group given anything but a mapping (`data: 5`, `model: null`).

    `mapping` says how a mapping is written where `data` came from (`{name}`: the group)."""
    for name, inner in groups.items():
        if name not in data:
            continue
        value = data[name]
        if not isinstance(value, Mapping):
            raise UsageError(
                f"{shown}: `{prefix}{name}: {_shown(value)}` is not allowed: {prefix}{name} "
                f"is a group of options; give {mapping.format(name=prefix + name)} or leave it "
                "out."
            )
        check_groups(shown, value, inner, f"{prefix}{name}.", mapping)


def check_config_file(option: str, path: str | Path, groups: Groups) -> dict[str, Any]:
    """One config file: a readable YAML mapping whose `groups` are mappings (see above).
    (Its keys checked against a parser's options: `parsers.config_keys.check_options_file`.)"""
    data = read_config_file(option, path)
    check_groups(f"{option}={str(path)!r}", data, groups)
    return data


def _shown(value: Any) -> str:
    """`value` as YAML would show it (JSON), or its repr when JSON cannot say it."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def with_defaults(record: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`record` (a run's recorded options, nested like the YAML) with every option it lacks at
    its value in `defaults`: an option added to the package after the record was written had
    that value in effect, so old and new records of one run compare equal."""
    filled = dict(record)
    for key, default in defaults.items():
        if key not in filled:
            filled[key] = default
        elif isinstance(default, Mapping) and isinstance(filled[key], Mapping):
            filled[key] = with_defaults(filled[key], default)
    return filled
