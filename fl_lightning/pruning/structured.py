"""Structured (channel) pruning: which whole units to keep, and how many per layer.

A *unit* is an output channel of a conv layer or an output neuron of a hidden linear layer.
Removing one removes its row of weights, its bias, and the input columns of the next layer
that read it; what remains is a physically smaller dense network (see
`fl_lightning.models.surgery`), so dense kernels get faster, unlike with a sparse mask.

- **Scores** (`unit_scores`): the L1 norm of a unit's incoming weights, `sum |W[o, ...]|`, as in
  Li et al., "Pruning Filters for Efficient ConvNets" (ICLR 2017). L1 rather than L2 because it
  is the same per-weight magnitude `|w|` that unstructured pruning ranks (a unit's score is the
  sum of what unstructured pruning would keep or drop), and L1 and L2 rankings agree in Li et
  al.'s experiments; L2 is available (`norm="l2"`).
- **Kept sets** (`kept_units`): the `width` highest-scoring units of a layer, ties to the lower
  index, returned in ascending index order (the order the narrower layer stores them in).
- **Widths** (`uniform_widths`): one kept fraction for every hidden layer. Each layer's
  parameters shrink with (its fraction x the previous layer's), so every layer's compute falls;
  a global ranking of units by score would compare conv and linear norms of different fan-in and
  can leave the compute-heavy `conv2` (~80% of the CNN's FLOPs) nearly whole while `fc`
  (~97% of its parameters) carries the sparsity, which saves bytes but not time. The last hidden
  layer's width is the free variable (its granularity is finest in parameters), the others
  follow it by rounding, so the kept parameter count lands close to the request (within 2% for
  the registered models at the usual sparsities; `check_kept_params` says so or raises).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import torch

from fl_lightning.errors import UsageError, check_choice, check_range

Norm = Literal["l1", "l2"]
NORMS: tuple[str, ...] = ("l1", "l2")
#: How far the kept parameter count may be from the request, as a fraction of the request.
PARAM_TOLERANCE = 0.02

Shape = tuple[int, ...]


def unit_scores(weight: torch.Tensor, norm: Norm = "l1") -> torch.Tensor:
    """One score per output unit (dimension 0 of `weight`): the L1 or L2 norm of its weights."""
    check_choice("norm", norm, NORMS)
    if weight.ndim < 2:
        raise ValueError(
            f"unit scores need a weight with >= 2 dimensions, got {tuple(weight.shape)}"
        )
    flat = weight.detach().to(torch.float64).reshape(weight.shape[0], -1).abs()
    return flat.sum(dim=1) if norm == "l1" else flat.pow(2).sum(dim=1).sqrt()


def kept_units(weight: torch.Tensor, width: int, norm: Norm = "l1") -> torch.Tensor:
    """Indices of the `width` highest-scoring units of `weight`, ascending (int64).

    Ties are broken towards the lower index, so the choice is deterministic.
    """
    units = weight.shape[0]
    if not 1 <= width <= units:
        raise ValueError(f"width={width!r} must be in [1, {units}] (the layer's units)")
    scores = unit_scores(weight, norm)
    # A stable sort of -score keeps equal scores in index order.
    order = torch.sort(-scores, stable=True).indices[:width]
    return torch.sort(order).values


def chain_param_count(shapes: Sequence[Shape], widths: Sequence[int]) -> int:
    """Weights of a chain of layers (conv or linear, input to output) narrowed to `widths`.

    `shapes` are the full layers' weight shapes `(out, in, *kernel)`; layer i reads layer i-1's
    outputs in `in_i / out_{i-1}` input columns per unit (1 for conv -> conv, H x W for a conv
    flattened into a linear layer). The first layer's inputs are the image and never shrink.
    """
    if len(shapes) != len(widths):
        raise ValueError(f"{len(shapes)} layers but {len(widths)} widths")
    total = 0
    previous: tuple[int, int] | None = None  # (full, kept) outputs of the layer before
    for shape, width in zip(shapes, widths, strict=True):
        out, fan_in, *kernel = shape
        columns = fan_in if previous is None else fan_in // previous[0] * previous[1]
        per_column = 1
        for k in kernel:
            per_column *= k
        total += width * columns * per_column
        previous = (out, width)
    return total


def uniform_widths(shapes: Sequence[Shape], sparsity: float) -> list[int]:
    """Widths that keep about `1 - sparsity` of the chain's weights, one kept fraction for all.

    Every candidate width `w` of the last layer fixes the fraction `w / full_last`; the other
    layers take `max(1, round(fraction x full))`. The candidate whose parameter count is closest
    to the request wins (ties to the narrower). No layer drops to zero width.
    """
    check_range("sparsity", sparsity, 0.0, 1.0)
    if not shapes:
        raise ValueError("no layers to prune")
    full = [shape[0] for shape in shapes]
    target = (1.0 - sparsity) * chain_param_count(shapes, full)
    best: tuple[float, list[int]] | None = None
    for last in range(1, full[-1] + 1):
        fraction = last / full[-1]
        widths = [max(1, min(n, round(fraction * n))) for n in full[:-1]] + [last]
        error = abs(chain_param_count(shapes, widths) - target)
        if best is None or error < best[0]:
            best = (error, widths)
    assert best is not None
    error, widths = best
    if error <= PARAM_TOLERANCE * target:
        return widths
    for i, n in enumerate(full):
        for width in range(1, n + 1):
            nudged = [*widths[:i], width, *widths[i + 1 :]]
            nudged_error = abs(chain_param_count(shapes, nudged) - target)
            if nudged_error < best[0]:
                best = (nudged_error, nudged)
    return best[1]


def fraction_widths(
    full: Mapping[str, int],
    count: Callable[[Mapping[str, int]], int],
    sparsity: float,
    multiples: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Widths keeping about `1 - sparsity` of the weights `count` counts, one kept fraction for
    every layer: the general form of `uniform_widths`, for units that are not a chain.

    Every fraction `k / max(full)` gives each layer `round(fraction x full)` rounded to its
    multiple (at least one multiple, at most its full width); the candidate whose `count` is
    closest to the request wins (ties to the one with fewer weights). When it is not within
    `PARAM_TOLERANCE`, one layer's width is moved off the common fraction if that lands closer
    (its best such move; coarse multiples need it).

    Args:
        full: each layer's full width.
        count: the weights kept at given widths (e.g. `fl_lightning.models.units.weight_count`).
        sparsity: fraction of the weights to remove, in [0, 1).
        multiples: each layer's width multiple (default 1).
    """
    check_range("sparsity", sparsity, 0.0, 1.0)
    if not full:
        raise ValueError("no layers to prune")
    multiples = multiples or {}
    target = (1.0 - sparsity) * count(full)
    biggest = max(full.values())
    best: tuple[float, int, dict[str, int]] | None = None
    seen: set[tuple[int, ...]] = set()
    for k in range(1, biggest + 1):
        widths = {}
        for name, n in full.items():
            m = multiples.get(name, 1)
            widths[name] = min(n, max(m, m * round(k / biggest * n / m)))
        key = tuple(widths.values())
        if key in seen:
            continue
        seen.add(key)
        kept = count(widths)
        candidate = (abs(kept - target), kept, widths)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    assert best is not None
    if best[0] <= PARAM_TOLERANCE * target:
        return best[2]
    # as `uniform_widths`: one layer moved off the common fraction when that lands closer
    for name, n in full.items():
        m = multiples.get(name, 1)
        for width in range(m, n + 1, m):
            widths = {**best[2], name: width}
            kept = count(widths)
            if (abs(kept - target), kept) < best[:2]:
                best = (abs(kept - target), kept, widths)
    return best[2]


def check_kept_params(kept: int, total: int, sparsity: float) -> None:
    """`UsageError` unless `kept` is within `PARAM_TOLERANCE` of `(1 - sparsity) x total`."""
    target = (1.0 - sparsity) * total
    if abs(kept - target) > PARAM_TOLERANCE * target:
        raise UsageError(
            f"--sparsity={sparsity!r}: whole channels can keep {kept:,} of {total:,} weights, "
            f"not within {PARAM_TOLERANCE:.0%} of the requested {target:,.0f}; "
            "choose another sparsity (or --structure unstructured)."
        )


def select_kept(
    weights: Mapping[str, torch.Tensor], widths: Mapping[str, int], norm: Norm = "l1"
) -> dict[str, torch.Tensor]:
    """For each layer name in `widths`, the kept unit indices of `weights[name]` (by score)."""
    missing = [name for name in widths if name not in weights]
    if missing:
        raise ValueError(f"no weights for layers {missing}")
    return {name: kept_units(weights[name], width, norm) for name, width in widths.items()}
