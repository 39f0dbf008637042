"""fl_lightning: communication-efficient federated learning with DAE-pre-trained lottery tickets.

The Python API (`fl_lightning.app`), imported on first use so `import fl_lightning` stays quick:

    import fl_lightning as fl
    ckpt = fl.pretrain(fl.PretrainConfig("configs/pretrain/smoke.yaml", output="runs/p"))
    ticket = fl.prune(fl.PruneConfig(str(ckpt), sparsity=0.9, output="runs/ticket.pt"))
    summary = fl.federate(fl.federate_config("configs/federate/smoke.yaml",
                                             values={"ticket": "runs/ticket.pt"}))
    report = fl.compare(fl.compare_config("configs/compare/smoke.yaml"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fl_lightning.version import __version__

if TYPE_CHECKING:
    from fl_lightning.app import (
        CompareReport,
        PretrainConfig,
        PruneConfig,
        compare,
        compare_config,
        federate,
        federate_config,
        pretrain,
        prune,
    )

__all__ = [
    "CompareReport",
    "PretrainConfig",
    "PruneConfig",
    "__version__",
    "compare",
    "compare_config",
    "federate",
    "federate_config",
    "pretrain",
    "prune",
]


def __getattr__(name: str) -> Any:
    # Lazy: torch, Lightning and W&B load only when the API is first used.
    if name in __all__ and name != "__version__":
        from fl_lightning import app

        return getattr(app, name)
    raise AttributeError(f"module 'fl_lightning' has no attribute {name!r}")
