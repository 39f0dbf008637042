"""`fl-lightning federate`: FedAvg of one method's (sparse) model; bytes, FLOPs, seconds counted.

    fl-lightning federate --config configs/federate/fashion_mnist.yaml \
        [--method proposed] [--ticket T] [--checkpoint CKPT] [--rounds N] [--seed S] \
        [--output DIR] [--resume] [--engine local|flower]

Parses the options (`fl_lightning.parsers.federate_parser`), runs `fl_lightning.app.federation`
and prints the summary. Writes DIR/metrics.csv, summary.json, config.yaml, model.pt,
checkpoint.pt and an offline W&B run.
"""

from __future__ import annotations

from pathlib import Path

from fl_lightning.app.federate_resolution import resolved
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.federation import federate, summary_lines
from fl_lightning.commands.printed_paths import absolute_paths_for_print
from fl_lightning.parsers.config_keys import check_config_args
from fl_lightning.parsers.federate_parser import build_parser, command_line_tree
from fl_lightning.parsers.flags import bool_options, expand_bare_flags
from fl_lightning.parsers.one_home import spelled_both_ways
from fl_lightning.parsers.parse_errors import parse_args

__all__ = ["build_parser", "main"]


def main(argv: list[str]) -> None:
    """Parse `argv`, run the federation, print its summary."""
    parser = build_parser()
    argv = expand_bare_flags(argv, bool_options(parser))
    check_config_args(argv, parser.get_defaults())
    argv = spelled_both_ways(argv)  # `--rounds 2` is `--federation.rounds 2` too (--print_config)
    argv = absolute_paths_for_print(
        argv,
        config_relative=("pretrain_config",),
        cwd_relative=("ticket", "checkpoint", "data.root"),
    )
    # resolved here too, so the run folder a default `--output` names can be printed
    config = resolved(FederateConfig.from_dict(command_line_tree(parse_args(parser, argv), argv)))
    summary = federate(config)
    for line in summary_lines(summary, Path(str(config.output))):
        print(line)
