"""Finished models you can load: the `Classifier` of a federation run, and its test accuracy.

`load_model(run_dir)` rebuilds the run's final global model from `model.pt`: the current layout
carries what rebuilds it (`fl_lightning.models.saved_classifier`); the first layout
(`{state_dict, mask}` alone) is read with the run's `config.yaml` (family, dataset, options) and
the widths the weights have. `evaluate_run(run_dir)` measures it on the run's own test set
(the config's `data.*`: dataset, `max_test_examples`, split seed), so its accuracy is the one
the run's `summary.json` records. `evaluate_ticket(ticket, config)` measures a ticket before
federation: the global model a federation from it starts with (`proposed`, or
`proposed_structured` for a channel ticket: the ticket's encoder, a fresh output layer from the
config's init seed) on that config's test set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from fl_lightning.app.federate_options import federate_config
from fl_lightning.config_paths import PACKAGED_CONFIGS
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError
from fl_lightning.experiments.methods import build_start
from fl_lightning.federated.run_files import RunFiles
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.saved_classifier import (
    OPTIONS,
    classifier_from_record,
    state_widths,
)
from fl_lightning.pruning.ticket import Ticket


@dataclass(frozen=True)
class Evaluation:
    """A model's test accuracy and mean cross-entropy over `examples` test images."""

    accuracy: float
    loss: float
    examples: int
    model: str
    dataset: str


def read_run_config(run_dir: str | os.PathLike[str], option: str = "--run") -> dict[str, Any]:
    """The run's `config.yaml` as plain data; `UsageError` naming `option` when it is missing
    or unreadable."""
    path = RunFiles(run_dir).config
    if not path.is_file():
        raise UsageError(f"{option}={str(run_dir)!r} has no config.yaml; it is not a run folder.")
    try:
        config = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise UsageError(f"{option}={str(run_dir)!r}: config.yaml is unreadable ({err}).") from None
    if not isinstance(config, dict) or not isinstance(config.get("data"), dict):
        raise UsageError(f"{option}={str(run_dir)!r}: config.yaml has no data section.")
    return config


def load_model(run_dir: str | os.PathLike[str], option: str = "--run") -> Classifier:
    """The final global model of the federation run in `run_dir`, ready to predict (eval mode).

    Pruned weights are zero in it (the run's mask was applied to every update).
    """
    files = RunFiles(run_dir)
    where = f"{option}={str(run_dir)!r}"
    if not files.model.is_file():
        raise UsageError(f"{where} holds no model.pt; the run has not finished.")
    try:
        saved = torch.load(files.model, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, truncated, or objects beyond plain data
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"{where}: model.pt is not readable ({reason}).") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("state_dict"), dict):
        raise UsageError(f"{where}: model.pt holds no state_dict; it is not a run's model.")
    state: dict[str, torch.Tensor] = saved["state_dict"]
    record = saved.get("model")
    if not isinstance(record, dict):  # the first layout: the rest is in config.yaml
        record = _record_from_config(read_run_config(run_dir, option), state, where)
    return classifier_from_record(record, state, source=f"{where} model.pt")


def _record_from_config(
    config: dict[str, Any], state: dict[str, torch.Tensor], where: str
) -> dict[str, Any]:
    model_options = config.get("model") or {}
    if "model" not in model_options or "dataset" not in config["data"]:
        raise UsageError(f"{where}: config.yaml names no model.model or data.dataset.")
    family = model_options["model"]
    return {
        "model": family,
        "dataset": config["data"]["dataset"],
        "widths": state_widths(family, state),
        **{key: model_options[key] for key in OPTIONS if key in model_options},
    }


def evaluate_run(
    run_dir: str | os.PathLike[str], *, root: str | None = None, option: str = "--run"
) -> Evaluation:
    """Accuracy and loss of the run's final model on the run's test set (`root`: where the
    dataset's files are now, when not where the run found them)."""
    model = load_model(run_dir, option)
    data_options = dict(read_run_config(run_dir, option)["data"])
    if root is not None:
        data_options["root"] = root
    data = FederatedDataModule(**data_options)
    data.setup()
    accuracy, loss = model.evaluate(data.test_dataloader())
    return Evaluation(
        accuracy=accuracy,
        loss=loss,
        examples=len(data.test_tensors()[1]),
        model=model.hparams["model"],
        dataset=model.hparams["dataset"],
    )


def evaluate_ticket(
    ticket: str | os.PathLike[str],
    config: str | os.PathLike[str] | None = None,
    *,
    root: str | None = None,
) -> Evaluation:
    """Accuracy and loss of the model a federation from `ticket` starts with, on the test set
    of the federate config `config` (default: the package's Fashion-MNIST one); its data and
    seeds are those of `fl-lightning federate --config CONFIG --ticket TICKET`."""
    t = Ticket.load(ticket, option="--ticket")
    data_values: dict[str, Any] = {"dataset": t.dataset}
    if root is not None:
        data_values["root"] = root
    default = PACKAGED_CONFIGS / "federate" / "fashion_mnist.yaml"
    federation = federate_config(Path(config or default), values={"data": data_values})
    method = "proposed_structured" if t.widths else "proposed"
    init_seed = federation.seeds.filled(federation.seed).of("init")
    start = build_start(
        method,
        model=t.model,
        dataset=t.dataset,
        init_seed=init_seed,
        sparsity=float(t.provenance.get("sparsity", 0.0)),
        ticket=Path(ticket),
    )
    model = Classifier(model=t.model, dataset=t.dataset, widths=start.widths or None)
    model.load_state_dict(start.state, strict=True)
    data = federation.data.module()
    data.setup()
    accuracy, loss = model.evaluate(data.test_dataloader())
    return Evaluation(accuracy, loss, len(data.test_tensors()[1]), t.model, t.dataset)


def evaluation_line(evaluation: Evaluation, what: str | Path) -> str:
    """One line for the command: what was evaluated and its numbers."""
    return (
        f"{what}: test/acc {evaluation.accuracy:.4f}, test/loss {evaluation.loss:.4f} on "
        f"{evaluation.examples} test images ({evaluation.model} on {evaluation.dataset})"
    )
