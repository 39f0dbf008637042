"""`--print_config` with paths that work from anywhere.

A path a config file names is relative to that file (`pretrain_config: ../pretrain/smoke.yaml`,
see `fl_lightning.config_paths`); an input file given on the command line or in a config
(`--checkpoint`, `--ticket`, `--data.root`) is relative to the current folder. Printed verbatim,
both break once the printed config is saved somewhere else and used from another folder. So
before a `--print_config` parse, each such path is given again, absolute, right where it was
set: after the `--config` file that set it (later options still win, as they would), or in
place of the command-line value. The printed file then works with `--config` wherever it is
saved and whatever the current folder. Only the printout changes; a run reads paths as always.
`--output` stays as given: it names where to write, relative to where the command runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fl_lightning.config_files import read_config_file
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.errors import UsageError


def wants_print_config(argv: Sequence[str]) -> bool:
    """Whether `argv` asks for `--print_config` (with or without flags)."""
    return any(a == "--print_config" or a.startswith("--print_config=") for a in argv)


def absolute_paths_for_print(
    argv: Sequence[str],
    *,
    config_relative: Sequence[str] = (),
    cwd_relative: Sequence[str] = (),
) -> list[str]:
    """`argv` with every relative path of the options named (dotted, e.g. `data.root`) made
    absolute, when `argv` asks for `--print_config`; otherwise `argv` unchanged.

    `config_relative` options are resolved as a run resolves them (`resolve_config_path`: beside
    the config that names them, then the current folder, then the packaged configs); a value
    that resolves nowhere is left for the run's own error. `cwd_relative` ones are taken from
    the current folder.
    """
    if not wants_print_config(argv):
        return list(argv)
    keys = {**dict.fromkeys(cwd_relative, False), **dict.fromkeys(config_relative, True)}
    out: list[str] = []
    configs: list[Path] = []  # the config files so far, last first
    i = 0
    while i < len(argv):
        arg = argv[i]
        option, eq, inline = arg.partition("=")
        name = option[2:]
        value = inline if eq else (argv[i + 1] if i + 1 < len(argv) else None)
        if value is None or not (option in ("--config", "-c") or name in keys):
            out.append(arg)
            i += 1
            continue
        if option in ("--config", "-c"):
            out += [arg] if eq else [arg, value]
            configs.insert(0, Path(value).resolve())
            out += _from_file(value, keys)
        else:
            out.append(f"--{name}={_absolute(value, name, keys[name], configs)}")
        i += 1 if eq else 2
    return out


def _from_file(path: str, keys: dict[str, bool]) -> list[str]:
    """`--key=ABSOLUTE` for each relative path `keys` names that the config file `path` sets."""
    try:
        data = read_config_file("--config", path)
    except UsageError:  # the parse says what is wrong with the file
        return []
    found = []
    for key, beside_config in keys.items():
        value: Any = data
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip():
            found.append(f"--{key}={_absolute(value, key, beside_config, [Path(path).resolve()])}")
    return found


def _absolute(value: str, key: str, beside_config: bool, configs: list[Path]) -> str:
    if value.strip() in ("", "null") or Path(value).expanduser().is_absolute():
        return value
    if not beside_config:
        return os.path.abspath(Path(value).expanduser())
    try:
        return resolve_config_path(value, key, configs)
    except UsageError:
        return value
