"""Frozen typed configs built from plain nested values (a YAML's, a dict's), and override
strings (`--federation.down_codec=int8`) read into such values by the type of their option.

Values are taken as the command-line parser takes them, so a config built here equals (and
writes the same config.yaml text as) one parsed from the same YAML and arguments: an integer
given to a float option becomes a float (`4` -> `4.0`), a string option keeps the text as
written (`--wandb.group=1` is the string `'1'`), a list given to a tuple option becomes a tuple.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from fl_lightning.errors import UsageError

T = TypeVar("T")


def alternatives(hint: Any) -> tuple[Any, ...]:
    """The types a type hint allows (`float | None` -> float, NoneType)."""
    if get_origin(hint) in (Union, types.UnionType):
        return get_args(hint)
    return (hint,)


def group_type(hint: Any) -> type | None:
    """The dataclass a field holds (`Seeds`, `FdaeSpec`, ...), or None."""
    for alternative in alternatives(hint):
        if isinstance(alternative, type) and dataclasses.is_dataclass(alternative):
            return alternative
    return None


def build(cls: type[T], tree: Mapping[str, Any], prefix: str = "") -> T:
    """An instance of the dataclass `cls` from the nested mapping `tree`, each value taken as
    its field's type says (`coerced`); an option the tree lacks keeps its default, an unknown
    one, or a group given anything but a mapping, is refused naming it."""
    where = prefix.rstrip(".")
    if not isinstance(tree, Mapping):
        raise UsageError(
            f"{where}={tree!r}: {where} is a group of options; give a dict of its options."
        )
    assert dataclasses.is_dataclass(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(tree) - set(fields), key=str)
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), fields, n=1)
        hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
        inside = f" (in {where})" if prefix else ""
        raise UsageError(
            f"{prefix}{unknown[0]}: no such option{hint}; allowed: {', '.join(fields)}{inside}."
        )
    hints = get_type_hints(cls)
    values = {name: coerced(hints[name], value, f"{prefix}{name}") for name, value in tree.items()}
    try:
        return cls(**values)
    except TypeError as err:  # a value of the wrong kind deep inside a check
        raise UsageError(f"{where or cls.__name__}: {err}") from None


def option_groups(cls: type) -> dict[str, Any]:
    """The option groups of the dataclass `cls`, nested (`{"federation": {"faults": {}}, ...}`):
    what `config_files.check_groups` checks a YAML's groups against."""
    groups: dict[str, Any] = {}
    for name, hint in get_type_hints(cls).items():
        group = group_type(hint)
        if group is not None:
            groups[name] = option_groups(group)
    return groups


def coerced(hint: Any, value: Any, option: str) -> Any:
    """`value` as the option of type `hint` takes it: a group built (`build`), an integer for a
    float a float, a list for a tuple a tuple (items and dict values likewise); anything else
    as given (the config's own checks judge it)."""
    group = group_type(hint)
    if group is not None and isinstance(value, group):
        return value  # built already (a default the parser keeps as its dataclass)
    if group is not None and value is not None:
        return build(group, value, f"{option}.")
    for alternative in alternatives(hint):
        if alternative is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        origin = get_origin(alternative)
        args = get_args(alternative)
        if origin in (list, tuple, Sequence) and isinstance(value, list | tuple):
            item = args[0] if args else Any
            items = [coerced(item, v, option) for v in value]
            return tuple(items) if origin is tuple else items
        if origin in (dict, Mapping) and isinstance(value, Mapping) and len(args) == 2:
            return {k: coerced(args[1], v, f"{option}.{k}") for k, v in value.items()}
    return value


def field_hint(cls: type, dotted: str) -> Any:
    """The type hint of the option `dotted` (`federation.down_codec`) of the dataclass `cls`;
    `UsageError` naming it when there is no such option."""
    hint: Any = cls
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        group = group_type(hint)
        fields = {} if group is None else get_type_hints(group)
        if part not in fields:
            inside = ".".join(parts[:i])
            allowed = f"; allowed{' in ' + inside if inside else ''}: {', '.join(fields)}"
            raise UsageError(f"--{dotted}: no such option{allowed if fields else ''}.")
        hint = fields[part]
    return hint


def _is_text(hint: Any) -> bool:
    """Whether the option takes its value's text as written (a string or a string choice)."""
    kinds = [a for a in alternatives(hint) if a is not type(None)]
    return bool(kinds) and all(
        a is str or (get_origin(a) is Literal and all(isinstance(c, str) for c in get_args(a)))
        for a in kinds
    )


def override_tree(cls: type, args: Sequence[str]) -> dict[str, Any]:
    """Command-line style overrides of the dataclass `cls`'s options (`--rounds=20`,
    `--federation.down_codec int8`) as a nested dict of values (`{"rounds": 20, ...}`), each
    value read as its option's type says; a later override of one option wins."""
    if isinstance(args, str) or not all(isinstance(a, str) for a in args):
        raise UsageError(f"overrides={args!r}: allowed a list of arguments, e.g. ['--rounds=20'].")
    tree: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise UsageError(f"{arg!r}: allowed `--option=value` (or `--option value`).")
        if "=" in arg:
            key, text = arg[2:].split("=", 1)
            i += 1
        elif i + 1 < len(args):
            key, text = arg[2:], args[i + 1]
            i += 2
        else:
            raise UsageError(f"{arg}: give it a value (`{arg}=VALUE`).")
        hint = field_hint(cls, key)
        value: Any = text
        if not _is_text(hint) or text in ("null", "None"):
            try:
                value = None if text == "None" else yaml.safe_load(text)
            except yaml.YAMLError:
                raise UsageError(f"--{key}={text!r}: not a value YAML can read.") from None
        *groups, name = key.split(".")
        node = tree
        for group in groups:
            node = node.setdefault(group, {})
        node[name] = value
    return tree


def merged(cls: type, base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`top` over `base`, both option trees of the dataclass `cls`: an option group given in
    part keeps the rest of its options (nested groups likewise), any other value is replaced."""
    hints = get_type_hints(cls)
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        group = group_type(hints[key]) if key in hints else None
        if group is not None and isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = merged(group, below, value)
        else:
            out[key] = value
    return out
