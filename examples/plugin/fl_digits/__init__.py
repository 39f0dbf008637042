"""fl_digits: an fl_lightning plugin (a dataset and a model from outside the package)."""
