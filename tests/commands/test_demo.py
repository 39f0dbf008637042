"""`make demo` never deletes a folder it did not create, and runs each federation once."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from fl_lightning.errors import UsageError

_SPEC = importlib.util.spec_from_file_location(
    "demo", Path(__file__).resolve().parents[2] / "examples" / "demo.py"
)
assert _SPEC is not None and _SPEC.loader is not None
demo = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(demo)
MARKER, main, prepare_output = demo.MARKER, demo.main, demo.prepare_output
REPO = Path(__file__).resolve().parents[2]


def test_a_foreign_folder_is_refused_and_left_intact(tmp_path: Path) -> None:
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("months of work\n")
    with pytest.raises(UsageError, match="non-empty folder the demo did not create"):
        prepare_output(mine)
    assert (mine / "chapter1.tex").read_text() == "months of work\n"
    with pytest.raises(SystemExit) as exit_info:  # the command line: exit 2, nothing run
        main(["--output", str(mine)])
    assert exit_info.value.code == 2
    assert sorted(p.name for p in mine.iterdir()) == ["chapter1.tex"]


def test_a_file_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.write_text("keep\n")
    with pytest.raises(UsageError, match="not a folder"):
        prepare_output(notes)
    assert notes.read_text() == "keep\n"


def test_new_empty_and_earlier_demo_folders_are_used(tmp_path: Path) -> None:
    new = tmp_path / "new" / "demo"
    prepare_output(new)
    assert [p.name for p in new.iterdir()] == [MARKER]
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_output(empty)
    assert (empty / MARKER).is_file()
    (new / "old_result.csv").write_text("from the last demo\n")
    prepare_output(new)  # an earlier demo folder is replaced
    assert [p.name for p in new.iterdir()] == [MARKER]


def test_step_3_federates_into_the_folder_of_step_4s_proposed_run(tmp_path: Path) -> None:
    """Step 4's comparison finds step 3's federation where it keeps its own `proposed` run
    (`tests/app/test_compare_reuses_a_ticket_run.py`: and reuses it)."""
    from fl_lightning.app.compare_loader import compare_config
    from fl_lightning.app.comparison import grid_of
    from fl_lightning.app.grid import plan_runs

    out = tmp_path / "demo"
    cfg = compare_config(str(REPO / "configs/compare/demo.yaml"), output=str(out / "compare"))
    runs = {run.arm.method: run.directory for run in plan_runs(grid_of(cfg))}
    assert runs["proposed"] == out / demo.FEDERATION
    assert set(runs) == {"fedavg", "proposed"}
