"""The layers of docs/architecture.md, checked on the source: imports go down, never round.

Every `import` / `from ... import` of `fl_lightning` modules in `fl_lightning/` and
`benchmarks/` counts, those inside functions and under `TYPE_CHECKING` included (a lazy import
is still a dependency). A package's `__init__` that re-exports its modules is a facade: the
implicit import of a parent package when a submodule is imported is not counted. Each folder
is a layer of its own; there is no list of tolerated exceptions: 0 upward imports, 0 circles.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Rank of each layer, lowest first; a module may import its own rank or lower ones.
LAYERS: dict[str, int] = {
    "errors": 0,
    "atomic": 0,
    "atomic_checkpoint_io": 0,
    "write_errors": 0,
    "version": 0,
    "run_lock": 0,
    "interrupts": 0,
    "config_files": 0,
    "config_paths": 0,
    "console": 0,
    "plugins": 0,
    "named_registry": 0,
    "recorded_paths": 0,
    # Each folder is a layer of its own: its rank says which folders it may import.
    "data": 1,
    "models": 2,  # a model is built for a dataset's shape (`data/shape.py`), never the reverse
    "pruning": 3,
    "tracking": 4,  # W&B runs and the metric names (`tracking/metric_names.py`)
    "federated": 5,  # the engine records through `tracking`
    "experiments": 6,
    "parsers": 7,  # jsonargparse: YAML and argv text -> plain trees the typed configs are built of
    "app": 8,
    "commands": 9,
    "cli": 9,
    "__main__": 9,
    "__init__": 9,  # `fl_lightning` itself: the public API, lazily re-exporting `app`
    "benchmarks": 10,
}

#: The package's folders: each one has a rank no other folder shares.
FOLDERS = (
    "data",
    "models",
    "pruning",
    "tracking",
    "federated",
    "experiments",
    "parsers",
    "app",
    "commands",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    files = [*(REPO / "fl_lightning").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]
    return {module_name(f): f for f in files}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The `fl_lightning` modules `path` imports (a name imported from a package counts as
    the submodule when it is one)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("fl_lightning")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("fl_lightning"):
                continue
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            names_only = len(subs) < len(node.names)
            found |= subs | ({node.module} if names_only else set())
    return found & known


def graph() -> dict[str, set[str]]:
    mods = sources()
    return {name: imports_of(path, set(mods)) - {name} for name, path in mods.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "benchmarks":
        return "benchmarks"
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_belongs_to_a_layer() -> None:
    unknown = sorted({layer(m) for m in graph()} - set(LAYERS))
    assert not unknown, f"give these a rank in LAYERS (and docs/architecture.md): {unknown}"


def test_no_import_goes_up_a_layer() -> None:
    found = upward(graph())
    assert not found, "\n".join(found)


def test_no_import_circle() -> None:
    assert cycles(graph()) == []


def test_the_checks_see_what_they_must_refuse() -> None:
    """The checks above can fail: a circle and an upward edge are found in a made-up graph."""
    made_up = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(made_up) == [["a", "b", "c"]]
    assert layer("fl_lightning.federated.engine") == "federated" and layer("fl_lightning") == (
        "__init__"
    )
    edges = graph()
    # real edges are found, lazy (in-function) imports included
    assert "fl_lightning.app.federation" in edges["fl_lightning.commands.federate"]
    assert "fl_lightning.app.pretraining" in edges["fl_lightning.app.federation"]
    assert "fl_lightning.app" in edges["fl_lightning"]  # the lazy re-export


def upward(edges: dict[str, set[str]]) -> list[str]:
    """The imports of `edges` that go from a lower layer up into a higher one."""
    return [
        f"{a} ({layer(a)}) imports {b} ({layer(b)})"
        for a, targets in sorted(edges.items())
        for b in sorted(targets)
        if LAYERS[layer(b)] > LAYERS[layer(a)]
    ]


def test_each_folder_is_a_layer_of_its_own() -> None:
    """Two folders of one rank could import each other (as `tracking` and `federated` once
    did); distinct ranks make every arrow between folders point one way."""
    package = REPO / "fl_lightning"
    folders = {p.parent.name for p in package.glob("*/__init__.py")}
    assert folders == set(FOLDERS), "give the new folder a rank of its own in LAYERS"
    ranks = [LAYERS[f] for f in FOLDERS]
    assert ranks == sorted(set(ranks)), ranks


def test_an_arrow_back_up_between_folders_is_found() -> None:
    """The layer check refuses what it must: the two imports that once went back up."""
    assert upward({"fl_lightning.data.sources": {"fl_lightning.models.components"}})
    assert upward({"fl_lightning.tracking.wandb_run": {"fl_lightning.federated.engine"}})
    assert not upward({"fl_lightning.federated.engine": {"fl_lightning.tracking.wandb_run"}})
