"""A client's upload: its update (local - downloaded weights), compressed, with error feedback.

Uploads carry the update on the payload's positions, not the weights, so quantisation error
scales with the step, not the weight. Optionally only the top-k magnitudes are sent, and with
error feedback the client keeps what its compression dropped (``residual = target - sent``) and
adds it to its next update, so over rounds nothing is lost: ``sum(sent) + residual`` equals the
sum of its true updates. The residual is the client's own state: the local engine keeps it in
its checkpoint, a Flower SuperNode in its Context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from fl_lightning.errors import UsageError, check_choice
from fl_lightning.federated.codec import ValueCodec, encode_flat, flatten
from fl_lightning.federated.codecs.values import ROUNDINGS, VALUE_CODECS, Rounding
from fl_lightning.pruning.mask import Mask


@dataclass(frozen=True)
class UploadCodec:
    """How clients encode their update.

    Args:
        codec: value codec (`float32`, `float16`, `int8`, `int4`, or `sign`: one bit a value,
            unbiased over rounds only with `error_feedback`).
        topk: send only this fraction (0, 1] of the positions, the largest updates (None: all).
        error_feedback: keep what compression dropped and add it to the next update.
        rounding: `nearest`, or `stochastic` (unbiased; drawn from the rounding seed).
    """

    codec: ValueCodec = "float32"
    topk: float | None = None
    error_feedback: bool = False
    rounding: Rounding = "nearest"

    def validate(self, prefix: str = "federation") -> None:
        """`UsageError` naming the option for a value out of range."""
        check_choice(f"{prefix}.up_codec", self.codec, VALUE_CODECS)
        check_choice(f"{prefix}.up_rounding", self.rounding, ROUNDINGS)
        if self.codec == "sign" and self.rounding != "nearest":
            raise UsageError(
                f"{prefix}.up_rounding={self.rounding!r} with {prefix}.up_codec='sign': a sign "
                "has no rounding to choose; allowed: nearest (stochastic applies to int8, int4)."
            )
        if self.topk is not None and not 0 < self.topk <= 1:
            raise UsageError(f"{prefix}.up_topk={self.topk!r}: allowed (0, 1] or null (send all).")


def rounding_generator(seed: int, round_idx: int, client_id: int) -> torch.Generator:
    """The generator of one client's stochastic rounding in one round: a pure function of the
    three, so a resumed run (or a Flower node) draws exactly what an uninterrupted one draws.

    Modulo 2**63 so that `manual_seed` accepts it (it takes 64 bits): any seed up to
    2**32 - 1 works, and smaller seeds keep the generator they had. PyTorch's CPU generator
    (mt19937) then uses only the low 32 bits of that number, so two triples whose numbers agree
    modulo 2**32 draw the same values."""
    return torch.Generator().manual_seed(
        ((seed * 1_000_003 + round_idx) * 1_000_003 + client_id) % 2**63
    )


def encode_update(
    local: Mapping[str, torch.Tensor],
    reference: Mapping[str, torch.Tensor],
    mask: Mask,
    settings: UploadCodec,
    *,
    residual: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[bytes, torch.Tensor | None]:
    """The upload payload of ``local - reference`` and the client's new residual.

    With error feedback the target is ``update + residual`` (the residual of the last round,
    or zero) and the new residual is ``target - sent``; without, the residual is None.
    """
    target = flatten(local, mask) - flatten(reference, mask)
    if settings.error_feedback and residual is not None:
        if residual.shape != target.shape:
            raise ValueError(
                f"residual has {residual.numel()} entries, the update has {target.numel()}"
            )
        target = target + residual
    payload, sent = encode_flat(
        target,
        local,
        mask,
        with_mask=False,
        codec=settings.codec,
        delta=True,
        topk=settings.topk,
        rounding=settings.rounding,
        generator=generator,
    )
    return payload, (target - sent) if settings.error_feedback else None
