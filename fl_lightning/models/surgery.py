"""Model surgery: cut kept units out of a trained state into a narrower model of the same family.

A chain of layers (each reads only the one before; the last, e.g. the output layer, keeps all
its outputs) loses whole units: unit `j` of layer `i` takes with it row `j` of layer `i`'s
weight and bias, and the input columns of layer `i + 1` that read it. Those are one column per
unit after a conv feeding a conv, and a block of `H x W` consecutive columns after a conv whose
output is flattened (channel-major, as `torch.flatten` lays it out) into a linear layer. The
result is a plain dense state for the narrower network, kept values copied exactly.
`narrow_encoder_state` cuts any family by its unit structure (`fl_lightning.models.units`),
the chain being one case of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from fl_lightning.data.shape import ImageShape
from fl_lightning.models.components import build_encoder, model_spec, width_names
from fl_lightning.models.units import input_columns, narrow_units

State = dict[str, torch.Tensor]


def narrow_state(
    state: Mapping[str, torch.Tensor],
    layers: Sequence[str],
    kept: Mapping[str, torch.Tensor],
    consumer: str | None = None,
) -> State:
    """A copy of `state` with only the `kept` units of `layers` (and what reads them).

    Args:
        state: full-width tensors, `<layer>.weight` of shape `(out, in, *kernel)` and
            `<layer>.bias` of shape `(out,)`; other entries are copied unchanged.
        layers: module paths of the chain, input to output (e.g. `encoder.conv1`, ...).
        kept: for each of `layers`, the ascending indices of the units to keep.
        consumer: the layer after the chain (e.g. `head`): keeps all its outputs, loses the
            input columns of the dropped units of the last layer. Skipped if not in `state`.
    """
    out = {name: t.detach().clone() for name, t in state.items()}
    chain = [*layers, consumer] if consumer and f"{consumer}.weight" in state else list(layers)
    for i, layer in enumerate(chain):
        weight = state[f"{layer}.weight"]
        if i > 0:
            before = chain[i - 1]
            units = state[f"{before}.weight"].shape[0]
            if weight.shape[1] % units:
                raise ValueError(
                    f"{layer}.weight has {weight.shape[1]} inputs, not a multiple of "
                    f"{before}'s {units} units"
                )
            columns = input_columns(kept[before], weight.shape[1] // units)
            weight = weight.index_select(1, columns)
        if layer in kept:
            rows = kept[layer].to(torch.int64)
            weight = weight.index_select(0, rows)
            if f"{layer}.bias" in state:
                out[f"{layer}.bias"] = state[f"{layer}.bias"].index_select(0, rows).clone()
        out[f"{layer}.weight"] = weight.clone()
    return out


def narrow_encoder_state(
    model: str, encoder_state: Mapping[str, torch.Tensor], kept: Mapping[str, torch.Tensor]
) -> tuple[State, dict[str, int]]:
    """The `encoder.*` entries of `encoder_state` (other entries are left out) of model family
    `model` cut to `kept` (keys: `width_names(model)`), and the widths of the narrower encoder.

    The family's unit structure (`ModelSpec.unit_structure`: a chain, or declared units such
    as the inside of residual blocks) says which rows and columns go (`narrow_units`).
    """
    names = width_names(model)
    missing = [n for n in names if n not in kept]
    if missing:
        raise ValueError(f"no kept units for layers {missing} of model {model!r}")
    encoder_only = {k: v for k, v in encoder_state.items() if k.startswith("encoder.")}
    units = model_spec(model).unit_structure()
    state = narrow_units(encoder_only, units, kept, prefix="encoder.")
    return state, {n: int(kept[n].numel()) for n in names}


def narrow_encoder(
    model: str,
    shape: ImageShape,
    encoder_state: Mapping[str, torch.Tensor],
    kept: Mapping[str, torch.Tensor],
) -> nn.Module:
    """The narrower encoder of family `model` holding the kept values of `encoder_state`."""
    state, widths = narrow_encoder_state(model, encoder_state, kept)
    encoder = build_encoder(model, shape, widths)
    encoder.load_state_dict({k.removeprefix("encoder."): v for k, v in state.items()})
    return encoder
