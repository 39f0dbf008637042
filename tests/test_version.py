"""The code version stamped into results: pyproject's version, and git's commit in a checkout."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from fl_lightning import version

REPO = Path(__file__).resolve().parents[1]


def test_a_checkout_runs_its_pyproject_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert version.__version__ == project["version"] != "0.1.0"
    assert version.code_version()["fl_lightning_version"] == version.__version__


def test_outside_a_checkout_the_installed_version_and_no_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(version, "PACKAGE_ROOT", tmp_path)  # no pyproject.toml, no git
    try:
        installed = metadata.version("fl_lightning")
    except metadata.PackageNotFoundError:
        installed = "0+unknown"
    assert version.package_version() == installed
    version.code_version.cache_clear()
    try:
        assert version.code_version() == {"fl_lightning_version": version.__version__}
    finally:
        version.code_version.cache_clear()
