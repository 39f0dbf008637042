"""What a saved classifier carries to be rebuilt: its family, dataset, widths and options.

`model.pt` of a federation run stores `classifier_record(model)` beside the weights, so the file
alone (with the plugin that defines a user's dataset or model importable) rebuilds the
`Classifier`: `classifier_from_record(record, state)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from fl_lightning.errors import UsageError
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.components import width_names
from fl_lightning.version import __version__

#: The version of the `model.pt` layout; 1 was `{state_dict, mask}` alone.
MODEL_FORMAT = 2
#: Classifier options kept in the record (the dataset and widths are kept apart).
OPTIONS = ("optimizer", "lr", "momentum", "weight_decay")


def classifier_record(model: Classifier) -> dict[str, Any]:
    """Plain data (loadable with `weights_only`) that rebuilds `model`'s architecture."""
    hp = model.hparams
    return {
        "model": hp["model"],
        "dataset": hp["dataset"],
        "widths": state_widths(hp["model"], model.state_dict()),
        **{key: hp[key] for key in OPTIONS},
    }


def model_file_info(model: Classifier) -> dict[str, Any]:
    """What `model.pt` stores beside `state_dict` and `mask`: the layout's version, the record
    and the package version that wrote it."""
    return {
        "format": MODEL_FORMAT,
        "model": classifier_record(model),
        "fl_lightning_version": __version__,
    }


def state_widths(model: str, state: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """The hidden-layer widths of family `model` that `state`'s tensors have."""
    widths = {}
    for name in width_names(model):
        weight = state.get(f"encoder.{name}.weight")
        if weight is not None:
            widths[name] = int(weight.shape[0])
    return widths


def classifier_from_record(
    record: Mapping[str, Any], state: Mapping[str, torch.Tensor], *, source: str
) -> Classifier:
    """The `Classifier` `record` describes, holding `state`; `UsageError` naming `source` when
    the two do not fit."""
    options = {key: record[key] for key in OPTIONS if key in record}
    model = Classifier(
        model=record["model"],
        dataset=record["dataset"],
        widths=dict(record.get("widths") or {}) or None,
        **options,
    )
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise UsageError(
            f"{source}: the weights do not fit model {record['model']!r} on "
            f"{record['dataset']!r} ({first})."
        ) from None
    model.eval()
    return model
