"""The code a result was made with: the package version and, in a git checkout, the commit.

In a module of its own so low layers can stamp it into what they write without importing the
package's public API (`fl_lightning/__init__.py`).
"""

from __future__ import annotations

import functools
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

#: The folder holding the `fl_lightning` package: the checkout's root when it is one.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def package_version() -> str:
    """The version of the code running now: in a source checkout, its pyproject.toml's (an
    editable install's metadata is only as new as its last `pip install`); otherwise the
    installed distribution's (importlib.metadata); `0+unknown` when neither says."""
    pyproject = PACKAGE_ROOT / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if project.get("name") == "fl_lightning" and project.get("version"):
            return str(project["version"])
    try:
        return metadata.version("fl_lightning")
    except metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = package_version()


def _git(*args: str) -> str | None:
    """`git -C PACKAGE_ROOT ARGS`'s output, or None where git is missing or fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(PACKAGE_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.cache
def code_version() -> dict[str, Any]:
    """`{"fl_lightning_version": ...}`, plus `git_commit` (HEAD) and `git_dirty` (tracked files
    changed since it) when the package runs from a git checkout of its own; stamped into every
    summary.json and W&B run config, so a result names the code that made it."""
    record: dict[str, Any] = {"fl_lightning_version": __version__}
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != PACKAGE_ROOT:
        return record  # an installed package, or a folder inside some other repository
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return record  # a repository without a commit yet
    changes = _git("status", "--porcelain", "--untracked-files=no")
    record["git_commit"] = commit
    record["git_dirty"] = bool(changes)
    return record
