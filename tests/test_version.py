"""The code version stamped into results: pyproject's version, and git's commit in a checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from fl_lightning import version

REPO = Path(__file__).resolve().parents[1]


def test_the_source_version_is_pyprojects() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["version"] == version.SOURCE_VERSION
    assert version.code_version()["fl_lightning_version"] == version.__version__


def test_outside_a_checkout_only_the_version_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(version, "PACKAGE_ROOT", tmp_path)  # a folder that is no git checkout
    version.code_version.cache_clear()
    try:
        assert version.code_version() == {"fl_lightning_version": version.__version__}
    finally:
        version.code_version.cache_clear()
