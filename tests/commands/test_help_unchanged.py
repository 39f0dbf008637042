"""`--help` of each command, byte for byte as recorded in tests/commands/help/.

Moving a parser between modules (issue 26: parsers at the edge) must not change what a user
reads. The help is printed at a fixed width (COLUMNS=100) so the record does not depend on the
terminal, and in a fresh process: the pretrain help lists the Lightning callbacks imported so far,
which in a shared test process depends on which tests ran before. A deliberate change of an
option rewrites the records with
`FL_LIGHTNING_WRITE_HELP=1 pytest tests/commands/test_help_unchanged.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RECORDS = Path(__file__).parent / "help"

COMMANDS = {
    "federate": ["federate", "--help"],
    "pretrain": ["pretrain", "--help"],
    "federated_pretrain": ["pretrain", "--federated", "--help"],
    "prune": ["prune", "--help"],
    "compare": ["compare", "--help"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_is_byte_identical_to_its_record(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from fl_lightning.cli import main; main(sys.argv[1:])"]
        + COMMANDS[name],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    record = RECORDS / f"{name}.txt"
    if os.environ.get("FL_LIGHTNING_WRITE_HELP"):
        record.write_text(text)
    assert text == record.read_text(), f"`fl-lightning {' '.join(COMMANDS[name])}` changed"
