"""Building a command's config from Python: a YAML file, command-line style arguments, values.

`federate_config` and `compare_config` are this over their command's parser, so a config built
in Python is parsed, typed and checked exactly as the command line's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser, Namespace

from fl_lightning.config_paths import resolve_config_path
from fl_lightning.errors import UsageError

#: Options that name another config file (resolved beside the YAML that names them).
CONFIG_PATH_KEYS = ("pretrain_config", "federate_config")


def build_config(
    parser: ArgumentParser,
    what: str,
    config: str | Path | None = None,
    args: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
) -> Namespace:
    """`config` (YAML; None: the defaults), then `args`, then `values` (nested like the YAML).

    `parser` must not exit on error; a bad value raises `UsageError` starting with `what`.
    """
    try:
        cfg = parser.parse_path(str(config)) if config is not None else parser.get_defaults()
        if config is not None:  # paths the YAML names are relative to the YAML
            for key in CONFIG_PATH_KEYS:
                value = cfg.get(key)
                if isinstance(value, str):
                    cfg[key] = resolve_config_path(value, key, [Path(config).resolve()])
        if args:
            cfg = parser.parse_args(list(args), namespace=cfg)
        if values:
            cfg = parser.parse_object(dict(values), namespace=cfg)
    except Exception as err:  # jsonargparse's ArgumentError, a YAML error, a missing file
        raise UsageError(f"{what} config {config or '(defaults)'}: {err}") from None
    return cfg
