"""Every metric name of a federation, in one place: metrics.csv columns, W&B keys, history rows.

Traffic and compute come in two kinds whose names say which (docs/design.md, "Metric names"):
this round's (`comm/down_bytes`, `comm/up_bytes`, `comm/bytes`, `compute/flops`,
`compute/client_seconds`) and running totals since round 1 (`comm/cum_down_bytes`,
`comm/cum_up_bytes`, `comm/cum_bytes`, `compute/cum_flops`, `compute/cum_client_seconds`).
The meters produce these names, the engines log them, and the comparison code reads them;
`upgrade_row` converts rows written before the renaming, so old results combine with new ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROUND = "round"
TEST_ACC = "test/acc"
TEST_LOSS = "test/loss"
TRAIN_LOSS = "train/loss"
DENSITY = "model/density"
PARTICIPATED = "clients/participated"
FAILED = "clients/failed"
FAULTS_INJECTED = "faults/injected"

# This round's figures.
DOWN_BYTES = "comm/down_bytes"
UP_BYTES = "comm/up_bytes"
BYTES = "comm/bytes"
FLOPS = "compute/flops"
CLIENT_SECONDS = "compute/client_seconds"
# Running totals over every round so far.
CUM_DOWN_BYTES = "comm/cum_down_bytes"
CUM_UP_BYTES = "comm/cum_up_bytes"
CUM_BYTES = "comm/cum_bytes"
CUM_FLOPS = "compute/cum_flops"
CUM_CLIENT_SECONDS = "compute/cum_client_seconds"

#: The columns of metrics.csv and curves.csv, in order.
ROUND_METRICS: tuple[str, ...] = (
    ROUND,
    TEST_ACC,
    TEST_LOSS,
    TRAIN_LOSS,
    DOWN_BYTES,
    UP_BYTES,
    BYTES,
    FLOPS,
    CLIENT_SECONDS,
    CUM_DOWN_BYTES,
    CUM_UP_BYTES,
    CUM_BYTES,
    CUM_FLOPS,
    CUM_CLIENT_SECONDS,
    DENSITY,
    PARTICIPATED,
    FAILED,
)
#: The final model on the server's hold-out (validation: no client holds those images), in the
#: W&B summary; summary.json says `final_val_acc` / `final_val_loss`. Choose hyperparameters on
#: these, never on `test/acc`.
VAL_ACC = "val/acc"
VAL_LOSS = "val/loss"
#: The W&B summary key of the best test accuracy over rounds (`define_metric(..., "max")`).
BEST_TEST_ACC = "test/acc.max"
#: Fields that measure wall-clock time: they differ between otherwise identical runs.
WALL_CLOCK_FIELDS: tuple[str, ...] = (
    CLIENT_SECONDS,
    CUM_CLIENT_SECONDS,
    "client_seconds",
    "wall_seconds",
    "seconds_to_target",
)

#: Names before the renaming: `comm/total_bytes`, `compute/flops` and `compute/client_seconds`
#: were running totals, `compute/round_*` this round's figures.
_LEGACY_MARKER = "comm/total_bytes"
_LEGACY_RENAMES: dict[str, str] = {
    "comm/total_bytes": CUM_BYTES,
    "compute/flops": CUM_FLOPS,
    "compute/client_seconds": CUM_CLIENT_SECONDS,
    "compute/round_flops": FLOPS,
    "compute/round_client_seconds": CLIENT_SECONDS,
}


def is_legacy_row(row: Mapping[str, Any]) -> bool:
    """Whether `row` uses the names from before the per-round / running-total split."""
    return _LEGACY_MARKER in row and CUM_BYTES not in row


def upgrade_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """`row` under today's names (a copy); rows already named so come back unchanged.

    Old rows said `comm/total_bytes` (cumulative), `compute/flops` and
    `compute/client_seconds` (both cumulative). Their running totals are renamed; the
    per-round byte sum `comm/bytes` is derived from down + up where both are present.
    """
    if not is_legacy_row(row):
        return dict(row)
    new: dict[str, Any] = {}
    for key, value in row.items():
        new[_LEGACY_RENAMES.get(key, key)] = value
    if BYTES not in new and _is_number(row.get(DOWN_BYTES)) and _is_number(row.get(UP_BYTES)):
        new[BYTES] = row[DOWN_BYTES] + row[UP_BYTES]
    return new


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
