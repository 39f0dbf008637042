"""The `--config` files of a command line: found, and the packaged ones made reachable.

A command's argv names its YAML files with `--config F`, `--config=F` or `-c F`; these read
those arguments (to check each file before the parser does) and point a project config named
from the repository root (`configs/...`) at the copy shipped in the package when it is not
where it is named from, so the commands work from any folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fl_lightning.config_paths import candidates


def config_paths(argv: Sequence[str], option: str = "--config") -> list[str]:
    """The files given to `option` in `argv` (`--config F`, `--config=F`, and `-c F` for
    `--config`), in order."""
    names = {option, "-c"} if option == "--config" else {option}
    paths = []
    for i, arg in enumerate(argv):
        if arg in names and i + 1 < len(argv):
            paths.append(argv[i + 1])
        elif arg.startswith(option + "="):
            paths.append(arg.split("=", 1)[1])
    return paths


def packaged_config_args(argv: Sequence[str]) -> list[str]:
    """`argv` with each `--config` / `-c` file that is not where it is named from (the current
    folder) but is one of the packaged configs (`configs/...` as written from the repository
    root) replaced by the packaged file's path, so the commands work from any folder.
    Absolute paths, files that exist here and unknown names are left as given."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg in ("--config", "-c") and i + 1 < len(out):
            out[i + 1] = _packaged(out[i + 1])
        elif arg.startswith("--config="):
            out[i] = "--config=" + _packaged(arg.split("=", 1)[1])
    return out


def _packaged(value: str) -> str:
    path = Path(value).expanduser()
    if path.is_absolute() or path.is_file():
        return value
    for place in candidates(value, [])[1:]:  # after the current folder: the packaged configs
        if place.is_file():
            return str(place)
    return value
