"""`fl-lightning` as a user runs it: a child process with its output in a pipe (not a terminal)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The `fl-lightning` console script of the running interpreter's environment.
FL_LIGHTNING = str(Path(sys.executable).parent / "fl-lightning")


def run_cli(
    *args: str, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`fl-lightning ARGS` in `cwd`, W&B offline, stdout and stderr captured apart."""
    environment = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [FL_LIGHTNING, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
