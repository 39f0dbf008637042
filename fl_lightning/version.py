"""The package version, in a module of its own so low layers can stamp it into what they write
without importing the package's public API (`fl_lightning/__init__.py`)."""

__version__ = "0.1.0"
