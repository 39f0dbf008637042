"""One fact, one home: an option that can be given two ways gets one value, or is refused.

`--rounds` is a shorthand for `federation.rounds` (the round loop's setting). Each source of
options (one YAML file, the options typed on the command line, the Python API's `values`) may
give either spelling; a source that gives both with different values is refused naming both,
and the last source that gives the fact decides it, in whichever spelling: so `--config
run/config.yaml --rounds 6` runs 6 rounds, and so does `--config run/config.yaml
--federation.rounds 6` (before, the recorded `rounds` silently won). The tree a parse returns
then holds the one value in both places.

(`--seed` is not such a fact: it is the base for every *unset* `--seeds.*`. `data.split_seed`
against `seeds.split` is refused by `app.federate_checks.filled_seeds`.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fl_lightning.config_files import read_config_file
from fl_lightning.errors import UsageError

#: The shorthand of each fact and its home (dotted, as on the command line).
SPELLINGS: dict[str, str] = {"rounds": "federation.rounds"}


@dataclass(frozen=True)
class Source:
    """Where options were given (`where`, for the message) and which spellings it gave."""

    where: str
    given: Mapping[str, Any]


def given_in(tree: Mapping[str, Any]) -> dict[str, Any]:
    """The spellings of `SPELLINGS` that the nested `tree` (a YAML's, `values`) gives, not None."""
    found: dict[str, Any] = {}
    for dotted in (*SPELLINGS, *SPELLINGS.values()):
        node: Any = tree
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            found[dotted] = node
    return found


def argv_sources(argv: Sequence[str], where: str = "the command line") -> list[Source]:
    """The sources of a command line, in the order they apply: each `--config` file, and each
    option of `SPELLINGS` typed (all typed options are one place, `where`)."""
    spellings = (*SPELLINGS, *SPELLINGS.values())
    sources: list[Source] = []
    for i, arg in enumerate(argv):
        name, _, inline = arg.partition("=")
        value = inline if inline else (argv[i + 1] if i + 1 < len(argv) else None)
        if name in ("--config", "-c") and value is not None:
            sources += file_source(value, "--config")
        elif name.startswith("--") and name[2:] in spellings and value is not None:
            sources.append(Source(where, {name[2:]: value}))
    return sources


def one_home(tree: dict[str, Any], sources: Sequence[Source]) -> dict[str, Any]:
    """`tree` (a parse's, nested) with each fact of `SPELLINGS` at the value of the last source
    giving it, in both places; `UsageError` naming both options when one place (a file, the
    command line, `values`) gives the two spellings different values."""
    check_each_place(sources)
    for short, home in SPELLINGS.items():
        given = [s for source in sources for s in (short, home) if s in source.given]
        if not given:
            continue
        value = tree[short] if given[-1] == short else _get(tree, home)
        tree[short] = value
        _set(tree, home, value)
    return tree


def check_each_place(sources: Sequence[Source]) -> None:
    """`UsageError` naming both options when one place gives a fact's two spellings two values."""
    for short, home in SPELLINGS.items():
        by_place: dict[str, dict[str, Any]] = {}
        for source in sources:
            for spelling in (short, home):
                if spelling in source.given:
                    by_place.setdefault(source.where, {})[spelling] = source.given[spelling]
        for where, values in by_place.items():
            if short in values and home in values and _same(values[short]) != _same(values[home]):
                raise UsageError(
                    f"--{short}={values[short]} and --{home}={values[home]} ({where}) give one "
                    f"setting two values; give one of them (--{short} is short for --{home})."
                )


def spelled_both_ways(argv: Sequence[str], where: str = "the command line") -> list[str]:
    """`argv` with each typed spelling of a fact followed by the other at its value
    (`--rounds 2` -> `--rounds 2 --federation.rounds=2`), so the parse itself, and what
    `--print_config` prints of it, holds the fact once; two values typed are refused first."""
    typed = [s for s in argv_sources(argv, where) if s.where == where]
    check_each_place(typed)
    others = {**SPELLINGS, **{home: short for short, home in SPELLINGS.items()}}
    out: list[str] = []
    i = 0
    while i < len(argv):
        name, eq, inline = argv[i].partition("=")
        other = others.get(name[2:]) if name.startswith("--") else None
        if other is not None and eq:
            out += [argv[i], f"--{other}={inline}"]
            i += 1
        elif other is not None and i + 1 < len(argv):
            out += [argv[i], argv[i + 1], f"--{other}={argv[i + 1]}"]
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def values_source(values: Mapping[str, Any] | None) -> list[Source]:
    """The Python API's `values` as a source (none when not given)."""
    return [Source("values", given_in(values))] if values else []


def file_source(path: str | Path | None, what: str) -> list[Source]:
    """A YAML file as a source (none when None)."""
    if path is None:
        return []
    return [Source(f"{what}={str(path)!r}", given_in(read_config_file(what, path)))]


def _same(value: Any) -> Any:
    """`value` as a number when it reads as one (`"3"` typed, `3` in YAML: the same)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _get(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        node = node[part]
    return node


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *groups, leaf = dotted.split(".")
    node = tree
    for part in groups:
        node = node[part]
    node[leaf] = value
