"""A parse error as one line: the option, the value, what is allowed, and "did you mean".

jsonargparse answers a mistake on the command line with the whole usage (60 lines and more)
before `error: Parser key "method": Expected a typing.Literal['fedavg', ...]. Got value: propsed`.
The commands parse with `exit_on_error=False` and turn its `ArgumentError` into a `UsageError`
whose message `explain` writes, e.g.

    unknown option --rouns (did you mean --rounds?); allowed: --checkpoint, --client.*, ...
    --method='propsed' is not known (did you mean proposed?); choose one of: fedavg, ...

The usage is printed only for `--help`. A message of a kind not recognised here is kept, on one
line.
"""

from __future__ import annotations

import ast
import difflib
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ArgumentError, ArgumentParser, Namespace

from fl_lightning.errors import UsageError
from fl_lightning.parsers.config_args import config_paths

_UNRECOGNIZED = re.compile(r"^unrecognized arguments: (.*)$", re.S)
_GROUP_OPTION = re.compile(r"^Group '([^']+)' does not accept option '([^']+)'")
_NOT_ACCEPTED = re.compile(r"^Option '([^']+)' is not accepted")
_REQUIRED = re.compile(r"^the following arguments are required: (.*)$", re.S)
_NO_VALUE = re.compile(r"^argument ([^:]+): expected one argument")
_PARSER_KEY = re.compile(r'Parser key "([^"]+)"')
_LITERAL = re.compile(r"Expected a typing\.Literal\[(.*?)\]\. Got value: (.*)")
_GOT_VALUE = re.compile(r"(?:Got value|Given value): (.*)")
_MISSING_FILE = re.compile(r'^Parser key "([^"]+)": File does not exist: (.*)$')

_SIMPLE = {int: "an integer", float: "a number", bool: "true or false", str: "a text"}


def parse_args(parser: ArgumentParser, argv: Sequence[str]) -> Namespace:
    """`parser.parse_args(argv)`, a mistake raising `UsageError` with `explain`'s one line
    (`--help` and `--print_config` still print and exit)."""
    parser.exit_on_error = False
    try:
        return parser.parse_args(list(argv))
    except ArgumentError as err:
        raise UsageError(explain(parser, argv, str(err))) from None


def explain(parser: ArgumentParser, argv: Sequence[str], message: str) -> str:
    """jsonargparse's `message` about `argv` as one line naming the option, the value and what
    is allowed, with the closest option or value when one is close."""
    argv = list(argv)
    text = message.strip()
    if match := _UNRECOGNIZED.match(text):
        return _unknown_argument(parser, argv, match.group(1).split())
    if match := _GROUP_OPTION.match(text):
        key = f"{match.group(1)}.{match.group(2)}"
        return _in_config(argv, key) + _unknown_option(parser, key, dashes="")
    if match := _NOT_ACCEPTED.match(text):  # a key of a config file
        key = _first_unknown(match.group(1), _option_names(parser))
        return _in_config(argv, key) + _unknown_option(parser, key, dashes="")
    if match := _REQUIRED.match(text):
        names = ["--" + name.strip() for name in match.group(1).split(",")]
        them = "them" if len(names) > 1 else "it"
        return (
            f"missing {', '.join(names)} (required); give {them} on the command line or in "
            "--config."
        )
    if match := _NO_VALUE.match(text):
        option = match.group(1).split("/")[-1]
        allowed = _allowed(_hint(parser, option.lstrip("-")))
        return f"{option} needs a value" + (f"; allowed: {allowed}." if allowed else ".")
    if match := _MISSING_FILE.match(text):
        return f"--{match.group(1)}={_unquote(match.group(2))!r}: no such file."
    if match := _PARSER_KEY.search(text):
        return _bad_value(parser, argv, match.group(1), text)
    return " ".join(text.split())


def _unknown_argument(parser: ArgumentParser, argv: list[str], tokens: list[str]) -> str:
    options = [t for t in tokens if t.startswith("-")]
    before = argv[argv.index(tokens[0]) - 1] if tokens[0] in argv[1:] else ""
    flag, eq, _ = before.partition("=")
    if not options and eq and _hint(parser, flag[2:]) is bool:
        # `--resume maybe`: a bare flag (made `--resume=true`, see parsers.flags), then a stray word
        return f"{flag}={tokens[0]!r} is not valid; allowed: true or false (or {flag} alone)."
    if not options:
        return (
            f"unexpected argument {tokens[0]!r}; give options as --name value "
            "(`--help` lists them)."
        )
    return _unknown_option(parser, options[0].split("=", 1)[0].lstrip("-"), dashes="--")


def _unknown_option(parser: ArgumentParser, name: str, *, dashes: str) -> str:
    """`unknown option NAME (did you mean ...?); allowed: ...` over the options of `parser`."""
    known = _option_names(parser)
    if not dashes:  # a key of a config file: the options that only the command line takes go
        known = [k for k in known if k not in ("config", "print_config")]
    hint = _closest_option(name, known)
    suggestion = f" (did you mean {dashes}{hint}?)" if hint else ""
    group = name.rsplit(".", 1)[0] if "." in name else ""
    if group and not any(k.startswith(group + ".") for k in known):
        group = ""  # a misspelt group: list the top level
    level = [k[len(group) + 1 :] for k in known if k.startswith(group + ".")] if group else known
    heads = {k.split(".", 1)[0] for k in level}
    groups = {k.split(".", 1)[0] for k in level if "." in k}
    shown = sorted(h + ".*" if h in groups else h for h in heads)
    where = f" in {dashes}{group}" if group else ""
    prefix = f"{dashes}{group}." if group else dashes
    return (
        f"unknown option {dashes}{name}{suggestion}; allowed{where}: "
        + ", ".join(prefix + s for s in shown)
        + "."
    )


def _first_unknown(name: str, known: list[str]) -> str:
    """The leading part of dotted `name` that is neither an option nor a group of options
    (`optimizer` of `optimizer.class_path`)."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        head = ".".join(parts[:i])
        if head not in known and not any(k.startswith(head + ".") for k in known):
            return head
    return name


def _closest_option(name: str, known: list[str]) -> str | None:
    """The option `name` most likely meant: a close spelling, or one whose last part is `name`
    (`--optimizer` for `--model.optimizer`)."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    if close:
        return close[0]
    last = name.rsplit(".", 1)[-1]
    same_leaf = [k for k in known if k.rsplit(".", 1)[-1] == last]
    if same_leaf:
        return min(same_leaf, key=len)
    leaves = {k.rsplit(".", 1)[-1]: k for k in sorted(known, key=len, reverse=True)}
    close = difflib.get_close_matches(last, list(leaves), n=1, cutoff=0.75)
    return leaves[close[0]] if close else None


def _option_names(parser: ArgumentParser) -> list[str]:
    """Every `--name` of `parser` without the dashes. Left out: `--help`, `--print_shtab`,
    the `--NAME.help` of class options (`--trainer.logger.help`) and the `--list+` spellings of
    appending to a list."""
    names = {
        s[2:]
        for action in parser._actions
        for s in action.option_strings
        if s.startswith("--")
        and s not in ("--help", "--print_shtab")
        and not s.endswith(("+", ".help"))
    }
    return sorted(names)


def _bad_value(parser: ArgumentParser, argv: list[str], key: str, text: str) -> str:
    """`--key='value' is not known ...` / `... is not valid; allowed: ...`."""
    given = _argv_value(argv, key)
    shown = f"--{key}" if given is not None else _in_config(argv, key) + key
    literal = _LITERAL.findall(text)
    inner = [k for k in _PARSER_KEY.findall(text) if k != key]
    if literal:
        choices_text, value = literal[-1]
        choices = [str(c) for c in ast.literal_eval(f"[{choices_text}]")]
        value = value.strip()
        if inner:  # a field of a list item or of a mapping
            shown = f"{shown}: {inner[-1]}={value!r}"
        elif given is not None and value != given:  # an item of a list
            shown = f"{shown}={given!r}: {value!r}"
        else:
            shown = f"{shown}={value!r}"
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"{shown} is not known{hint}; choose one of: {', '.join(choices)}."
    if given is None:
        got = _GOT_VALUE.findall(text)
        given = got[-1].strip() if got else None
    value = f"={given!r}" if given is not None else ""
    hint = _hint(parser, key)
    choices = _optional_choices(hint)
    if choices and given is not None and given not in choices:  # e.g. `int3` for int4 or null
        close = difflib.get_close_matches(given, choices, n=1, cutoff=0.6)
        mean = f" (did you mean {close[0]}?)" if close else ""
        return f"{shown}{value} is not known{mean}; choose one of: {', '.join(choices)} or null."
    allowed = _allowed(hint)
    if not allowed:
        return f"{shown}{value} is not valid: {' '.join(text.split())}"
    return f"{shown}{value} is not valid; allowed: {allowed}."


def _optional_choices(hint: Any) -> list[str]:
    """The choices of an `Optional[Literal[...]]` option (empty for any other type)."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return []
    arms = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(arms) != 1 or typing.get_origin(arms[0]) is not typing.Literal:
        return []
    return [str(c) for c in typing.get_args(arms[0])]


def _argv_value(argv: list[str], key: str) -> str | None:
    """The last value `argv` gives `--key` (`--key V` or `--key=V`); None if it gives none."""
    value = None
    for i, arg in enumerate(argv):
        if arg == f"--{key}" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(f"--{key}="):
            value = arg.split("=", 1)[1]
    return value


def _in_config(argv: list[str], key: str) -> str:
    """`--config='FILE': ` for the last config file in `argv` that sets `key` (dotted), or ''."""
    found = ""
    for path in config_paths(argv):
        try:
            data: Any = yaml.safe_load(Path(path).read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        *groups, last = key.split(".")
        for part in groups:
            data = data.get(part) if isinstance(data, dict) else None
        if isinstance(data, dict) and last in data:
            found = f"--config={path!r}: "
    return found


def _hint(parser: ArgumentParser, key: str) -> Any:
    """The type of option `--key` (jsonargparse keeps it as `_typehint`); "config" for the
    config-file option; None when `parser` has no such option."""
    action = parser._option_string_actions.get(f"--{key}")
    if action is None:
        return None
    if action.dest == "config":
        return "config"
    hint = getattr(action, "_typehint", None)
    return hint if hint is not None else action.type


def _allowed(hint: Any) -> str:
    """What a value of type `hint` may be, in words ('' when it cannot be said simply)."""
    if hint is None:
        return ""
    if hint == "config":
        return "a YAML file"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    if hint is type(None):
        return "null"
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_allowed(a) for a in args]
        return " or ".join(p for p in parts if p) if all(parts) else ""
    if origin in (list, tuple, set) or (origin is not None and "Iterable" in str(origin)):
        item = _allowed(args[0]) if args else ""
        return f"a list [...] of items each {item}" if item else "a list [...]"
    if origin is dict:
        return "a mapping {key: value, ...}"
    if isinstance(hint, type):
        return f"a {hint.__name__} (a mapping of its options; see --help)"
    return ""


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" else text
