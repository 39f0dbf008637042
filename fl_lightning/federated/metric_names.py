"""Kept for code written before the move: the metric names live in `tracking/metric_names.py`.

`tracking/` sits below `federated/` (the engine records through `tracking.wandb_run`), so the
names both use live there; this module re-exports them and adds nothing.
"""

from fl_lightning.tracking.metric_names import *  # noqa: F403
