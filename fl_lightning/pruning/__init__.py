"""fl_lightning.pruning."""
