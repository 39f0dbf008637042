"""fl_lightning.data."""
