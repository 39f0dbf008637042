"""Fixtures of the reliability tests: one uninterrupted reference federation, made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from fl_lightning.cli import main

from .runs import federate_args

#: The reference federation: 4 rounds, 30% of the client updates fail by injection.
REFERENCE = ("--rounds", "4", "--federation.faults.probability", "0.3")


@pytest.fixture(scope="session")
def reference_run(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of the uninterrupted reference run (read it, never write to it)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    main(["federate", *federate_args(tiny_fashion_root, out, *REFERENCE)])
    return out
