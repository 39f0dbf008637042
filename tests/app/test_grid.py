"""`app.grid`: what the comparison grid checks before it runs, and how it reads its finished
runs back (fast: no federation runs here; the end-to-end runs are in test_comparison.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fl_lightning.app.compare_loader import compare_config
from fl_lightning.app.comparison import grid_of
from fl_lightning.app.federate_resolution import resolved
from fl_lightning.app.grid import (
    Grid,
    GridConfigs,
    PlannedRun,
    _placeless,
    check_grid,
    finished_runs,
    plan_runs,
)
from fl_lightning.errors import UsageError
from fl_lightning.recorded_paths import recorded_config_text

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The configs name each other relative to the repository root, as `make` runs them."""
    monkeypatch.chdir(REPO)


def _fedavg_grid(tmp_path: Path) -> Grid:
    return grid_of(
        compare_config(SMOKE, output=str(tmp_path / "cmp"), methods=["fedavg"], seeds=[0])
    )


def _finish(run: PlannedRun, config_text: str, summary: dict[str, object]) -> None:
    """The files of a finished run, as `federate` leaves them (their contents as needed here)."""
    run.directory.mkdir(parents=True)
    (run.directory / "config.yaml").write_text(config_text)
    (run.directory / "summary.json").write_text(json.dumps(summary))
    for name in ("model.pt", "metrics.csv", "DONE.json"):
        (run.directory / name).write_text("")


def test_placeless_drops_where_a_pretraining_was_read_and_written() -> None:
    args = ["--config", "x/pre.yaml", "--output=runs/p", "--trainer.max_epochs=1"]
    args += ["--output", "o2", "--config=y.yaml", "--seed_everything=3"]
    assert _placeless(args) == ["--trainer.max_epochs=1", "--seed_everything=3"]


def test_pruned_methods_without_a_sparsity_stop_the_grid_before_any_run(tmp_path: Path) -> None:
    grid = dataclasses.replace(
        _fedavg_grid(tmp_path), methods=["fedavg", "proposed"], sparsities=[]
    )
    with pytest.raises(UsageError) as info:
        check_grid(grid)
    assert str(info.value) == (
        "--sparsities=[]: the pruned methods (proposed) need at least one sparsity; give one "
        "or leave them out of --methods (and --codecs)."
    )


def test_finished_runs_reads_a_finished_run_and_lists_the_rest(tmp_path: Path) -> None:
    grid = dataclasses.replace(_fedavg_grid(tmp_path), seeds=[0, 1])
    first, second = plan_runs(grid)[:2]
    assert (first.seed, second.seed) == (0, 1)
    assert finished_runs(grid) == ([], plan_runs(grid))  # nothing finished yet
    config = resolved(GridConfigs(grid).run(first, None))
    history = [{"round": 1, "test/acc": 0.5}]
    _finish(first, recorded_config_text(config.to_yaml()), {"history": history})
    curves, pending = finished_runs(grid)
    assert pending == plan_runs(grid)[1:]
    assert [(c.arm, c.seed, c.history) for c in curves] == [(first.arm, 0, history)]
    assert curves[0].pretraining is None  # fedavg starts from no DAE


def test_a_finished_run_made_with_another_config_is_refused(tmp_path: Path) -> None:
    grid = _fedavg_grid(tmp_path)
    run = plan_runs(grid)[0]
    config = resolved(GridConfigs(grid).run(run, None))
    other = dataclasses.replace(config, client=dataclasses.replace(config.client, local_epochs=2))
    _finish(run, recorded_config_text(other.to_yaml()), {"history": []})
    with pytest.raises(UsageError) as info:
        finished_runs(grid)
    assert str(info.value) == (
        f"{run.directory} holds a finished run made with another config than this comparison "
        "asks for; delete it or choose another --output."
    )


def test_a_finished_run_whose_options_are_gone_is_refused(tmp_path: Path) -> None:
    grid = _fedavg_grid(tmp_path)
    run = plan_runs(grid)[0]
    _finish(run, "", {"history": []})
    (run.directory / "config.yaml").unlink()
    with pytest.raises(UsageError, match=r"holds a finished run whose options are gone"):
        finished_runs(grid)
