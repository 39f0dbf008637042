"""How what a run writes names files: never by an absolute machine path.

Summaries, config.yaml files, provenance and the `Command:` line of a report are read on other
machines (committed results, a copied run folder, W&B). An absolute path names one machine's
folders, so every path they record goes through `recorded_path`:

- a file of the project's configs (`configs/` of the checkout, or the configs shipped in the
  package) is `configs/...`, which every command finds from any folder;
- a relative path stays as given (relative to the folder the command ran in, as typed);
- any other absolute path is made relative to `base`: the folder the command ran in, where
  the command line, `--output` and the other command-line paths are read from (so a resume or
  a re-run from that folder finds the same files).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from fl_lightning.config_paths import PACKAGED_CONFIGS


def _configs_relative(path: Path) -> str | None:
    """`configs/<rest>` when `path` is one of the project's configs, else None."""
    for root in dict.fromkeys((PACKAGED_CONFIGS, PACKAGED_CONFIGS.resolve())):
        for candidate in dict.fromkeys((path, path.resolve())):
            if candidate.is_relative_to(root):
                return Path("configs", candidate.relative_to(root)).as_posix()
    return None


def recorded_path(value: str | os.PathLike[str], base: str | os.PathLike[str] | None = None) -> str:
    """`value` as a record names it: `configs/...` for a project config, a relative path as
    given, any other absolute path relative to `base` (default: the current folder)."""
    text = os.fspath(value)
    if not os.path.isabs(text):
        return text
    path = Path(os.path.normpath(text))
    configs = _configs_relative(path)
    if configs is not None:
        return configs
    return Path(os.path.relpath(path, os.path.abspath(base or os.curdir))).as_posix()


def recorded_tree(tree: Any, base: str | os.PathLike[str] | None = None) -> Any:
    """`tree` (nested dicts, lists, strings: a config or a provenance record) with every path
    object, and every string that is an absolute path or an argument holding one, recorded
    (`recorded_path`, `recorded_arg`)."""
    if isinstance(tree, dict):
        return {key: recorded_tree(value, base) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return [recorded_tree(value, base) for value in tree]
    if isinstance(tree, os.PathLike):  # e.g. a `--config` file a parser kept as a path object
        return recorded_path(os.fspath(tree), base)
    if isinstance(tree, str):  # a path, or an argument holding one (`overrides` lists)
        return recorded_arg(tree, base)
    return tree


def recorded_arg(arg: str, base: str | os.PathLike[str] | None = None) -> str:
    """One command-line argument as a record shows it: an absolute path, alone or as
    `--option=PATH`, through `recorded_path`; anything else as given."""
    if arg.startswith("[") and arg.endswith("]"):  # a list option's value, e.g. --overrides
        try:
            items = json.loads(arg)
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return json.dumps([recorded_arg(i, base) for i in items], separators=(",", ":"))
    option, sep, value = arg.partition("=")
    if sep and option.startswith("-") and len(value) > 1 and os.path.isabs(value):
        return f"{option}={recorded_path(value, base)}"
    if len(arg) > 1 and os.path.isabs(arg):
        return recorded_path(arg, base)
    return arg


def recorded_command(argv: Sequence[str], base: str | os.PathLike[str] | None = None) -> str:
    """The command line `argv` as a record shows it (each argument through `recorded_arg`)."""
    return shlex.join(recorded_arg(arg, base) for arg in argv)


def recorded_config_text(text: str, base: str | os.PathLike[str] | None = None) -> str:
    """A YAML config's text (a parser's dump) with its absolute paths through `recorded_path`;
    the text as given when it has none (so its layout stays the parser's)."""
    loaded = yaml.safe_load(text)
    recorded = recorded_tree(loaded, base)
    if recorded == loaded:
        return text
    return yaml.safe_dump(recorded, sort_keys=False, default_flow_style=False, allow_unicode=True)
