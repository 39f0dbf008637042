"""Metric names of a federation (DESIGN.md "Metric names"): the columns of metrics.csv and the
W&B keys, fixed in one place so the engines, the CSV files, the reports and W&B agree."""

from __future__ import annotations

ROUND = "round"
TEST_ACC = "test/acc"
TEST_LOSS = "test/loss"
TRAIN_LOSS = "train/loss"
DOWN_BYTES = "comm/down_bytes"
UP_BYTES = "comm/up_bytes"
TOTAL_BYTES = "comm/total_bytes"
FLOPS = "compute/flops"
CLIENT_SECONDS = "compute/client_seconds"
DENSITY = "model/density"
PARTICIPATED = "clients/participated"
FAILED = "clients/failed"
ROUND_METRICS = (
    ROUND,
    TEST_ACC,
    TEST_LOSS,
    TRAIN_LOSS,
    DOWN_BYTES,
    UP_BYTES,
    TOTAL_BYTES,
    FLOPS,
    CLIENT_SECONDS,
    DENSITY,
    PARTICIPATED,
    FAILED,
)
#: Fields that measure wall-clock time: they differ between otherwise identical runs.
WALL_CLOCK_FIELDS = (CLIENT_SECONDS, "client_seconds", "wall_seconds", "seconds_to_target")
