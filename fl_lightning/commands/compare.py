"""`fl-lightning compare`: the methods side by side, traffic and compute to a target accuracy.

    fl-lightning compare --config configs/compare/fashion_mnist.yaml [--output DIR]

Parses the options (`compare_parser`) into a typed `CompareConfig`, runs
`fl_lightning.app.comparison` and prints the table and where the files went. Run the same
command again to continue an interrupted comparison: finished runs are reused.
"""

from __future__ import annotations

import sys

from fl_lightning.app.comparison import compare
from fl_lightning.app.grid import GridFailed
from fl_lightning.commands.compare_parser import build_parser, compare_config_of
from fl_lightning.commands.printed_paths import absolute_paths_for_print
from fl_lightning.parsers.config_keys import check_config_args
from fl_lightning.parsers.flags import bool_options, expand_bare_flags
from fl_lightning.parsers.parse_errors import parse_args
from fl_lightning.recorded_paths import recorded_command
from fl_lightning.tracking.wandb_run import sync_command

__all__ = ["build_parser", "main"]


def main(argv: list[str]) -> None:
    """Parse `argv`, run (or reuse) the grid, print the table and where everything went."""
    parser = build_parser()
    argv = expand_bare_flags(argv, bool_options(parser))
    check_config_args(argv, parser.get_defaults())
    argv = absolute_paths_for_print(
        argv, config_relative=("federate_config",), cwd_relative=("checkpoint",)
    )
    config = compare_config_of(parse_args(parser, argv))
    try:
        report = compare(config, command="fl-lightning compare " + recorded_command(argv))
    except GridFailed as err:  # not a usage error: the runs that failed are named, exit 1
        print(f"fl-lightning compare: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    print()
    print(report.summary_md)
    print(f"results: {report.output}/ (summary.md, summary.json, curves.csv)")
    print(f"plots:   {', '.join(str(p) for p in report.plots.values())}")
    if report.wandb_run is not None:
        print(f"W&B:     {report.wandb_run}  (summary run of group {report.wandb_group!r})")
        command = sync_command(report.output)
        if command is not None:  # offline: one command uploads every run, nested ones too
            print(f"upload:  {command}")
