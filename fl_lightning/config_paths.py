"""Paths named in configs, found from any folder; the default configs, shipped in the package.

A path inside a YAML file (`pretrain_config: ../pretrain/smoke.yaml`) means a path relative to
that file, as in any include mechanism; so a config works whatever the current folder is. The
project's configs (`configs/` in the repository) are also reachable from an installed package
(`fl_lightning/configs`), so the defaults (`configs/pretrain/fashion_mnist.yaml`) resolve
outside a checkout too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from fl_lightning.errors import UsageError

#: The project's configs as shipped with the package (a link to the repository's `configs/`).
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"


def candidates(value: str, configs: Sequence[Path]) -> list[Path]:
    """Where `value` may be, in order: itself if absolute; else beside each config file that may
    have named it, in the current folder, and among the packaged configs."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return [path]
    found = [config.parent / path for config in configs]
    found.append(Path.cwd() / path)
    found.append(PACKAGED_CONFIGS / path)
    if path.parts and path.parts[0] == "configs":  # `configs/...` as written from the repo root
        found.append(PACKAGED_CONFIGS.joinpath(*path.parts[1:]))
    return found


def resolve_config_path(value: str, option: str, configs: Iterable[Path] = ()) -> str:
    """The absolute path of the config file `value` (see `candidates`); `UsageError` naming
    `option` and the places looked in when there is none."""
    places = candidates(value, list(configs))
    for place in places:
        if place.is_file():
            return str(place.resolve())
    shown = ", ".join(str(p.parent) for p in dict.fromkeys(places))
    raise UsageError(f"{option}={value!r}: no such file (looked in {shown}).")
