"""Flower's deployment ServerApp (`flower-superlink` + `flower-supernode` + `flwr run`).

It runs `fl-lightning federate --engine flower` with the arguments of the run config (`config`:
a federate YAML, `args`: extra command-line arguments), passing the SuperLink's grid to the
engine's transport (`FlowerGrid`) through the application layer (`app.federation.federate`),
instead of starting a simulation. Like the other commands it sits above the library:
`federated/` knows nothing of it. See docs/flower.md.
"""

from __future__ import annotations

import shlex

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.federation import federate
from fl_lightning.parsers.federate_parser import build_parser, command_line_tree

server_app = ServerApp()


def federate_arguments(context: Context) -> list[str]:
    """`fl-lightning federate` arguments from the run config (`config`, `args`), engine flower."""
    config = str(context.run_config.get("config", "") or "")
    args = ["--config", config] if config else []
    args += shlex.split(str(context.run_config.get("args", "") or ""))
    return [*args, "--engine", "flower"]


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    """Deployment: run the federation of the run config over the SuperLink's nodes."""
    argv = federate_arguments(context)
    cfg = build_parser().parse_args(argv)
    federate(FederateConfig.from_dict(command_line_tree(cfg, argv)), grid=grid)
