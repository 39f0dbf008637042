"""Lightning Callbacks that keep a Mask enforced while training.

`MaskEnforcer(mask)` keeps a fixed mask: every pruned weight is exactly zero from fit start on and
after every optimizer step, whatever the optimizer (SGD with momentum, Adam, AdamW with weight
decay, ...). Three things make that hold: the weights are zeroed when fitting starts; gradients at
pruned positions are zeroed before each step (so clipping and the optimizer never see them); and a
step post-hook on each optimizer re-zeroes the weights and every per-parameter state tensor
(momentum buffers, `exp_avg`, `exp_avg_sq`, ...) at pruned positions right after each step, so
nothing regrows. The pruned positions are moved to the parameters' device once per fit; a step
allocates nothing.

`IterativeMagnitudePruning` prunes during training (pre-training): every `every_n_epochs` epochs it
removes more of the smallest weights, up to `final_sparsity` after `steps` events, enforcing the
mask in between, and stores the mask in checkpoints under `MASK_CHECKPOINT_KEY` for the ticket.

Lightning's own `ModelPruning` does not fit: `torch.nn.utils.prune` re-parametrises each weight as
`weight_orig * weight_mask`, which renames the parameters (masks, tickets and payloads address
`encoder.<layer>.weight`) and lets `weight_orig` keep moving at pruned positions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.hooks import RemovableHandle
from typing_extensions import override

from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.pruning.magnitude import SCOPES, Scope, magnitude_prune, prunable_names
from fl_lightning.pruning.mask import Mask

MASK_CHECKPOINT_KEY = "fl_lightning_mask"


class _MaskKeeper(Callback):
    """Shared machinery: install a mask on a module and keep its pruned positions at zero."""

    def __init__(self) -> None:
        self.mask: Mask | None = None
        self._installed: Mask | None = None
        self._pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._handles: list[RemovableHandle] = []

    def _validate(self, pl_module: pl.LightningModule) -> None:
        if self.mask is None:
            return
        try:
            self.mask.validate_against(pl_module)
        except ValueError as err:
            raise UsageError(
                f"{type(self).__name__}: the mask does not fit the model: {err}"
            ) from None

    def _install(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Move the pruned positions to the parameters' devices, hook the optimizers, zero."""
        if self.mask is self._installed:
            return
        self._remove_hooks()
        params = dict(pl_module.named_parameters())
        self._pairs = []
        if self.mask is not None:
            for name, keep in self.mask.items():
                param = params[name]
                self._pairs.append((param, (~keep).to(param.device)))
            for optimizer in trainer.optimizers:
                self._handles.append(optimizer.register_step_post_hook(self._post_step_hook()))
        self._installed = self.mask
        self._zero_all(trainer)

    def _post_step_hook(self) -> Callable[[torch.optim.Optimizer, Any, Any], None]:
        def hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            self._zero_weights()
            self._zero_state(optimizer)

        return hook

    @torch.no_grad()
    def _zero_weights(self) -> None:
        for param, pruned in self._pairs:
            param.masked_fill_(pruned, 0.0)

    @torch.no_grad()
    def _zero_grads(self) -> None:
        for param, pruned in self._pairs:
            if param.grad is not None:
                param.grad.masked_fill_(pruned, 0.0)

    @torch.no_grad()
    def _zero_state(self, optimizer: torch.optim.Optimizer) -> None:
        for param, pruned in self._pairs:
            state = optimizer.state.get(param)
            for value in (state or {}).values():
                if isinstance(value, torch.Tensor) and value.shape == param.shape:
                    value.masked_fill_(pruned, 0)

    def _zero_all(self, trainer: pl.Trainer) -> None:
        self._zero_weights()
        for optimizer in trainer.optimizers:
            self._zero_state(optimizer)

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._validate(pl_module)

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install(trainer, pl_module)

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A resumed fit restores weights and optimizer state after `on_fit_start`.
        self._validate(pl_module)
        self._install(trainer, pl_module)
        self._zero_all(trainer)

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        self._zero_grads()

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._release()

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._release()

    def _release(self) -> None:
        self._remove_hooks()
        self._pairs = []
        self._installed = None


class MaskEnforcer(_MaskKeeper):
    """Keep `mask`'s pruned weights exactly zero during every `fit` of the Trainer it is part of.

    The mask is checked against the model at setup (a `UsageError` names the first name or shape
    that does not fit). Attach a fresh one to each Trainer; the mask itself is never modified.
    """

    def __init__(self, mask: Mask) -> None:
        """Check the arguments; nothing is pruned before training starts.

        Args:
            mask: which weights are kept (`True`) and which must stay zero (`False`).
        """
        super().__init__()
        if not isinstance(mask, Mask):
            raise TypeError(f"MaskEnforcer needs a Mask, got {type(mask).__name__}")
        self.mask = mask


class IterativeMagnitudePruning(_MaskKeeper):
    """Prune the smallest weights step by step during training, up to `final_sparsity`.

    Pruning event `k` of `steps` happens at the end of every `every_n_epochs`-th training epoch
    and brings the overall sparsity to `1 - (1 - final_sparsity) ** (k / steps)` (the same
    fraction of the remaining weights each time), with `magnitude_prune(..., current=mask)`:
    pruned weights never come back. Between events the mask is enforced like `MaskEnforcer`
    does. Checkpoints carry the mask under `"fl_lightning_mask"` and the event count in the
    callback state, so a resumed fit continues the schedule and `make_ticket` starts from it.
    """

    def __init__(
        self,
        final_sparsity: float,
        every_n_epochs: int = 1,
        steps: int = 1,
        scope: Scope = "global",
        include_head: bool = False,
    ) -> None:
        """Check the arguments; nothing is pruned before training starts.

        Args:
            final_sparsity: overall fraction of the prunable weights removed after the last event,
                in [0, 1).
            every_n_epochs: epochs between two pruning events (>= 1).
            steps: number of pruning events (>= 1); the fit needs at least
                `steps * every_n_epochs` epochs to reach `final_sparsity`.
            scope: `global` (one magnitude threshold over all tensors) or `layer` (same fraction
                of each tensor).
            include_head: also prune the output layer `head.*` (encoder weights only by default).
        """
        super().__init__()
        check_range("final_sparsity", final_sparsity, 0.0, 1.0)
        check_choice("scope", scope, SCOPES)
        if every_n_epochs < 1:
            raise UsageError(f"every_n_epochs={every_n_epochs!r} must be >= 1.")
        if steps < 1:
            raise UsageError(f"steps={steps!r} must be >= 1.")
        self.final_sparsity = final_sparsity
        self.every_n_epochs = every_n_epochs
        self.steps = steps
        self.scope: Scope = scope
        self.include_head = include_head
        self.events_done = 0

    def sparsity_after(self, event: int) -> float:
        """The overall sparsity after pruning event `event` (1-based; 0 means dense)."""
        return float(1.0 - (1.0 - self.final_sparsity) ** (event / self.steps))

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if not prunable_names(pl_module, self.include_head):
            raise UsageError(f"{type(pl_module).__name__} has no prunable encoder weights.")
        needed = self.steps * self.every_n_epochs
        if stage == "fit" and trainer.max_epochs is not None and 0 <= trainer.max_epochs < needed:
            rank_zero_warn(
                f"IterativeMagnitudePruning needs {needed} epochs to reach final_sparsity="
                f"{self.final_sparsity}; max_epochs={trainer.max_epochs} stops before that."
            )
        super().setup(trainer, pl_module, stage)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.events_done >= self.steps or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        self.events_done += 1
        self.mask = magnitude_prune(
            pl_module,
            self.sparsity_after(self.events_done),
            scope=self.scope,
            current=self.mask,
            names=prunable_names(pl_module, self.include_head),
        )
        self._install(trainer, pl_module)
        pl_module.log("pruning/sparsity", self.mask.sparsity)

    @override
    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.mask is not None:
            checkpoint[MASK_CHECKPOINT_KEY] = self.mask.state_dict()

    @override
    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if MASK_CHECKPOINT_KEY in checkpoint:
            self.mask = Mask(checkpoint[MASK_CHECKPOINT_KEY])

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"events_done": self.events_done}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.events_done = int(state_dict["events_done"])
