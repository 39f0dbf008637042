"""What the libraries print on every run: quiet by default, all of it with `--verbose`.

Lightning prints tips to install its cloud products, "Seed set to 0", "GPU available: ...",
"`weights_only` was not set"; torch warns of a `_pytree` deprecation inside Lightning; W&B
warns of a setting Lightning passes. None of it concerns the run. Every command runs inside
`library_messages(verbose=False)` unless given `--verbose`; errors and warnings about the run
itself (a diverged loss, a missing file) are printed either way.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Loggers whose INFO messages are the libraries' banners and tips.
LIBRARY_LOGGERS = ("lightning.pytorch", "lightning.fabric")
#: Warnings that describe the libraries' own code, not the run.
LIBRARY_WARNINGS = (r".*LeafSpec.*is deprecated.*",)

#: The help text of every command's `--verbose`.
VERBOSE_HELP = (
    "Also show what Lightning, W&B and torch print on every run (tips, banners, deprecation "
    "warnings); quiet by default."
)


@contextmanager
def library_messages(verbose: bool) -> Iterator[None]:
    """Within this block, the libraries' banners, tips and deprecation warnings are silenced
    (`verbose=False`) or left alone to show (`verbose=True`); on leaving, things are as they
    were."""
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    levels = [logger.level for logger in loggers]
    try:
        with warnings.catch_warnings():
            if not verbose:
                for logger in loggers:
                    logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
                for message in LIBRARY_WARNINGS:
                    warnings.filterwarnings("ignore", message)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
