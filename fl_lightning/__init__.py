"""fl_lightning: communication-efficient federated learning with DAE-pre-trained lottery tickets.

The Python API (`fl_lightning.app`), imported on first use so `import fl_lightning` stays quick:

    import fl_lightning as fl
    ckpt = fl.pretrain(fl.PretrainConfig("configs/pretrain/smoke.yaml", output="runs/p"))
    ticket = fl.prune(fl.PruneConfig(str(ckpt), sparsity=0.9, output="runs/ticket.pt"))
    summary = fl.federate(fl.federate_config("configs/federate/smoke.yaml",
                                             values={"ticket": "runs/ticket.pt"}))
    report = fl.compare(fl.compare_config("configs/compare/smoke.yaml"))
    model = fl.load_model("runs/federate/smoke")     # the run's final Classifier

Datasets and models of your own: `fl.DatasetInfo` / `fl.register_dataset` and `fl.ModelSpec`
(with `fl.Unit`) / `fl.register_model`, or name them as `module:object` in any config (README,
"Your own data and model").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fl_lightning.version import __version__

if TYPE_CHECKING:
    from fl_lightning.app import (
        CompareConfig,
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
    from fl_lightning.app.finished_models import evaluate_run, evaluate_ticket, load_model
    from fl_lightning.data.dataset_info import DatasetInfo
    from fl_lightning.data.registry import register_dataset
    from fl_lightning.models.model_spec import ModelSpec
    from fl_lightning.models.registry import register_model
    from fl_lightning.models.units import Unit

#: Names served by other modules than `fl_lightning.app` (the plugin API, finished models).
_ELSEWHERE = {
    "DatasetInfo": "fl_lightning.data.dataset_info",
    # through the modules that register the built-ins first (a name clash is then caught)
    "register_dataset": "fl_lightning.data.sources",
    "ModelSpec": "fl_lightning.models.model_spec",
    "Unit": "fl_lightning.models.units",
    "register_model": "fl_lightning.models.components",
    "load_model": "fl_lightning.app.finished_models",
    "evaluate_run": "fl_lightning.app.finished_models",
    "evaluate_ticket": "fl_lightning.app.finished_models",
}

__all__ = [
    "CompareConfig",
    "CompareReport",
    "DatasetInfo",
    "ModelSpec",
    "PretrainConfig",
    "PruneConfig",
    "Unit",
    "__version__",
    "compare",
    "compare_config",
    "evaluate_run",
    "evaluate_ticket",
    "federate",
    "federate_config",
    "load_model",
    "pretrain",
    "prune",
    "register_dataset",
    "register_model",
]


def __getattr__(name: str) -> Any:
    # Lazy: torch, Lightning and W&B load only when the API is first used.
    if name in _ELSEWHERE:
        import importlib

        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    if name in __all__ and name != "__version__":
        from fl_lightning import app

        return getattr(app, name)
    raise AttributeError(f"module 'fl_lightning' has no attribute {name!r}")
