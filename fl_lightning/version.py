"""The code a result was made with: the package version and, in a git checkout, the commit.

In a module of its own so low layers can stamp it into what they write without importing the
package's public API (`fl_lightning/__init__.py`).
"""

from __future__ import annotations

import functools
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

#: This source tree's version: pyproject.toml's `version` (a test keeps the two equal). Used
#: when no installed distribution describes this tree (run from a checkout on PYTHONPATH).
SOURCE_VERSION = "0.4.0"

#: The folder holding the `fl_lightning` package: the checkout's root when it is one.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _installed_here(dist: metadata.Distribution) -> bool:
    """Whether the installed distribution `dist` is this very source tree (not an install of
    another checkout that PYTHONPATH shadows): its editable source, or its files, are here."""
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    url = str(direct.get("url", ""))
    if direct.get("dir_info", {}).get("editable") and url.startswith("file://"):
        return Path(url.removeprefix("file://")).resolve() == PACKAGE_ROOT
    return Path(str(dist.locate_file("fl_lightning"))).resolve() == PACKAGE_ROOT / "fl_lightning"


def package_version() -> str:
    """The version of the code running now: the installed distribution's (importlib.metadata)
    when it is this tree, else `SOURCE_VERSION`."""
    try:
        dist = metadata.distribution("fl_lightning")
    except metadata.PackageNotFoundError:
        return SOURCE_VERSION
    return dist.version if _installed_here(dist) else SOURCE_VERSION


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
