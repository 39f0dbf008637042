"""`compare_config`: a comparison's typed config from a YAML file and values, from Python.

    config = compare_config("configs/compare/smoke.yaml", output="runs/c", seeds=[0, 1])

The YAML is found as `fl-lightning compare --config` finds it (the path as given, the current
folder, the packaged configs), and the federate config it names is found beside it first; a
mistake raises `UsageError` naming it (never `SystemExit`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

from fl_lightning.app.compare_settings import CompareConfig
from fl_lightning.app.typed_build import group_type, merged
from fl_lightning.config_files import DICT_MAPPING, check_groups, read_config_file
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.errors import UsageError

#: The option groups of a compare config (each given as a mapping).
GROUPS: dict[str, Any] = {
    name: {} for name, hint in get_type_hints(CompareConfig).items() if group_type(hint)
}


def compare_config(
    config: str | Path | None = None,
    *,
    values: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> CompareConfig:
    """A comparison's config: the YAML `config` (None: the defaults), then `values` (nested like
    the YAML, e.g. `{"wandb": {"enabled": False}}`), then `overrides` (options by name,
    `methods=["fedavg"]`). Every value is checked; a bad one raises `UsageError` naming it."""
    tree: dict[str, Any] = {}
    files: tuple[str, ...] | None = None
    if config is not None:
        if not isinstance(config, str | Path):
            raise UsageError(
                f"compare_config(config={config!r}): allowed a YAML file's path (str or Path) "
                "or None (the defaults)."
            )
        path = Path(config)
        if not path.is_file():  # as the CLI: the current folder, then the packaged configs
            path = Path(resolve_config_path(str(config), "compare_config(config)"))
        tree = read_config_file("compare config", path)
        _check_tree(f"compare config {path}", tree)
        if isinstance(tree.get("federate_config"), str):  # a path in a YAML: beside the YAML
            tree["federate_config"] = resolve_config_path(
                tree["federate_config"], "federate_config", [path.resolve()]
            )
        files = (os.fspath(path),)
    if values is not None:
        if not isinstance(values, Mapping):
            raise UsageError(
                f"compare_config(values={values!r}): allowed a dict of option values, nested "
                'like the YAML, e.g. {"seeds": [0, 1]}.'
            )
        _check_tree("compare_config(values=...)", values, DICT_MAPPING)
        tree = merged(CompareConfig, tree, values)
    _check_tree("compare_config(...)", overrides, DICT_MAPPING)
    tree = merged(CompareConfig, tree, overrides)
    try:
        built = CompareConfig.from_dict(tree)
    except UsageError as err:
        raise UsageError(f"compare config {config or '(defaults)'}: {err}") from None
    return built if files is None else dataclasses.replace(built, config=files)


def _check_tree(shown: str, tree: Mapping[str, Any], mapping: str | None = None) -> None:
    """Every group of `tree` given a mapping (`wandb: 5` is named)."""
    if mapping is None:
        check_groups(shown, tree, GROUPS)
    else:
        check_groups(shown, tree, GROUPS, mapping=mapping)
