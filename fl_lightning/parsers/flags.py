"""Boolean options as bare flags: `--resume` means `--resume=true`, `--no_resume` `=false`.

jsonargparse's `bool` options want a value (`--resume true`); the README, the messages and users
write `--resume`. `expand_bare_flags` rewrites argv before parsing, so both spellings work and
YAML configs keep `resume: true`. An explicit value (`--resume false`, `--resume=no`) is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from jsonargparse import ArgumentParser

_VALUES = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})


def bool_options(parser: ArgumentParser) -> set[str]:
    """The `--name` of every option of `parser` typed `bool` (nested ones included)."""
    names: set[str] = set()
    for action in parser._actions:
        if getattr(action, "_typehint", None) is bool or action.type is bool:
            names.update(s for s in action.option_strings if s.startswith("--"))
    return names


def expand_bare_flags(argv: Sequence[str], options: Iterable[str]) -> list[str]:
    """`argv` with each bare boolean flag given its value: `--resume` -> `--resume=true`,
    `--no_resume` -> `--resume=false`; a flag followed by a boolean value is left alone."""
    known = set(options)
    out: list[str] = []
    for i, arg in enumerate(argv):
        following = argv[i + 1] if i + 1 < len(argv) else None
        has_value = following is not None and following.lower() in _VALUES
        negated = "--" + arg[len("--no_") :] if arg.startswith("--no_") else None
        if arg in known and not has_value:
            out.append(f"{arg}=true")
        elif negated in known and not has_value:
            out.append(f"{negated}=false")
        else:
            out.append(arg)
    return out


def parse_with_flags(parser: ArgumentParser, argv: Sequence[str]) -> object:
    """`parser.parse_args` after `expand_bare_flags`."""
    return parser.parse_args(expand_bare_flags(argv, bool_options(parser)))
