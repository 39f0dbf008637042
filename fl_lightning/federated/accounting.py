"""Communication and compute meters, and the FLOPs of one client training example.

Bytes are counted from real payloads (`len()` of what `codec.encode` produced); the meters only
add them up per round and in total, under the names of `fl_lightning.tracking.metric_names`
(this round's figures and `cum_` running totals). Both meters are resumable through
`state_dict` / `load_state_dict`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fl_lightning.pruning.mask import Mask
from fl_lightning.tracking import metric_names as names


def _byte_count(value: int | Iterable[int], what: str) -> int:
    values = list(value) if isinstance(value, Iterable) else [value]
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{what} byte counts must be non-negative ints, got {v!r}")
    return sum(values)


class CommunicationMeter:
    """Bytes sent down (server -> clients) and up (clients -> server), per round and in total."""

    def __init__(self) -> None:
        self._down = 0
        self._up = 0
        self._round_down = 0
        self._round_up = 0
        self._rounds = 0

    def add_down(self, nbytes: int) -> None:
        """Count one server -> client message of `nbytes` bytes."""
        n = _byte_count(nbytes, "down")
        self._down += n
        self._round_down += n

    def add_up(self, nbytes: int) -> None:
        """Count one client -> server message of `nbytes` bytes."""
        n = _byte_count(nbytes, "up")
        self._up += n
        self._round_up += n

    def record(self, down: int | Iterable[int], up: int | Iterable[int]) -> None:
        """Count messages down and up: each an int or a list of per-message sizes."""
        d, u = _byte_count(down, "down"), _byte_count(up, "up")
        self._down += d
        self._up += u
        self._round_down += d
        self._round_up += u

    def end_round(self) -> dict[str, int]:
        """Close the round: this round's `comm/down_bytes`, `comm/up_bytes`, `comm/bytes` and
        the running totals `comm/cum_down_bytes`, `comm/cum_up_bytes`, `comm/cum_bytes` (over
        every round so far, this one included); the round counters restart."""
        figures = {
            names.DOWN_BYTES: self._round_down,
            names.UP_BYTES: self._round_up,
            names.BYTES: self._round_down + self._round_up,
            names.CUM_DOWN_BYTES: self._down,
            names.CUM_UP_BYTES: self._up,
            names.CUM_BYTES: self.total_bytes,
        }
        self._round_down = 0
        self._round_up = 0
        self._rounds += 1
        return figures

    @property
    def down_bytes(self) -> int:
        """Cumulative bytes sent down, including the round in progress."""
        return self._down

    @property
    def up_bytes(self) -> int:
        """Cumulative bytes sent up, including the round in progress."""
        return self._up

    @property
    def total_bytes(self) -> int:
        """Cumulative bytes in both directions."""
        return self._down + self._up

    @property
    def rounds(self) -> int:
        """Number of rounds closed with `end_round`."""
        return self._rounds

    def state_dict(self) -> dict[str, int]:
        return {
            "down": self._down,
            "up": self._up,
            "round_down": self._round_down,
            "round_up": self._round_up,
            "rounds": self._rounds,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._down = int(state["down"])
        self._up = int(state["up"])
        self._round_down = int(state["round_down"])
        self._round_up = int(state["round_up"])
        self._rounds = int(state["rounds"])


class ComputeMeter:
    """Client training FLOPs (masked-model estimate) and measured client wall-clock seconds."""

    def __init__(self) -> None:
        self._flops = 0.0
        self._seconds = 0.0
        self._round_flops = 0.0
        self._round_seconds = 0.0

    def add(self, flops: float, seconds: float) -> None:
        """Count one client update: its training FLOPs and its wall-clock seconds."""
        if flops < 0 or seconds < 0:
            raise ValueError(f"flops and seconds must be >= 0, got {flops!r}, {seconds!r}")
        self._flops += float(flops)
        self._seconds += float(seconds)
        self._round_flops += float(flops)
        self._round_seconds += float(seconds)

    def end_round(self) -> dict[str, float]:
        """Close the round: this round's `compute/flops`, `compute/client_seconds` and the
        running totals `compute/cum_flops`, `compute/cum_client_seconds`."""
        figures = {
            names.FLOPS: self._round_flops,
            names.CLIENT_SECONDS: self._round_seconds,
            names.CUM_FLOPS: self._flops,
            names.CUM_CLIENT_SECONDS: self._seconds,
        }
        self._round_flops = 0.0
        self._round_seconds = 0.0
        return figures

    @property
    def flops(self) -> float:
        """Cumulative client training FLOPs."""
        return self._flops

    @property
    def client_seconds(self) -> float:
        """Cumulative client wall-clock seconds."""
        return self._seconds

    def state_dict(self) -> dict[str, float]:
        return {
            "flops": self._flops,
            "seconds": self._seconds,
            "round_flops": self._round_flops,
            "round_seconds": self._round_seconds,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._flops = float(state["flops"])
        self._seconds = float(state["seconds"])
        self._round_flops = float(state["round_flops"])
        self._round_seconds = float(state["round_seconds"])


@torch.no_grad()
def forward_flops_per_example(
    model: nn.Module, mask: Mask | None, input_shape: tuple[int, ...]
) -> float:
    """FLOPs of one forward pass of one example through `model`, scaled by `mask`'s density.

    Counted with `torch.utils.flop_counter.FlopCounterMode` (a multiply-add is 2 FLOPs; bias
    adds, activations and pooling are not counted) on a batch of one input of shape
    `input_shape` (without the batch dimension) through the dense model. Each module's own
    FLOPs are multiplied by the density of its `weight` in `mask` (a module whose weight has no
    mask entry counts dense): an estimate of the work of a sparse kernel, not of PyTorch's
    dense execution. The model's training mode is restored afterwards.
    """
    if mask is not None:
        mask.validate_against(model)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.zeros((1, *input_shape), device=device, dtype=dtype)

    was_training = model.training
    model.eval()  # a batch of one must not touch BatchNorm statistics
    try:
        counter = FlopCounterMode(display=False)
        with counter:
            model(x)
    finally:
        model.train(was_training)

    per_module = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    total = float(per_module.get("Global", 0))
    if mask is None:
        return total
    # FlopCounterMode names modules "<RootClass>.<path from named_modules>" and counts a
    # module's children inside it; take each masked module's own FLOPs.
    root = type(model).__name__
    modules = dict(model.named_modules())

    def tracked(path: str) -> int:
        return per_module.get(f"{root}.{path}" if path else root, 0)

    density = mask.layer_density()
    for weight_name, d in density.items():
        module_path, _, param_name = weight_name.rpartition(".")
        if param_name != "weight" or module_path not in modules:
            continue
        module = modules[module_path]
        own = tracked(module_path) - sum(
            tracked(f"{module_path}.{child}" if module_path else child)
            for child, _ in module.named_children()
        )
        total -= own * (1.0 - d)
    return total


def training_flops_per_example(
    model: nn.Module, mask: Mask | None, input_shape: tuple[int, ...]
) -> float:
    """FLOPs of one training step on one example: 3 x `forward_flops_per_example`.

    Convention: backward = 2 x forward (gradients with respect to activations and to weights,
    each as costly as the forward), so forward + backward = 3 x forward; the optimizer update
    is not counted.
    """
    return 3.0 * forward_flops_per_example(model, mask, input_shape)
