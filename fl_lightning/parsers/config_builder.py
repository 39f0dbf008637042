"""Building a command's config from Python: a YAML file, command-line style arguments, values.

`federate_config` is this over its command's parser (`compare_config` reads its YAML into the
typed `CompareConfig` itself: `compare_loader`), so a config built
in Python is parsed, typed and checked exactly as the command line's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser, Namespace

from fl_lightning.config_files import DICT_MAPPING
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.errors import UsageError
from fl_lightning.parsers.config_keys import check_against_defaults, check_options_file


def config_files(cfg: Namespace) -> list[Path]:
    """The `--config` files a parse was read from, last one first."""
    given = cfg.get("config")
    files = [Path(getattr(p, "absolute", None) or str(p)) for p in (given or []) if p]
    return list(reversed(files))


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
    The YAML and `values` are checked against the parser's options first: an unknown key, or
    an option group given anything but a mapping (`{"data": 5}`), is named, not passed on.
    """
    defaults = parser.get_defaults()
    if config is not None:
        if not isinstance(config, str | Path):
            raise UsageError(
                f"{what}_config(config={config!r}): allowed a YAML file's path (str or Path) "
                "or None (the defaults)."
            )
        if not Path(config).is_file():  # as the CLI: the current folder, then the packaged configs
            config = resolve_config_path(str(config), f"{what}_config(config)")
        check_options_file(f"{what} config", config, defaults)
    if isinstance(args, str) or not all(isinstance(a, str) for a in args):
        raise UsageError(
            f"{what}_config(args={args!r}): allowed a list of command-line strings, e.g. "
            "['--rounds', '2']."
        )
    if values is not None:
        if not isinstance(values, Mapping):
            raise UsageError(
                f"{what}_config(values={values!r}): allowed a dict of option values, nested "
                'like the YAML, e.g. {"rounds": 2}.'
            )
        check_against_defaults(f"{what}_config(values=...)", values, defaults, "", DICT_MAPPING)
    try:
        cfg = parser.parse_path(str(config)) if config is not None else defaults
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


def check_built_config(cfg: object, parser: ArgumentParser, function: str, builder: str) -> None:
    """`UsageError` unless `cfg` is a config `parser` parsed (every option of it present).

    `function` is the API call that takes `cfg` (`federate`), `builder` the one that makes it
    (`federate_config`): a path, None or another command's config is named, not run into.
    """
    if is_dataclass(cfg) and not isinstance(cfg, type):  # another step's typed config
        raise UsageError(
            f"{function}(cfg): not a {function} config (a {type(cfg).__name__}); allowed the "
            f"config `fl.{builder}(...)` returns."
        )
    if not isinstance(cfg, Namespace):
        raise UsageError(
            f"{function}(cfg={cfg!r}): allowed the config `fl.{builder}(...)` returns, "
            f"not a {type(cfg).__name__}."
        )
    missing = sorted(set(vars(parser.get_defaults())) - set(vars(cfg)) - {"config", "__path__"})
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise UsageError(
            f"{function}(cfg): not a {function} config (it lacks {shown}); allowed the config "
            f"`fl.{builder}(...)` returns."
        )
