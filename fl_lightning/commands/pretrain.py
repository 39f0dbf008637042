"""`fl-lightning pretrain`: DAE pre-training (`fl_lightning.app.pretraining`); prints where it went.

Every LightningCLI option works (`--trainer.max_epochs`, `--trainer.accelerator gpu`, ...), plus
`--output DIR` (default `runs/pretrain/<time>`).
"""

from __future__ import annotations

from fl_lightning.app.pretraining import CHECKPOINT_NAME, PretrainConfig, run_pretraining
from fl_lightning.commands.federated_pretrain import FLAG
from fl_lightning.commands.federated_pretrain import main as federated_main
from fl_lightning.commands.printed_paths import absolute_paths_for_print
from fl_lightning.config_files import PRETRAIN_GROUPS
from fl_lightning.parsers.config_keys import check_config_args

__all__ = ["CHECKPOINT_NAME", "main"]


def main(argv: list[str]) -> None:
    """Parse `argv`, pre-train, write the checkpoint; print where everything went.

    With `--federated` (or `--federated=true`), the pre-training is federated over the clients'
    own images (`commands.federated_pretrain`).
    """
    federated = [a for a in argv if a in (FLAG, f"{FLAG}=true")]
    if federated:
        federated_main([a for a in argv if a not in federated])
        return
    argv = [a for a in argv if a != f"{FLAG}=false"]
    check_config_args(argv, PRETRAIN_GROUPS)
    argv = absolute_paths_for_print(argv, cwd_relative=("data.root",))
    outcome = run_pretraining(PretrainConfig(args=tuple(argv)))
    if not outcome.main_process:
        return
    loss = outcome.val_recon_loss
    shown = f"; val/recon_loss = {loss:.4f}" if loss is not None else ""
    print(f"pre-training done in {outcome.seconds:.0f} s{shown}")
    print(f"checkpoint: {outcome.checkpoint}")
    print(f"config:     {outcome.config}")
    if outcome.wandb_run is not None:
        run = outcome.wandb_run
        print(f"W&B run:    {run}  (upload later with `wandb sync {run}`)")
