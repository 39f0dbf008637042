"""Fixtures of the reliability tests: one uninterrupted reference federation, made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from fl_lightning.cli import main

from .runs import REFERENCE, federate_args


@pytest.fixture(scope="session")
def reference_run(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of the uninterrupted reference run (read it, never write to it)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    main(["federate", *federate_args(tiny_fashion_root, out, *REFERENCE)])
    return out
