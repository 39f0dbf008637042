"""Mutation score of a module against its own tests: small AST mutations, each run in a fork.

Each mutant changes one thing in the module's source: a comparison (`<` -> `<=`, `==` -> `!=`,
`in` -> `not in`, ...), an arithmetic or bitwise operator (`+` -> `-`, `*` -> `/`, ...), a
boolean operator (`and` <-> `or`), a `not` / unary minus dropped, a constant tweaked (int n ->
n + 1, float x -> 2x (0.0 -> 1.0), True <-> False) or a statement deleted (replaced by `pass`).
A call is unwrapped (`sorted(x)`, `abs(x)`, `round(x)`, `int(x)`,
`float(x)` -> `x`; `x.clone()`, `x.copy()`, `x.abs()` -> `x`). Docstrings, strings,
annotations, imports and `def`/`class` statements are left alone.

A mutant is *killed* when the module's tests fail against it (or time out: `--timeout`), and
*survives* when they pass. Runs are cheap because the parent imports the heavy third-party
libraries once and forks one child per mutant; the child puts the mutated module into
`sys.modules` before pytest imports anything of the package, so every importer sees it.

Survivors that cannot be told apart from the original by any input (equivalent mutants) are
listed, each with the reason, in `benchmarks/mutation_equivalent.toml` under the module's
target name; the score excludes them:
``score = killed / (mutants - equivalent)``. An entry that no longer matches a surviving mutant
is reported as stale. Mutant keys are the stripped source line and the change, so they survive
edits elsewhere in the file.

Run (CPU-heavy; one module at a time, niced):
    nice .venv/bin/python benchmarks/mutation.py mask [--jobs 1] [--timeout 120] [--json OUT]
    nice .venv/bin/python benchmarks/mutation.py --module fl_lightning/x.py --tests tests/x.py
The last line reads `mutation <target>: score=<s> killed=<k> survived=<s> equivalent=<e> ...`.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import signal
import sys
import time
import tomllib
import types
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = REPO / "benchmarks" / "mutation_equivalent.toml"

#: target name -> (module source, its own tests)
TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mask": ("fl_lightning/pruning/mask.py", ("tests/pruning/test_mask.py",)),
    "magnitude": ("fl_lightning/pruning/magnitude.py", ("tests/pruning/test_magnitude.py",)),
    "aggregate": ("fl_lightning/federated/aggregate.py", ("tests/federated/test_aggregate.py",)),
    "accounting": (
        "fl_lightning/federated/accounting.py",
        ("tests/federated/test_accounting.py",),
    ),
    "validation": (
        "fl_lightning/federated/validation.py",
        ("tests/federated/test_validation.py",),
    ),
    "to_target": (
        "fl_lightning/experiments/to_target.py",
        ("tests/experiments/test_to_target.py",),
    ),
    "codec": ("fl_lightning/federated/codec.py", ("tests/federated/test_codec.py",)),
    "codec_header": (
        "fl_lightning/federated/codecs/header.py",
        ("tests/federated/test_codec.py",),
    ),
    "codec_values": (
        "fl_lightning/federated/codecs/values.py",
        ("tests/federated/test_codec_values.py", "tests/federated/test_codec.py"),
    ),
    "codec_positions": (
        "fl_lightning/federated/codecs/positions.py",
        ("tests/federated/test_codec_positions.py", "tests/federated/test_codec.py"),
    ),
}

_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.BitXor: ast.BitOr,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
_SYMBOLS: dict[type, str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.And: "and",
    ast.Or: "or",
    ast.Not: "not",
    ast.USub: "-",
    ast.Invert: "~",
}
#: calls replaced by their argument, `f(x) -> x`, and methods dropped, `x.m() -> x`
_UNWRAPPED = frozenset({"sorted", "abs", "round", "int", "float"})
_DROPPED = frozenset({"clone", "copy", "abs"})
_LEFT_ALONE = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Mutant:
    """One mutation: where (index of the node in `ast.walk` order) and what it changes."""

    index: int
    line: int
    change: str
    key: str


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | timeout | survived
    seconds: float


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes never mutated: annotations, docstrings and their subtrees."""
    skipped: set[int] = set()

    def skip(node: ast.AST | None) -> None:
        if node is not None:
            skipped.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            skip(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            skip(node.returns)
        elif isinstance(node, ast.AnnAssign):
            skip(node.annotation)
        elif isinstance(node, _LEFT_ALONE[:2]):
            skip(node)
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(node, ast.Module | ast.ClassDef):
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip(first)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip(first)
    return skipped


def _changes(node: ast.AST, skipped: set[int]) -> Iterator[tuple[str, Callable[[ast.AST], None]]]:
    """The mutations of one node: (description, function applying it in place)."""
    if id(node) in skipped:
        return
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _COMPARE_SWAPS:
                new = _COMPARE_SWAPS[type(op)]

                def swap_cmp(n: ast.AST, i: int = i, new: type[ast.cmpop] = new) -> None:
                    assert isinstance(n, ast.Compare)
                    n.ops[i] = new()

                yield f"{_SYMBOLS[type(op)]} -> {_SYMBOLS[new]}", swap_cmp
    elif isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in _BINOP_SWAPS:
        new_op = _BINOP_SWAPS[type(node.op)]

        def swap_bin(n: ast.AST, new: type[ast.operator] = new_op) -> None:
            n.op = new()  # type: ignore[attr-defined]

        yield f"{_SYMBOLS[type(node.op)]} -> {_SYMBOLS[new_op]}", swap_bin
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And

        def swap_bool(n: ast.AST, new: type[ast.boolop] = other) -> None:
            n.op = new()  # type: ignore[attr-defined]

        yield f"{_SYMBOLS[type(node.op)]} -> {_SYMBOLS[other]}", swap_bool
    elif isinstance(node, ast.Constant) and not isinstance(node.value, str | bytes):
        value = node.value
        new_value: object
        if isinstance(value, bool):
            new_value = not value
        elif isinstance(value, int):
            new_value = value + 1
        elif isinstance(value, float):
            new_value = value * 2 if value else 1.0
        else:
            return

        def tweak(n: ast.AST, v: object = new_value) -> None:
            n.value = v  # type: ignore[attr-defined]

        yield f"{value!r} -> {new_value!r}", tweak
    elif isinstance(node, ast.UnaryOp) and type(node.op) in (ast.Not, ast.USub, ast.Invert):
        yield f"{_SYMBOLS[type(node.op)]} dropped", _REPLACED
    elif isinstance(node, ast.Call) and not node.keywords:
        func = node.func
        if isinstance(func, ast.Name) and func.id in _UNWRAPPED and len(node.args) == 1:
            yield f"{func.id}(x) -> x", _REPLACED
        elif isinstance(func, ast.Attribute) and func.attr in _DROPPED and not node.args:
            yield f".{func.attr}() dropped", _REPLACED  # e.g. x.clone()
    if isinstance(node, ast.stmt) and not isinstance(node, (*_LEFT_ALONE, ast.Pass)):
        yield "statement deleted", _REPLACED


def _REPLACED(node: ast.AST) -> None:
    """Marker: the mutation replaces the node in its parent (see `_replacement`)."""


def _replacement(node: ast.AST, change: str) -> ast.AST:
    if change == "statement deleted":
        return ast.Pass()
    if isinstance(node, ast.UnaryOp):
        return node.operand
    assert isinstance(node, ast.Call)
    return node.args[0] if node.args else node.func.value  # type: ignore[attr-defined]


def _source_line(lines: list[str], node: ast.AST) -> str:
    lineno = getattr(node, "lineno", 0)
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else "?"


def enumerate_mutants(source: str) -> list[Mutant]:
    """Every mutant of `source`, in a stable order (node walk order, then change)."""
    tree = ast.parse(source)
    skipped = _skipped_nodes(tree)
    lines = source.splitlines()
    mutants: list[Mutant] = []
    seen: dict[str, int] = {}
    for index, node in enumerate(ast.walk(tree)):
        for change, _apply in _changes(node, skipped):
            key = f"{_source_line(lines, node)} | {change}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = f"{key} #{seen[key]}"
            mutants.append(Mutant(index, getattr(node, "lineno", 0), change, key))
    return mutants


def mutated_tree(source: str, mutant: Mutant) -> ast.Module:
    """The module's AST with `mutant` applied."""
    tree = ast.parse(source)
    skipped = _skipped_nodes(tree)
    nodes = list(ast.walk(tree))
    target = nodes[mutant.index]
    for change, apply in _changes(target, skipped):
        if change == mutant.change and apply is _REPLACED:
            new = _replacement(target, change)
            for parent in nodes:
                for field, value in ast.iter_fields(parent):
                    if value is target:
                        setattr(parent, field, new)
                    elif isinstance(value, list):
                        value[:] = [new if v is target else v for v in value]
            return ast.fix_missing_locations(tree)
    for change, apply in _changes(target, skipped):
        if change == mutant.change:
            apply(target)
            return ast.fix_missing_locations(tree)
    raise RuntimeError(f"mutant {mutant.key!r} does not apply")


def _module_name(path: Path) -> str:
    return ".".join(path.resolve().relative_to(REPO).with_suffix("").parts)


def _child(module_path: Path, tree: ast.Module | None, tests: list[str]) -> None:
    """In the forked child: install the (mutated) module, run the tests, exit with pytest's code."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        import importlib

        import pytest

        if tree is not None:
            name = _module_name(module_path)
            package, _, leaf = name.rpartition(".")
            parent = importlib.import_module(package)
            module = types.ModuleType(name)
            module.__file__ = str(module_path)
            module.__package__ = package
            sys.modules[name] = module
            setattr(parent, leaf, module)
            exec(compile(tree, str(module_path), "exec"), module.__dict__)
        args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly"]
        code = int(pytest.main(args))
    except BaseException:
        code = 3
    os._exit(code)


def run_one(module_path: Path, tree: ast.Module | None, tests: list[str]) -> int:
    """Start one forked child; returns its pid."""
    pid = os.fork()
    if pid == 0:
        _child(module_path, tree, tests)
    return pid


def run_all(
    module_path: Path, mutants: list[Mutant], tests: list[str], timeout: float, jobs: int
) -> list[Outcome]:
    """Run every mutant (`jobs` children at a time); a child past `timeout` is killed."""
    source = module_path.read_text()
    pending = list(mutants)
    running: dict[int, tuple[Mutant, float]] = {}
    outcomes: list[Outcome] = []
    while pending or running:
        while pending and len(running) < jobs:
            mutant = pending.pop(0)
            running[run_one(module_path, mutated_tree(source, mutant), tests)] = (
                mutant,
                time.monotonic(),
            )
        time.sleep(0.05)
        for pid, (mutant, started) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            elapsed = time.monotonic() - started
            if done == 0 and elapsed > timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                outcomes.append(Outcome(mutant, "timeout", elapsed))
                del running[pid]
            elif done:
                passed = os.waitstatus_to_exitcode(status) == 0
                outcomes.append(Outcome(mutant, "survived" if passed else "killed", elapsed))
                del running[pid]
                print(f"  {outcomes[-1].status:8s} L{mutant.line:<4d} {mutant.key}", flush=True)
    return sorted(outcomes, key=lambda o: o.mutant.index)


def _preload() -> None:
    """Import the heavy third-party libraries once, in the parent, single-threaded."""
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import torch

    torch.set_num_threads(1)
    for optional in ("hypothesis", "lightning.pytorch", "matplotlib.pyplot", "yaml"):
        with contextlib.suppress(ImportError):
            __import__(optional)
    assert not any(m == "fl_lightning" or m.startswith("fl_lightning.") for m in sys.modules)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", choices=sorted(TARGETS), help="a known module")
    parser.add_argument("--module", type=Path, help="module source (instead of a target)")
    parser.add_argument("--tests", nargs="+", default=None, help="its tests (with --module)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per mutant")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once")
    parser.add_argument("--only", nargs="+", type=int, default=None, help="lines to mutate")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--json", type=Path, default=None, help="write every outcome here")
    args = parser.parse_args(argv)
    if args.target:
        module_src, test_files = TARGETS[args.target]
        name, module_path, tests = args.target, REPO / module_src, list(test_files)
    elif args.module and args.tests:
        name, module_path, tests = args.module.stem, args.module.resolve(), args.tests
    else:
        parser.error("give a target or --module and --tests")
    os.chdir(REPO)
    mutants = enumerate_mutants(module_path.read_text())
    if args.only:
        mutants = [m for m in mutants if m.line in set(args.only)]
    if args.list:
        for m in mutants:
            print(f"L{m.line:<4d} {m.key}")
        print(f"{len(mutants)} mutants")
        return 0

    _preload()
    started = time.monotonic()
    pid = run_one(module_path, None, tests)
    _, status = os.waitpid(pid, 0)
    base_seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        print(f"the tests fail on the unmutated module: {' '.join(tests)}", file=sys.stderr)
        return 1
    timeout = args.timeout or max(30.0, 10 * base_seconds)
    print(f"{name}: {len(mutants)} mutants; tests take {base_seconds:.1f}s; timeout {timeout:.0f}s")
    outcomes = run_all(module_path, mutants, tests, timeout, max(1, args.jobs))

    equivalent = tomllib.loads(EQUIVALENT_FILE.read_text()).get(name, {})
    survivors = [o for o in outcomes if o.status == "survived"]
    excluded = [o for o in survivors if o.mutant.key in equivalent]
    live = [o for o in survivors if o.mutant.key not in equivalent]
    stale = sorted(set(equivalent) - {o.mutant.key for o in excluded})
    killed = sum(o.status in ("killed", "timeout") for o in outcomes)
    timeouts = sum(o.status == "timeout" for o in outcomes)
    counted = len(outcomes) - len(excluded)
    score = killed / counted if counted else 1.0
    for o in excluded:
        why = equivalent[o.mutant.key]
        print(f"equivalent L{o.mutant.line:<4d} {o.mutant.key}\n    why: {why}")
    for o in live:
        print(f"SURVIVED   L{o.mutant.line:<4d} {o.mutant.key}")
    for key in stale:
        print(f"stale equivalence entry (no such survivor): {key}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    print(
        f"mutation {name}: score={score:.3f} killed={killed} (timeouts {timeouts}) "
        f"survived={len(live)} equivalent={len(excluded)} mutants={len(outcomes)} "
        f"seconds={time.monotonic() - started:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
