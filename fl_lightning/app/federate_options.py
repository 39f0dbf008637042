"""`federate_config`: a federation's typed config built from Python, as the command builds it.

    config = federate_config("configs/federate/smoke.yaml", values={"rounds": 2})

The YAML, the command-line style `args` and `values` are read through the command's own parser,
which lives below this layer (`parsers.federate_parser`, where the commands get it too): it
returns a plain tree of values, and `FederateConfig.from_dict` builds the typed config from it.
So the API types, checks and finds files exactly as `fl-lightning federate` does, and no module
of `app` holds a parser or its Namespace. (Building the config from the YAML dict alone, without
the parser, would lose the parser's type coercion and its `args` syntax: two readers of one
schema, which could drift.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fl_lightning.app.federate_resolution import checked
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.parsers.federate_parser import parse_federate


def federate_config(
    config: str | Path | None = None,
    *,
    args: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
) -> FederateConfig:
    """A federation's config, as `fl-lightning federate --config CONFIG ARGS` would parse it,
    with `values` (nested like the YAML, e.g. `{"rounds": 2, "data": {"num_clients": 4}}`) on top.

    Every value is type-checked by the parser, then by the option groups and `checked` (so a
    range mistake is refused here, not first inside `federate`); a bad one raises `UsageError`
    naming it, never `SystemExit`.
    """
    built = FederateConfig.from_dict(parse_federate(config, args, values))
    checked(built)
    return built
