"""Units: the layers a channel ticket may narrow, and what narrowing one of them touches.

A *unit* is an output channel (conv) or neuron (linear) of a hidden layer of an encoder.
Removing unit `j` of a layer removes row `j` of its weight and bias, entry `j` of every
per-channel layer that follows it (a normalisation's affine weight and bias), and the input
columns of every layer that reads its output (one column per unit for a conv, a block of
`H x W` consecutive columns after a conv flattened into a linear layer). `Unit` says which
layers those are, so that `narrow_units` can cut any architecture whose narrowable layers are
read only by the layers it names -- a plain chain (`chain_units`: each layer read by the next)
or the inside of residual blocks, whose outputs are tied to the block's input by the addition
and therefore stay whole (`fl_lightning.models.resnet`).

Weights counted for a sparsity are the encoder's parameters of two or more dimensions (what an
unstructured ticket masks); `weight_count` counts them for given widths without allocating
them (on PyTorch's `meta` device).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fl_lightning.data.shape import ImageShape

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Unit:
    """One narrowable layer of an encoder.

    Args:
        width: the encoder's keyword argument that sets this layer's number of units (also the
            key of `widths` in a structured ticket).
        layer: module path of the layer inside the encoder (`conv1`, `block2.conv1`); its
            `weight` is `(units, inputs, *kernel)`, its optional `bias` `(units,)`.
        follows: module paths of per-channel layers applied to its output (a normalisation):
            their `weight` and `bias` of shape `(units,)` lose the removed units' entries.
        readers: module paths of the layers that read its output; each loses the input
            columns of the removed units. A layer read outside the encoder (by the head) names
            no reader here: the head is built fresh at the narrow width.
        multiple: every width of this layer must be a multiple of it (e.g. GroupNorm's groups).
    """

    width: str
    layer: str
    follows: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()
    multiple: int = 1

    def __post_init__(self) -> None:
        for key in ("follows", "readers"):
            value = getattr(self, key)
            if isinstance(value, list):
                object.__setattr__(self, key, tuple(value))
        if not isinstance(self.multiple, int) or self.multiple < 1:
            raise ValueError(f"Unit {self.width!r}: multiple={self.multiple!r} must be an int >= 1")


def chain_units(widths: Sequence[str]) -> tuple[Unit, ...]:
    """The units of a chain: layer `widths[i]` (also its attribute name) read by the next one;
    the last read by the head."""
    return tuple(
        Unit(width=name, layer=name, readers=tuple(widths[i + 1 : i + 2]))
        for i, name in enumerate(widths)
    )


def input_columns(kept: torch.Tensor, group: int) -> torch.Tensor:
    """Input columns of a reader that read units `kept`, `group` columns per unit."""
    offsets = torch.arange(group, dtype=torch.int64)
    return (kept.to(torch.int64)[:, None] * group + offsets).reshape(-1)


def narrow_units(
    state: Mapping[str, torch.Tensor],
    units: Sequence[Unit],
    kept: Mapping[str, torch.Tensor],
    prefix: str = "",
) -> State:
    """A copy of `state` with only the `kept` units (keys: `Unit.width`) of `units`.

    Args:
        state: full-width tensors named `<prefix><module path>.weight` / `.bias`; entries no
            unit touches are copied unchanged.
        units: the narrowable layers; a unit absent from `kept` stays whole.
        kept: ascending indices of the units each layer keeps.
        prefix: prefix of the module paths in `state` (e.g. `encoder.`).
    """
    out = {name: t.detach().clone() for name, t in state.items()}
    for unit in units:
        if unit.width not in kept:
            continue
        rows = kept[unit.width].to(torch.int64)
        full = state[f"{prefix}{unit.layer}.weight"].shape[0]
        for module in (unit.layer, *unit.follows):
            for suffix in ("weight", "bias"):
                key = f"{prefix}{module}.{suffix}"
                if key in out:
                    out[key] = out[key].index_select(0, rows).clone()
        for reader in unit.readers:
            key = f"{prefix}{reader}.weight"
            weight = out[key]
            if weight.shape[1] % full:
                raise ValueError(
                    f"{key} has {weight.shape[1]} inputs, not a multiple of "
                    f"{unit.layer}'s {full} units"
                )
            out[key] = weight.index_select(1, input_columns(rows, weight.shape[1] // full)).clone()
    return out


def weight_count(
    encoder: Callable[..., nn.Module], shape: ImageShape, widths: Mapping[str, int]
) -> int:
    """Weights (parameters of >= 2 dimensions) of `encoder(shape, **widths)`, counted on the
    `meta` device (nothing allocated, nothing initialised, no random numbers drawn)."""
    with torch.device("meta"):
        module = encoder(shape, **widths)
    return sum(p.numel() for p in module.parameters() if p.ndim >= 2)


def full_widths(
    encoder: Callable[..., nn.Module], shape: ImageShape, units: Sequence[Unit]
) -> dict[str, int]:
    """Each unit's width in the family's full-size encoder."""
    with torch.device("meta"):
        module = encoder(shape)
    params = dict(module.named_parameters())
    return {u.width: int(params[f"{u.layer}.weight"].shape[0]) for u in units}
