"""What tests of whole federations share: the smoke run's arguments, and results compared
without the measured wall-clock fields (they differ between otherwise identical runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fl_lightning.tracking.metric_names import WALL_CLOCK_FIELDS

SMOKE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "federate" / "smoke.yaml"


def federate_args(root: Path, out: Path, *extra: str) -> list[str]:
    """`fl-lightning federate` on the smoke config and the tiny dataset (100 images held out)."""
    return [
        "federate",
        "--config", str(SMOKE_CONFIG),
        "--data.root", str(root),
        "--data.server_images", "100",
        "--data.max_test_examples", "200",
        "--output", str(out),
        "--pretrain_overrides",
        '["--trainer.enable_progress_bar=false", "--trainer.logger=false"]',
        *extra,
    ]  # fmt: skip


def without_wall_clock(obj: Any) -> Any:
    """`obj` with every measured-time field removed, recursively."""
    if isinstance(obj, dict):
        return {k: without_wall_clock(v) for k, v in obj.items() if k not in WALL_CLOCK_FIELDS}
    if isinstance(obj, list):
        return [without_wall_clock(v) for v in obj]
    return obj
