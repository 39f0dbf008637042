"""What data a comparison row's method needs on the server, from the method registry: a server
DAE pre-training needs unlabeled images held out on the server (as many as its checkpoint
records: `pretraining_server_images`); every other method (no DAE, or a DAE pre-trained by
FedAvg on the clients' own images) needs none. Shown as summary.md's `server data` column when
asked (`report.server_data`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fl_lightning.experiments.methods import find_method

#: the column's header
COLUMN = "server data"
NONE = "none"


def server_data(row: Mapping[str, Any]) -> str:
    """`10,000 unlabeled` (the images the row's server DAE was pre-trained on), `unlabeled
    images` when its checkpoint does not say how many, or `none`."""
    method = find_method(row["method"])
    if method is None or method.dae != "server":
        return NONE
    images = row.get("pretraining_server_images")
    return f"{images:,.0f} unlabeled" if images else "unlabeled images"
