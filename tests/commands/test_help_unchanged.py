"""`--help` of each command, byte for byte as recorded in tests/commands/help/.

Moving a parser between modules (issue 26: parsers at the edge) must not change what a user
reads. The help is printed at a fixed width (COLUMNS=100) so the record does not depend on the
terminal. A deliberate change of an option rewrites the records with
`FL_LIGHTNING_WRITE_HELP=1 pytest tests/commands/test_help_unchanged.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fl_lightning.cli import main

RECORDS = Path(__file__).parent / "help"

COMMANDS = {
    "federate": ["federate", "--help"],
    "pretrain": ["pretrain", "--help"],
    "federated_pretrain": ["pretrain", "--federated", "--help"],
    "prune": ["prune", "--help"],
    "compare": ["compare", "--help"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_is_byte_identical_to_its_record(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as exit_info:
        main(COMMANDS[name])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    record = RECORDS / f"{name}.txt"
    if os.environ.get("FL_LIGHTNING_WRITE_HELP"):
        record.write_text(text)
    assert text == record.read_text(), f"`fl-lightning {' '.join(COMMANDS[name])}` changed"
