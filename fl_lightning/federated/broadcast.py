"""The server's broadcast: the global model encoded under the download codec, with optional
server-side error feedback (DoubleSqueeze, Tang et al. 2019; EF21-P, Gruntkowska et al. 2023).

Without error feedback a round's download is `codec.encode(global)`, as it always was. With it,
the server keeps a residual on the payload's positions, what quantising the broadcast dropped,
and sends ``target = global + residual`` instead; the new residual is ``target - sent`` (`sent`:
what the bytes decode to). Over rounds, ``sum(sent) = sum(global) - residual``: the model the
clients receive tracks the true global model rather than erring the same way every round.

The clients still train from the decoded bytes (what is counted is what is sent); the residual
is the server's own state (`state_dict`, in the engine's checkpoint). It lives on the payload's
positions only, so a pruned position has no residual and decodes to exactly 0.0.

Each round is broadcast once: the first download of a round fixes its target and moves the
residual on; the round's other downloads (with the mask, or a retry's resampled clients) carry
the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from fl_lightning.federated.codec import encode, encode_flat, flatten
from fl_lightning.federated.codecs.values import DownCodec
from fl_lightning.pruning.mask import Mask


class Broadcast:
    """Encodes each round's download; keeps the server's residual when `error_feedback` is on.

    Args:
        codec: the download value codec (`federation.down_codec`, else `federation.dtype`).
        error_feedback: add what the last broadcast dropped to the next one before quantising.
    """

    def __init__(self, codec: DownCodec, *, error_feedback: bool = False) -> None:
        self.codec = codec
        self.error_feedback = error_feedback
        #: target - sent of the last broadcast, on the payload's positions (None: none yet).
        self.residual: torch.Tensor | None = None
        self._round: int | None = None
        self._target: torch.Tensor | None = None

    def encode(
        self, r: int, global_state: Mapping[str, torch.Tensor], mask: Mask, *, with_mask: bool
    ) -> bytes:
        """The download payload of round `r` (with the mask section if `with_mask`)."""
        if not self.error_feedback:
            return encode(global_state, mask, with_mask=with_mask, codec=self.codec)
        if self._round != r or self._target is None:
            target = flatten(global_state, mask)
            if self.residual is not None:
                if self.residual.shape != target.shape:
                    raise ValueError(
                        f"broadcast residual has {self.residual.numel()} entries, the model's "
                        f"payload has {target.numel()} positions"
                    )
                target = target + self.residual
            self._round, self._target = r, target
            payload, sent = self._encode(target, global_state, mask, with_mask)
            self.residual = target - sent
            return payload
        return self._encode(self._target, global_state, mask, with_mask)[0]

    def _encode(
        self,
        target: torch.Tensor,
        global_state: Mapping[str, torch.Tensor],
        mask: Mask,
        with_mask: bool,
    ) -> tuple[bytes, torch.Tensor]:
        return encode_flat(target, global_state, mask, with_mask=with_mask, codec=self.codec)

    def state_dict(self) -> dict[str, Any]:
        """The residual, for the engine's checkpoint (a round's target need not survive it:
        a checkpoint is written between rounds)."""
        return {"residual": self.residual}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        residual = state.get("residual")
        self.residual = None if residual is None else residual.detach().to("cpu", torch.float32)
        self._round, self._target = None, None
