"""fl_lightning.experiments."""
