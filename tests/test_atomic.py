"""Atomic writes: the new file replaces the old whole, with ordinary permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fl_lightning.atomic import atomic_write_bytes, atomic_write_files


def test_replaces_whole_file_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "summary.json"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    old = os.umask(0o022)
    os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~old
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]  # no temporaries left


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "ticket.pt"
    atomic_write_bytes(target, b"valid")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"valid"
    assert [p.name for p in tmp_path.iterdir()] == ["ticket.pt"]


def test_files_written_together_are_all_replaced_or_none(tmp_path: Path) -> None:
    ticket, report = tmp_path / "ticket.pt", tmp_path / "ticket.json"
    atomic_write_files({ticket: b"old ticket", report: b"old report"})
    (tmp_path / "a_file").write_text("in the way\n")
    with pytest.raises(OSError):  # the third file cannot be written: its folder is a file
        atomic_write_files(
            {ticket: b"new ticket", report: b"new report", tmp_path / "a_file" / "x": b"x"}
        )
    assert (ticket.read_bytes(), report.read_bytes()) == (b"old ticket", b"old report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "ticket.json", "ticket.pt"]
