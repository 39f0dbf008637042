"""Fault injection: make a seeded fraction of client updates fail, to test and show robustness.

Each sampled client draws from the injector's own generator; a faulty one fails in one of four
ways that real clients fail: it raises, it returns nothing, its upload is corrupted in transit,
or its weights are not finite. The server must notice each and leave the client out.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from fl_lightning.errors import UsageError, check_range
from fl_lightning.federated.codec import encode_flat, read_header
from fl_lightning.pruning.mask import Mask

FaultKind = Literal["raise", "empty", "corrupt", "nan"]
FAULT_KINDS: tuple[FaultKind, ...] = ("raise", "empty", "corrupt", "nan")


class InjectedFault(RuntimeError):
    """The failure of a client that the fault injector chose to raise."""


@dataclass(frozen=True)
class FaultInjection:
    """Injected client faults, for testing robustness.

    Args:
        probability: chance that a sampled client's update fails, in [0, 1).
        seed: seed of the injector's own generator (independent of every other seed).
        kinds: the ways an injected fault shows itself, drawn uniformly.
    """

    probability: float = 0.0
    seed: int = 0
    kinds: Sequence[FaultKind] = field(default_factory=lambda: list(FAULT_KINDS))

    def __post_init__(self) -> None:
        check_range("federation.faults.probability", self.probability, 0.0, 1.0)
        if not self.kinds:
            raise UsageError(
                "federation.faults.kinds is empty; choose from: " + ", ".join(FAULT_KINDS)
            )
        for kind in self.kinds:
            if kind not in FAULT_KINDS:
                raise UsageError(
                    f"federation.faults.kinds contains {kind!r}; allowed: {', '.join(FAULT_KINDS)}."
                )


class FaultInjector:
    """Draws, per client update, whether and how it fails."""

    def __init__(self, config: FaultInjection) -> None:
        self.config = config
        self.generator = torch.Generator().manual_seed(config.seed)
        #: Faults drawn so far (over all rounds, retries included); part of the state.
        self.injected = 0

    def draw(self) -> FaultKind | None:
        """The fault of the next client update, or None (two draws per client, always)."""
        u = torch.rand(2, generator=self.generator)
        if float(u[0]) >= self.config.probability:
            return None
        kinds = list(self.config.kinds)
        self.injected += 1
        return kinds[min(int(float(u[1]) * len(kinds)), len(kinds) - 1)]

    @staticmethod
    def corrupt(payload: bytes) -> bytes:
        """The payload with one body byte flipped, as a bad link would deliver it."""
        if len(payload) < 2:
            return payload + b"\x00"
        i = len(payload) - 1
        return payload[:i] + struct.pack("B", payload[i] ^ 0xFF)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "injected": self.injected}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.injected = int(state.get("injected", 0))


def faulty_upload(
    payload: bytes,
    fault: str | None,
    template: dict[str, torch.Tensor],
    mask: Mask,
) -> bytes:
    """`payload` as an injected upload fault (`empty`, `corrupt`, `nan`) delivers it.

    `template` gives names and shapes for the `nan` fault (an update of NaNs, float32 since
    integer codecs cannot carry them); other faults leave `payload` as is.
    """
    if fault == "empty":
        return b""
    if fault == "corrupt":
        return FaultInjector.corrupt(payload)
    if fault == "nan":
        header = read_header(payload)
        poisoned = torch.full((header.positions,), float("nan"))
        return encode_flat(poisoned, template, mask, with_mask=False, delta=header.delta)[0]
    return payload
