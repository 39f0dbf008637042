"""Determinism: the same config and seeds give the same run, also across a resume.

The wall-clock fields (`metric_names.WALL_CLOCK_FIELDS`) are the only ones allowed to
differ. The resumed variants through the CLI are in `test_resume.py`; here the engine's own
`state_dict` / `load_state_dict` is checked to continue exactly where an uninterrupted engine goes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import torch

from fl_lightning.cli import main
from fl_lightning.federated.engine import FederationConfig
from fl_lightning.federated.faults import FaultInjection
from fl_lightning.tracking.metric_names import WALL_CLOCK_FIELDS
from tests.smoke_runs import without_wall_clock

from .runs import REFERENCE, federate_args, summary, tiny_engine


def metrics_without_wall_clock(out: Path) -> list[dict[str, str]]:
    with (out / "metrics.csv").open() as f:
        return [
            {k: v for k, v in row.items() if k not in WALL_CLOCK_FIELDS}
            for row in csv.DictReader(f)
        ]


def test_same_config_and_seeds_same_run(
    tiny_fashion_root: Path, reference_run: Path, tmp_path: Path
) -> None:
    """Twice the reference run (fault injection on): summary, metrics and model all equal."""
    out = tmp_path / "again"
    main(["federate", *federate_args(tiny_fashion_root, out, *REFERENCE)])
    assert without_wall_clock(summary(out)) == without_wall_clock(summary(reference_run))
    assert metrics_without_wall_clock(out) == metrics_without_wall_clock(reference_run)
    ours = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    theirs = torch.load(reference_run / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(ours[k], v) for k, v in theirs.items())


def test_another_sampling_seed_gives_another_run(
    tiny_fashion_root: Path, reference_run: Path, tmp_path: Path
) -> None:
    """The comparison above can fail: a different seed changes the history."""
    out = tmp_path / "other"
    main(["federate", *federate_args(tiny_fashion_root, out, *REFERENCE, "--seeds.sampling", "1")])
    assert without_wall_clock(summary(out)["history"]) != without_wall_clock(
        summary(reference_run)["history"]
    )


def test_engine_state_round_trip_continues_like_the_uninterrupted_engine(
    tiny_fashion_root: Path,
) -> None:
    """Engine A runs rounds 1-3; engine B runs round 1, is saved, and C continues from it."""
    federation = FederationConfig(
        rounds=3, clients_per_round=3, faults=FaultInjection(probability=0.3, seed=2)
    )
    a = tiny_engine(tiny_fashion_root, federation=federation)
    a.run()
    b = tiny_engine(tiny_fashion_root, federation=federation)
    b.run_round(1)
    buffer = io.BytesIO()
    torch.save(b.state_dict(), buffer)
    buffer.seek(0)
    c = tiny_engine(tiny_fashion_root, federation=federation)
    c.load_state_dict(torch.load(buffer, weights_only=False))
    c.run()
    assert c.round == a.round == 3 and c.faults.injected == a.faults.injected
    assert without_wall_clock(c.summary()) == without_wall_clock(a.summary())
    assert all(torch.equal(c.global_state[k], v) for k, v in a.global_state.items())
