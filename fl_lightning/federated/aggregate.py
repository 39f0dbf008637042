"""Masked, example-weighted FedAvg: the server's aggregation step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from fl_lightning.pruning.mask import Mask


def fedavg(
    states: Sequence[Mapping[str, torch.Tensor]],
    num_examples: Sequence[int],
    mask: Mask,
) -> dict[str, torch.Tensor]:
    """The example-weighted mean of client `states`, with pruned positions exactly zero.

    ``sum_i n_i * state_i / sum_i n_i`` per entry, accumulated in float64 and returned as
    float32 CPU tensors. The mask is applied to the result (nothing averages a mask), so a
    position pruned by `mask` is 0.0 whatever the clients sent. A client with 0 examples
    contributes nothing. Raises `ValueError` for no states, lengths that differ, a negative
    count, a non-positive total, or states whose keys or shapes differ.
    """
    if not states:
        raise ValueError("fedavg needs at least one client state, got none")
    if len(states) != len(num_examples):
        raise ValueError(f"fedavg got {len(states)} states but {len(num_examples)} example counts")
    counts = [int(n) for n in num_examples]
    if any(n < 0 for n in counts):
        raise ValueError(f"example counts must be >= 0, got {counts}")
    total = sum(counts)
    if total <= 0:
        raise ValueError(f"the clients' example counts sum to {total}; need a positive total")

    reference = states[0]
    keys = set(reference)
    for i, state in enumerate(states[1:], start=1):
        if set(state) != keys:
            diff = sorted(keys.symmetric_difference(state))
            raise ValueError(f"client state {i} has different keys than state 0: {diff}")
        for name in keys:
            if tuple(state[name].shape) != tuple(reference[name].shape):
                raise ValueError(
                    f"client state {i} has {name!r} of shape {tuple(state[name].shape)}, "
                    f"state 0 has {tuple(reference[name].shape)}"
                )
    for name, t in reference.items():
        if not t.is_floating_point():
            raise ValueError(f"state entry {name!r} is {t.dtype}; fedavg averages floats only")
    for name, m in mask.items():
        if name not in keys:
            raise ValueError(f"mask covers {name!r}, which the client states do not have")
        if tuple(m.shape) != tuple(reference[name].shape):
            raise ValueError(
                f"mask for {name!r} has shape {tuple(m.shape)}, "
                f"the states have {tuple(reference[name].shape)}"
            )

    result: dict[str, torch.Tensor] = {}
    for name in reference:
        acc = torch.zeros(reference[name].shape, dtype=torch.float64)
        for state, n in zip(states, counts, strict=True):
            if n:
                # promoted to float64 inside the add, no float64 copy of the client's tensor;
                # n * x is exact in float64 (24-bit mantissa times a count), so fused or not,
                # the sum rounds once per client as before
                acc.add_(state[name].detach().cpu(), alpha=n)
        mean = acc.div_(total).to(torch.float32)
        if name in mask:
            mean = mean.masked_fill(~mask[name], 0.0)
        result[name] = mean
    return result
