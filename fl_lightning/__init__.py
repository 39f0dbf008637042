"""fl_lightning: communication-efficient federated learning with DAE-pre-trained lottery tickets."""

__version__ = "0.1.0"
