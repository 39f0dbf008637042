"""The complete check of a ticket file's contents, done when it is loaded.

A ticket is edited by hand or damaged on disk more often than one would think; every part that
federation later relies on is checked here, so a bad one is refused with one line naming what is
wrong instead of failing every client in round 1 (weights that do not fit the model), diverging
(NaN weights), allocating without end (a width of 10^9) or raising from deep inside.

`ticket_problem` returns that line's reason, or None for a ticket `Ticket` can be built from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from fl_lightning.data.sources import available_datasets, dataset_info
from fl_lightning.models.components import (
    available_models,
    build_encoder,
    build_head,
    model_spec,
)

#: The ticket format this version writes and reads (`Ticket.save`'s `format`).
TICKET_FORMAT = 1

Shapes = dict[str, tuple[int, ...]]


def ticket_problem(data: Mapping[str, Any]) -> str | None:
    """What is wrong with the contents `data` of a ticket file (as `Ticket.save` writes them),
    or None when nothing is: format, model, dataset, widths, tensor types, every weight's name
    and shape against the model the ticket names at its widths, the mask, finite weights."""
    for check in (_format, _names, _widths, _tensors, _layout, _mask, _finite):
        problem = check(data)
        if problem is not None:
            return problem
    return None


def _format(data: Mapping[str, Any]) -> str | None:
    found = data.get("format")
    if isinstance(found, bool) or found != TICKET_FORMAT:
        return f"format {found!r}, but this version reads format {TICKET_FORMAT} only"
    return None


def _names(data: Mapping[str, Any]) -> str | None:
    for key, known in (("model", available_models()), ("dataset", available_datasets())):
        if data.get(key) not in known:
            return f"{key} {data.get(key)!r} is not one of {', '.join(known)}"
    if not isinstance(data.get("provenance", {}), Mapping):
        return f"provenance is of type {type(data['provenance']).__name__}, not a mapping"
    return None


def _full_widths(model: str, dataset: str) -> dict[str, int]:
    """The family's own widths of `model`'s hidden layers (a structured ticket is narrower)."""
    shapes = _shapes(model, dataset, {})[0]
    units = model_spec(model).unit_structure()
    return {u.width: shapes[f"encoder.{u.layer}.weight"][0] for u in units}


def _widths(data: Mapping[str, Any]) -> str | None:
    widths = data.get("widths", {})
    if not isinstance(widths, Mapping):
        return f"widths is of type {type(widths).__name__}, not a mapping of layer to width"
    full = _full_widths(data["model"], data["dataset"])
    for name, width in widths.items():
        if name not in full:
            return f"widths names layer {name!r}, which model {data['model']!r} lacks"
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= full[name]:
            return f"width {name}={width!r} is not a whole number in [1, {full[name]}]"
    return None


def _tensors(data: Mapping[str, Any]) -> str | None:
    for key, dtype in (("encoder_state", "floating"), ("head_state", "floating"), ("mask", "bool")):
        value = data.get(key)
        if not isinstance(value, Mapping):
            return f"{key} is of type {type(value).__name__}, not a mapping of name to tensor"
        for name, tensor in value.items():
            if not isinstance(tensor, torch.Tensor):
                return f"{key}[{name!r}] is of type {type(tensor).__name__}, not a tensor"
            kind = tensor.dtype == torch.bool if dtype == "bool" else tensor.is_floating_point()
            if not kind:
                return f"{key}[{name!r}] holds {tensor.dtype}, not {dtype} values"
    return None


def _shapes(model: str, dataset: str, widths: Mapping[str, int]) -> tuple[Shapes, Shapes]:
    """The encoder's and head's parameter shapes (`encoder.*`, `head.*`), built on the meta
    device: shapes without memory."""
    info = dataset_info(dataset)
    with torch.device("meta"):
        encoder = build_encoder(model, info.shape, widths)
        head = build_head(encoder.out_features, info.num_classes)  # type: ignore[arg-type]
    return (
        {f"encoder.{k}": tuple(v.shape) for k, v in encoder.state_dict().items()},
        {f"head.{k}": tuple(v.shape) for k, v in head.state_dict().items()},
    )


def _layout(data: Mapping[str, Any]) -> str | None:
    encoder, head = _shapes(data["model"], data["dataset"], dict(data.get("widths", {})))
    widths = f" at widths {dict(data['widths'])}" if data.get("widths") else ""
    model = f"model {data['model']!r} on {data['dataset']!r}{widths}"
    for key, expected in (("encoder_state", encoder), ("head_state", head)):
        found = {k: tuple(v.shape) for k, v in data[key].items()}
        if key == "head_state" and not found:
            continue  # the usual ticket: the head stays out, freshly initialised and dense
        for name in sorted(found.keys() - expected.keys()):
            return f"{key} holds {name!r}, which {model} does not have"
        for name in sorted(expected.keys() - found.keys()):
            return f"{key} lacks {name!r} of {model}"
        for name, shape in found.items():
            if shape != expected[name]:
                return f"{key}[{name!r}] has shape {shape}, {model} has {expected[name]}"
    return None


def _mask(data: Mapping[str, Any]) -> str | None:
    state = {**data["encoder_state"], **data["head_state"]}
    if data.get("widths") and data["mask"]:
        return "a structured ticket (with widths) has a mask; it must be empty"
    for name, mask in data["mask"].items():
        if name not in state:
            return f"the mask names {name!r}, which the ticket has no weights for"
        shape, weights = tuple(mask.shape), tuple(state[name].shape)
        if shape != weights:
            return f"the mask of {name!r} has shape {shape}, its weights {weights}"
    return None


def _finite(data: Mapping[str, Any]) -> str | None:
    for key in ("encoder_state", "head_state"):
        for name, tensor in data[key].items():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                return f"{key}[{name!r}] holds {bad} NaN or infinite values"
    return None
