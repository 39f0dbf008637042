"""fl_lightning.federated."""
