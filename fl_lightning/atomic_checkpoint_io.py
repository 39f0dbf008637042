"""Lightning checkpoints written atomically, like every other file of a run.

Lightning's own `TorchCheckpointIO` writes through a temporary file elsewhere (fsspec's local
transaction) and then copies it into place, so a full disk leaves a half-written `.ckpt` that
looks like a checkpoint. `AtomicCheckpointIO` writes beside the target and renames
(`fl_lightning.atomic`): a failure leaves the earlier file or none.
"""

from __future__ import annotations

from typing import Any

from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO
from typing_extensions import override

from fl_lightning.atomic import atomic_torch_save


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` whose `save_checkpoint` is atomic (local paths)."""

    @override
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                "AtomicCheckpointIO.save_checkpoint takes no storage_options "
                f"(got {storage_options!r})"
            )
        atomic_torch_save(checkpoint, path)
