"""Pure functions that decide which weights to keep: magnitude pruning and its random baseline.

Nothing here touches a model: each function reads tensors and returns a new `Mask`. Counts are
exact: ties in magnitude are broken by position (earlier positions win, tensors in name order),
so the number of kept weights is always `round(density * total)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import nn

from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.pruning.mask import Mask

Scope = Literal["global", "layer"]
SCOPES: tuple[str, ...] = ("global", "layer")


def _named_tensors(params: Mapping[str, torch.Tensor] | nn.Module) -> dict[str, torch.Tensor]:
    if isinstance(params, nn.Module):
        return dict(params.named_parameters())
    return dict(params)


def prunable_names(
    model: Mapping[str, torch.Tensor] | nn.Module, include_head: bool = False
) -> list[str]:
    """Names of the weights magnitude pruning may remove, sorted.

    The weight matrices and kernels (`ndim >= 2`) of the encoder's conv and linear layers,
    `encoder.*.weight`; biases and norm layers (1-D) never, the output layer `head.*` only with
    `include_head`. `model` is a module or a mapping name -> tensor (a state dict).
    """
    prefixes = ("encoder.", "head.") if include_head else ("encoder.",)
    return sorted(
        name
        for name, tensor in _named_tensors(model).items()
        if name.startswith(prefixes) and name.endswith(".weight") and tensor.ndim >= 2
    )


def _check_names(tensors: Mapping[str, torch.Tensor], names: Sequence[str]) -> list[str]:
    missing = [n for n in names if n not in tensors]
    if missing:
        raise UsageError(
            f"names {missing} are not parameters (known: {', '.join(sorted(tensors))})."
        )
    if not names:
        raise UsageError("there is nothing to prune: no prunable weights were given.")
    for name in names:
        if not torch.isfinite(tensors[name]).all():
            raise UsageError(f"weight {name!r} holds NaN or infinite values; it cannot be pruned.")
    return sorted(set(names))


def _current_kept(
    tensors: Mapping[str, torch.Tensor], names: list[str], current: Mask | None
) -> dict[str, torch.Tensor]:
    """The flat bool vector of still-kept positions of each tensor (all True without `current`)."""
    if current is None:
        return {n: torch.ones(tensors[n].numel(), dtype=torch.bool) for n in names}
    extra = sorted(set(current) - set(names))
    if extra:
        raise UsageError(
            f"the current mask prunes {extra}, which are not among the names to prune."
        )
    current.validate_against({n: tensors[n] for n in names if n in current})
    return {
        n: current[n].reshape(-1).clone()
        if n in current
        else torch.ones(tensors[n].numel(), dtype=torch.bool)
        for n in names
    }


def _keep_largest(scores: torch.Tensor, candidates: torch.Tensor, k: int) -> torch.Tensor:
    """Bool vector keeping the `k` largest `scores` among `candidates` (ties: lower index wins)."""
    index = candidates.nonzero().squeeze(1)
    order = torch.sort(scores[index], descending=True, stable=True).indices
    kept = torch.zeros_like(candidates)
    kept[index[order[:k]]] = True
    return kept


def magnitude_prune(
    params: Mapping[str, torch.Tensor] | nn.Module,
    sparsity: float,
    scope: Scope = "global",
    current: Mask | None = None,
    names: Sequence[str] | None = None,
) -> Mask:
    """Keep the largest-magnitude weights; the returned Mask covers exactly `names`.

    Args:
        params: the weights (a module or a mapping name -> tensor); only read.
        sparsity: the overall fraction to remove, in [0, 1): `global` keeps exactly
            `round((1 - sparsity) * total)` weights over all `names`, `layer` keeps
            `round((1 - sparsity) * numel)` of each tensor.
        scope: `global` (one threshold over all tensors) or `layer` (the same fraction of each).
        current: a mask from an earlier pruning round. `sparsity` stays the overall target,
            only still-kept weights compete, and nothing pruned comes back; a target below the
            current sparsity is a `UsageError`.
        names: the tensors to prune; default `prunable_names(params)`.
    """
    check_range("sparsity", sparsity, 0.0, 1.0)
    check_choice("scope", scope, SCOPES)
    tensors = _named_tensors(params)
    chosen = _check_names(tensors, prunable_names(tensors) if names is None else list(names))
    alive = _current_kept(tensors, chosen, current)
    scores = {n: tensors[n].detach().reshape(-1).abs().to("cpu") for n in chosen}

    if scope == "global":
        total = sum(scores[n].numel() for n in chosen)
        target = round((1.0 - sparsity) * total)
        _check_reachable(target, sum(int(alive[n].sum()) for n in chosen), "overall")
        kept = _keep_largest(
            torch.cat([scores[n] for n in chosen]), torch.cat([alive[n] for n in chosen]), target
        )
        flat = dict(
            zip(chosen, torch.split(kept, [scores[n].numel() for n in chosen]), strict=True)
        )
    else:
        flat = {}
        for n in chosen:
            target = round((1.0 - sparsity) * scores[n].numel())
            _check_reachable(target, int(alive[n].sum()), repr(n))
            flat[n] = _keep_largest(scores[n], alive[n], target)
    return Mask({n: flat[n].reshape(tensors[n].shape) for n in chosen})


def _check_reachable(target: int, alive: int, where: str) -> None:
    if target > alive:
        raise UsageError(
            f"sparsity is below what the current mask already prunes ({where}: {alive} weights "
            f"left, {target} requested); pruned weights never come back."
        )


def random_prune(
    params: Mapping[str, torch.Tensor] | nn.Module,
    density_per_layer: Mapping[str, float],
    seed: int,
) -> Mask:
    """Keep a uniformly random `round(density * numel)` positions of each named tensor.

    The baseline with the same per-layer densities as a magnitude mask. Tensors are drawn in
    name order from one `torch.Generator` seeded with `seed`: the same arguments give the same
    mask, and the global RNG is left alone.
    """
    tensors = _named_tensors(params)
    chosen = _check_names(tensors, list(density_per_layer))
    generator = torch.Generator().manual_seed(seed)
    masks = {}
    for name in chosen:
        density = density_per_layer[name]
        check_range(f"density of {name}", density, 0.0, 1.0, high_inclusive=True)
        numel = tensors[name].numel()
        keep = torch.zeros(numel, dtype=torch.bool)
        keep[torch.randperm(numel, generator=generator)[: round(density * numel)]] = True
        masks[name] = keep.reshape(tensors[name].shape)
    return Mask(masks)
