"""`app.compare_output`: `compare` writes into its --output only over a comparison's own
report, never over another command's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fl_lightning.app.compare_output import check_compare_output, is_compare_summary
from fl_lightning.errors import UsageError


def test_an_empty_or_missing_folder_is_fine(tmp_path: Path) -> None:
    check_compare_output(tmp_path, ["iid"])
    check_compare_output(tmp_path / "not_yet", ["iid"])


def test_a_comparisons_own_report_may_be_replaced(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"target_acc": 0.8, "rows": []}))
    (tmp_path / "summary.md").write_text("# old report\n")
    (tmp_path / "label_distribution_iid.png").write_bytes(b"png")
    check_compare_output(tmp_path, ["iid"])


@pytest.mark.parametrize(
    ("summary", "is_compare"),
    [
        ({"target_acc": 0.8, "rows": [], "title": "x"}, True),  # more keys are fine
        ({"rows": []}, False),  # a federate run's summary.json lacks target_acc
        ([1, 2], False),
    ],
)
def test_a_comparisons_summary_has_its_keys(
    tmp_path: Path, summary: object, is_compare: bool
) -> None:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    assert is_compare_summary(path) is is_compare


def test_an_unreadable_summary_is_no_comparisons(tmp_path: Path) -> None:
    assert not is_compare_summary(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    assert not is_compare_summary(tmp_path / "bad.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe")
    assert not is_compare_summary(tmp_path / "bin.json")


def test_someone_elses_report_files_are_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "summary.md").write_text("my notes\n")
    (tmp_path / "label_distribution_dirichlet-0.5.png").write_bytes(b"png")
    (tmp_path / "label_distribution_other.png").write_bytes(b"png")  # no partition of the grid
    with pytest.raises(UsageError) as info:
        check_compare_output(tmp_path, ["iid", "dirichlet-0.5"])
    assert str(info.value) == (
        f"--output={str(tmp_path)!r} holds summary.md, label_distribution_dirichlet-0.5.png, "
        "which `fl-lightning compare` did not write (no comparison's summary.json is there); "
        "choose another --output (nothing there is replaced)."
    )


@pytest.mark.parametrize(
    ("name", "what"), [("checkpoint.pt", "a federation run"), ("dae.ckpt", "a pre-training")]
)
def test_a_run_folder_is_refused_even_beside_a_comparisons_summary(
    tmp_path: Path, name: str, what: str
) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"target_acc": 0.8, "rows": []}))
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(UsageError) as info:
        check_compare_output(tmp_path, ["iid"])
    assert str(info.value) == (
        f"--output={str(tmp_path)!r} holds {what} ({name}), not a comparison; choose another "
        "--output (nothing there is replaced)."
    )
