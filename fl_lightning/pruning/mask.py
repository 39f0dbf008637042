"""`Mask`: which weights of a model are kept, as data.

A Mask maps parameter names (as in `Classifier.named_parameters()`, e.g. `encoder.conv1.weight`)
to boolean tensors of the parameter's shape: `True` = kept, `False` = pruned. Parameters not in
the mask are dense. Masks are produced by pure functions (`magnitude.py`) and applied by thin
code (`apply_`, the Callback, the codec); nothing averages or edits a mask in place.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from fl_lightning.atomic import atomic_torch_save
from fl_lightning.errors import UsageError


def _density(mask: torch.Tensor) -> float:
    """kept / numel in float64 (a float32 mean is off by ~1e-8, which JSON reports show)."""
    return int(mask.sum()) / mask.numel() if mask.numel() else 1.0


class Mask(Mapping[str, torch.Tensor]):
    """A validated, immutable mapping name -> bool tensor (True = kept)."""

    def __init__(self, masks: Mapping[str, torch.Tensor]) -> None:
        checked: dict[str, torch.Tensor] = {}
        for name, value in masks.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"mask for {name!r} must be a tensor, got {type(value).__name__}")
            if value.dtype != torch.bool:
                raise TypeError(f"mask for {name!r} must be bool, got {value.dtype}")
            checked[name] = value.detach().to("cpu").clone()
        self._masks = dict(sorted(checked.items()))
        # Masks are immutable, so the kept counts are computed once (the codec needs them often).
        self._kept = {name: int(m.sum()) for name, m in self._masks.items()}

    # -- Mapping ---------------------------------------------------------------------------
    def __getitem__(self, name: str) -> torch.Tensor:
        return self._masks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mask):
            return NotImplemented
        return self._masks.keys() == other._masks.keys() and all(
            torch.equal(self._masks[k], other._masks[k]) for k in self._masks
        )

    def __hash__(self) -> int:  # masks hold tensors: identity hash, like nn.Module
        return id(self)

    def __repr__(self) -> str:
        return f"Mask({len(self)} tensors, density={self.density:.4f})"

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def ones_like(cls, params: Mapping[str, torch.Tensor]) -> Mask:
        """A mask that keeps every entry of `params`."""
        return cls(
            {n: torch.ones_like(p, dtype=torch.bool, device="cpu") for n, p in params.items()}
        )

    # -- figures ---------------------------------------------------------------------------
    @property
    def num_kept(self) -> int:
        return sum(self._kept.values())

    def kept(self, name: str) -> int:
        """Kept entries of tensor `name`."""
        return self._kept[name]

    @property
    def num_total(self) -> int:
        return int(sum(m.numel() for m in self._masks.values()))

    @property
    def density(self) -> float:
        """Kept / total over the masked tensors (1.0 for an empty mask)."""
        total = self.num_total
        return self.num_kept / total if total else 1.0

    @property
    def sparsity(self) -> float:
        return 1.0 - self.density

    def layer_density(self) -> dict[str, float]:
        """Density of each masked tensor (kept / numel, exact in float64)."""
        return {n: _density(m) for n, m in self._masks.items()}

    def empty_layers(self) -> list[str]:
        """Masked tensors with no weight kept at all (a layer cut off from the network)."""
        return [name for name in self._masks if self._kept[name] == 0]

    def layer_report(self) -> list[dict[str, Any]]:
        """One row per tensor: name, shape, kept, total, density."""
        return [
            {
                "name": n,
                "shape": list(m.shape),
                "kept": self._kept[n],
                "total": m.numel(),
                "density": _density(m),
            }
            for n, m in self._masks.items()
        ]

    def report(self) -> dict[str, Any]:
        """JSON-ready summary: overall density/sparsity and per-layer rows."""
        return {"density": self.density, "sparsity": self.sparsity, "layers": self.layer_report()}

    # -- model interaction -----------------------------------------------------------------
    def validate_against(self, params: Mapping[str, torch.Tensor] | nn.Module) -> None:
        """Raise `ValueError` naming the first name or shape the model does not have."""
        named = dict(params.named_parameters()) if isinstance(params, nn.Module) else dict(params)
        for name, m in self._masks.items():
            if name not in named:
                known = ", ".join(sorted(named)[:8])
                raise ValueError(
                    f"mask names {name!r}, which the model does not have (has: {known}...)"
                )
            if tuple(named[name].shape) != tuple(m.shape):
                raise ValueError(
                    f"mask for {name!r} has shape {tuple(m.shape)}, "
                    f"the model's parameter has {tuple(named[name].shape)}"
                )

    @torch.no_grad()
    def apply_(self, model: nn.Module) -> None:
        """Zero the pruned positions of `model`'s parameters in place."""
        params = dict(model.named_parameters())
        for name, m in self._masks.items():
            p = params[name]
            p.mul_(m.to(device=p.device, dtype=p.dtype))

    # -- persistence -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self._masks)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the mask atomically (temporary file, then rename)."""
        atomic_torch_save(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Mask:
        return cls(torch.load(path, map_location="cpu", weights_only=True))


def check_no_empty_layer(mask: Mask, what: str) -> None:
    """`UsageError` naming every tensor of `mask` that keeps no weight.

    A layer pruned to zero weights passes nothing on: the network behind it outputs a constant
    and federation trains to chance accuracy, silently. `what` names the option and value that
    produced the mask (e.g. `--sparsity=0.999999`).
    """
    empty = mask.empty_layers()
    if empty:
        shown = ", ".join(f"{name} (0 of {mask[name].numel():,} kept)" for name in empty)
        raise UsageError(
            f"{what} prunes every weight of {shown}: the network would be cut in two and "
            "train to chance accuracy. Use a lower sparsity, or --scope layer (the same "
            "fraction of every layer)."
        )
