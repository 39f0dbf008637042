"""A pre-training's options in LightningCLI's argument syntax (the one place that spells them).

LightningCLI, Lightning's own configuration front end, takes option values only as arguments,
and `fl.pretrain` runs it from Python: `lightning_args` writes a `PretrainConfig`'s typed
settings as the arguments `fl-lightning pretrain` would be given, and `with_bare_flags` lets its
two boolean options be written bare (`--verbose`), as on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fl_lightning.config_paths import resolve_config_path
from fl_lightning.parsers.flags import expand_bare_flags

#: The boolean options `PretrainCLI` adds to LightningCLI's (a bare one means `true`).
PRETRAIN_FLAGS = ("--wandb.enabled", "--verbose")


def lightning_args(
    config: str | Path | None,
    output: str | Path | None,
    settings: Mapping[str, Any],
    args: Sequence[str],
) -> list[str]:
    """`config` (found as the CLI finds it: here, then the packaged configs), `output`, then
    each setting as `--key=value` (bools as `true`/`false`), then `args` as given."""
    argv: list[str] = []
    if config is not None:
        found = str(config)
        if not Path(found).is_file():
            found = resolve_config_path(found, "PretrainConfig(config)")
        argv = ["--config", found]
    if output is not None:
        argv += ["--output", str(output)]
    for key, value in settings.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        argv.append(f"--{key}={text}")
    return [*argv, *args]


def with_bare_flags(argv: Sequence[str]) -> list[str]:
    """`argv` with a bare `--verbose` / `--wandb.enabled` (or `--no_verbose`) given its value."""
    return expand_bare_flags(argv, PRETRAIN_FLAGS)
