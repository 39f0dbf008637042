"""Experiment tracking: W&B runs (`wandb_run`) and reading offline runs back (`offline_reader`)."""
