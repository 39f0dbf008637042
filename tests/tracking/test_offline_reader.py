"""Finding the parts of an offline W&B run by its id, W&B's same-second suffix included."""

from __future__ import annotations

from pathlib import Path

from fl_lightning.tracking.offline_reader import offline_run_ids, offline_run_parts
from fl_lightning.tracking.wandb_run import WandbRun


def test_parts_by_name_never_take_another_runs_longer_id(tmp_path: Path) -> None:
    names = [
        "offline-run-20261204_184517-38yg6y2b",
        "offline-run-20261204_184517-38yg6y2b-1",  # resumed within the same second (no record:
        # the name alone cannot tell; see the next test for parts W&B wrote)
        "offline-run-20261204_184519-38yg6y2b",
        "offline-run-20261204_184520-38yg6y2bx",  # another run whose id starts the same
        "offline-run-20261204_184521-compare-summary-0825",  # an id ending in -digits
        "offline-run-20261204_184522-compare-summary-0825-2",
    ]
    for name in names:
        (tmp_path / name).mkdir()
    (tmp_path / "latest-run").symlink_to(tmp_path / names[2])
    parts = [p.name for p in offline_run_parts(tmp_path, "38yg6y2b")]
    assert parts == [names[0], names[2]]  # a suffixed folder counts when its record says so
    assert [p.name for p in offline_run_parts(tmp_path, "compare-summary-0825")] == [names[4]]
    assert offline_run_parts(tmp_path, "compare-summary") == []  # not by the name alone


def test_run_ids_come_from_the_run_records(tmp_path: Path) -> None:
    """Two parts of one run (a resume; often in the same second, then `<id>-1`) are one id;
    a part without a readable record is left out."""
    for _ in range(2):
        run = WandbRun(
            enabled=True, project="p", name="n", group=None, save_dir=tmp_path,
            config={}, run_id="abc-123",
        )  # fmt: skip
        run.log({"round": 1, "x": 1.0})
        run.finish()
    (tmp_path / "wandb" / "offline-run-20990101_000000-broken").mkdir(parents=True)
    assert offline_run_ids(tmp_path / "wandb") == ["abc-123"]
    parts = offline_run_parts(tmp_path / "wandb", "abc-123")
    assert len(parts) == 2 and parts[0].name.endswith("-abc-123")
    # the same two parts, whatever second each started in: a copy named with W&B's suffix
    # counts too, since its own record names the run
    suffixed = parts[0].with_name(parts[0].name + "-1")
    parts[1].rename(suffixed)
    assert offline_run_parts(tmp_path / "wandb", "abc-123") == [parts[0], suffixed]
    assert offline_run_parts(tmp_path / "wandb", "abc") == []
