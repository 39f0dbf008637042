"""A YAML config's keys checked against a parser's options, before the parser sees them.

The checks of the text itself (readable, a mapping, no key twice, groups given mappings) are
`fl_lightning.config_files`'s and need no parser; these add what needs one: every key an option
of the command (a misspelt one named with the closest), for the `--config` files of a command
line and the YAML and `values` of the Python API's config builders.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jsonargparse import Namespace

from fl_lightning.config_files import (
    YAML_MAPPING,
    Groups,
    check_config_file,
    check_groups,
    read_config_file,
)
from fl_lightning.errors import UsageError
from fl_lightning.parsers.config_args import config_paths


def check_against_defaults(
    shown: str,
    data: Mapping[str, Any],
    defaults: Namespace,
    prefix: str = "",
    mapping: str = YAML_MAPPING,
) -> None:
    """Every key of `data` is an option of the parser whose `defaults` these are; every group
    (nested too) is given a mapping (written as `mapping` says). Unknown keys are named with
    the allowed ones."""
    known = [k for k in vars(defaults) if k not in ("config", "__path__")]
    for key, value in data.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise UsageError(
                f"{shown}: unknown option {prefix}{key}{hint}; allowed"
                f"{' in ' + prefix.rstrip('.') if prefix else ''}: {', '.join(sorted(known))}."
            )
        inner = defaults[key]
        if isinstance(inner, Namespace):
            check_groups(shown, {key: value}, {key: {}}, prefix, mapping)
            check_against_defaults(shown, value, inner, f"{prefix}{key}.", mapping)


def check_config_args(argv: Sequence[str], spec: Namespace | Groups) -> None:
    """Check every `--config` file in `argv` against `spec`: a parser's defaults (keys and
    groups checked) or a mapping of group names (groups only)."""
    for path in config_paths(argv):
        if isinstance(spec, Namespace):
            check_options_file("--config", path, spec)
        else:
            check_config_file("--config", path, spec)


def check_options_file(option: str, path: str | Path, defaults: Namespace) -> dict[str, Any]:
    """One config file: a readable YAML mapping whose every key is an option of the parser
    whose `defaults` these are, every group given a mapping."""
    data = read_config_file(option, path)
    check_against_defaults(f"{option}={str(path)!r}", data, defaults)
    return data
