"""fl_lightning.commands."""
