"""Parsers at the edge: below `commands/` and `parsers/`, no parser's Namespace, no argv built.

Every module of `fl_lightning/` outside those two folders is read (`ast`, so a word in a
docstring does not count) for
- `Namespace`: a name, an attribute or an import of it (jsonargparse's parse result), and
- argv strings built: a string or f-string that starts with `--`, holds no space, and is an
  element of a list or tuple or is appended to one (`args.append(f"--{key}={value}")`,
  `(*args, "--verbose=true")`); an option named in a message or a check
  (`check_range("--sparsity", ...)`, `f"--output={path!r}: no such file."`) is not argv.

The allowlist (for the comparison's modules of `app/` while they were converted) is empty.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "fl_lightning"

#: The parser layers: argv and YAML text become values here.
EDGE = ("commands", "parsers")

#: Modules still holding a Namespace while they move to typed configs (compare's), and nothing
#: else: a module leaves this list when it is converted.
ALLOWED: set[str] = set()  # empty: grid_fdae judges reuse by typed values since issue 26

_OPTION = re.compile(r"^--[A-Za-z]")
_APPENDERS = {"append", "extend", "insert", "parse_args", "parse_known_args"}


def _argv_like(node: ast.expr) -> bool:
    """A `--option` string without spaces: a constant or an f-string's text parts."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
        return _OPTION.match(text) is not None and not any(c.isspace() for c in text)
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
        return (
            isinstance(first, ast.Constant)
            and str(first.value).startswith("--")
            and (len(str(first.value)) == 2 or _OPTION.match(str(first.value)) is not None)
            and not any(c.isspace() for p in parts for c in str(p))
        )
    return False


def findings(source: str) -> list[str]:
    """What a module's source holds that only the edge may: `Namespace`, argv built."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and node.id == "Namespace":
            found.append(f"line {node.lineno}: Namespace")
        elif isinstance(node, ast.Attribute) and node.attr == "Namespace":
            found.append(f"line {node.lineno}: .Namespace")
        elif isinstance(node, ast.ImportFrom) and any(a.name == "Namespace" for a in node.names):
            found.append(f"line {node.lineno}: imports Namespace")
        elif isinstance(node, ast.List | ast.Tuple):
            found += [f"line {e.lineno}: argv {ast.unparse(e)}" for e in node.elts if _argv_like(e)]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _APPENDERS
        ):
            found += [f"line {a.lineno}: argv {ast.unparse(a)}" for a in node.args if _argv_like(a)]
    return found


def below_the_edge() -> dict[str, Path]:
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.split("/")[0] in EDGE or ("/" not in name and name in ("cli.py", "__main__.py")):
            continue
        files[name] = path
    return files


def test_no_namespace_or_argv_below_commands_and_parsers() -> None:
    bad = {
        name: hits
        for name, path in below_the_edge().items()
        if name not in ALLOWED and (hits := findings(path.read_text()))
    }
    assert not bad, "\n".join(f"fl_lightning/{n}: {'; '.join(h)}" for n, h in bad.items())


def test_the_allowlist_is_compares_alone() -> None:
    """Only compare's modules of `app/` may be allowlisted (one that is converted, moved or
    deleted may stay named until the list is pruned: it then allows nothing)."""
    assert all(name.startswith(("app/compar", "app/grid")) for name in ALLOWED), ALLOWED


def test_the_grep_finds_what_it_must_refuse() -> None:
    assert findings("from jsonargparse import Namespace\n")
    assert findings("def f(cfg: Namespace) -> None: ...\n")
    assert findings("import jsonargparse\nx = jsonargparse.Namespace()\n")
    assert findings('args.append(f"--{key}={value}")\n')
    assert findings('args = (*args, "--verbose=true")\n')
    assert findings('argv = ["--config", path]\n')
    # options named in messages and checks are not argv; a docstring is not code
    assert not findings('check_range("--sparsity", value, 0.0, 1.0)\n')
    assert not findings('raise UsageError(f"--output={out!r}: no such file.")\n')
    assert not findings('"""Reads a parser\'s Namespace."""\n')
    assert not findings('errors = [f"--output={out!r}: no such file."]\n')
