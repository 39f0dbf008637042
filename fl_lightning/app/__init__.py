"""The application layer: the four steps of the method as Python functions on typed configs.

    pretrain(PretrainConfig) -> Path          the DAE checkpoint
    prune(PruneConfig) -> Ticket              the lottery ticket (saved when given an output)
    federate(federate_config(...)) -> dict    the federation's summary (as summary.json)
    compare(compare_config(...)) -> CompareReport

`fl_lightning.commands` parses the command line into the same configs and calls these; nothing
here builds a command line of this package. Exported from `fl_lightning` itself.
"""

from __future__ import annotations

from fl_lightning.app.compare_loader import compare_config
from fl_lightning.app.compare_settings import CompareConfig
from fl_lightning.app.comparison import CompareReport, compare
from fl_lightning.app.federate_options import federate_config
from fl_lightning.app.federation import federate
from fl_lightning.app.pretraining import PretrainConfig, pretrain
from fl_lightning.app.pruning import PruneConfig, prune

__all__ = [
    "CompareConfig",
    "CompareReport",
    "PretrainConfig",
    "PruneConfig",
    "compare",
    "compare_config",
    "federate",
    "federate_config",
    "pretrain",
    "prune",
]
