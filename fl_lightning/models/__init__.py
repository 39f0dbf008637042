"""fl_lightning.models."""
