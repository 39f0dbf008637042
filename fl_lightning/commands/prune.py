"""`fl-lightning prune`: parse, prune (`fl_lightning.app.pruning`), print the per-layer densities.

A parse mistake (`fl_lightning.parsers.parse_errors`) and a `UsageError` from the checks both
end in one line and exit code 2 (through `cli.main`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from jsonargparse import ActionConfigFile, ArgumentParser
from rich.console import Console
from rich.table import Table

from fl_lightning.app.pruning import PruneConfig, prune
from fl_lightning.app.ticket_logging import PruneWandb
from fl_lightning.commands.printed_paths import absolute_paths_for_print
from fl_lightning.console import VERBOSE_HELP, library_messages
from fl_lightning.parsers.config_keys import check_config_args
from fl_lightning.parsers.flags import bool_options, expand_bare_flags
from fl_lightning.parsers.parse_errors import parse_args
from fl_lightning.pruning.ticket import Ticket

DESCRIPTION = """\
Prune the encoder of a DAE checkpoint (from `fl-lightning pretrain`) by weight magnitude and
write the lottery ticket federation starts from: OUTPUT (weights, mask, provenance) and a JSON
report beside it (OUTPUT with suffix .json) with the overall and per-layer densities.
With --structure channel, whole channels and neurons go instead of single weights: the ticket is
a narrower dense network (its widths, parameters and FLOPs before and after are in the report).
"""


def build_parser() -> ArgumentParser:
    """The argument parser of `fl-lightning prune` (`main` parses with `parse_errors.parse_args`:
    a mistake is one line, exit code 2)."""
    parser = ArgumentParser(prog="fl-lightning prune", description=DESCRIPTION)
    parser.add_argument(
        "-c", "--config", action=ActionConfigFile, help="YAML file with these options."
    )
    parser.add_argument(
        "--checkpoint",
        type=str,
        required=True,
        help="DAE checkpoint written by `fl-lightning pretrain`.",
    )
    parser.add_argument(
        "--sparsity",
        type=float,
        required=True,
        help="Fraction of the prunable encoder weights to remove, in [0, 1); 0.9 keeps a tenth.",
    )
    parser.add_argument(
        "--structure",
        type=Literal["unstructured", "channel"],
        default="unstructured",
        help=(
            "unstructured: a mask over single weights; channel: remove whole conv channels and "
            "hidden neurons (by the L1 norm of their pre-trained weights, the same fraction of "
            "every hidden layer), leaving a smaller dense network that trains faster."
        ),
    )
    parser.add_argument(
        "--scope",
        type=Literal["global", "layer"],
        default="global",
        help="global: one magnitude threshold over all layers; layer: the same fraction of each.",
    )
    parser.add_argument(
        "--policy",
        type=Literal["pretrained", "rewind_init", "reinit"],
        default="pretrained",
        help=(
            "Weights the kept positions start from: pretrained (the DAE's), rewind_init (the "
            "encoder before pre-training) or reinit (fresh random weights from --seed). The mask "
            "always comes from the pre-trained magnitudes."
        ),
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="Model-init seed for --policy reinit and for the output layer with --include_head.",
    )
    parser.add_argument(
        "--include_head",
        type=bool,
        default=False,
        help="Also prune a freshly initialised output layer (default: the head stays dense).",
    )
    parser.add_argument(
        "--output",
        type=str,
        required=True,
        help="Ticket file to write, e.g. runs/ticket.pt; the report goes to runs/ticket.json.",
    )
    parser.add_argument("--verbose", type=bool, default=False, help=VERBOSE_HELP)
    parser.add_argument("--wandb", type=PruneWandb, default=PruneWandb())
    return parser


def print_report(ticket: Ticket, output: Path, report_path: Path, console: Console) -> None:
    """The per-layer table, the total, and where the files went."""
    report = ticket.report()
    kind = "channel ticket" if ticket.widths else "ticket"
    table = Table(
        title=f"{ticket.model} {kind}, {report['scope']} scope, {report['policy']} weights"
    )
    for column in ("layer", "shape", "kept", "total", "density"):
        table.add_column(column, justify="left" if column in ("layer", "shape") else "right")
    for row in report["layers"]:
        shape = "x".join(str(d) for d in row["shape"])
        table.add_row(
            row["name"], shape, f"{row['kept']:,}", f"{row['total']:,}", f"{row['density']:.4f}"
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        f"{report['kept']:,}",
        f"{report['total']:,}",
        f"{report['density']:.4f}",
        style="bold",
    )
    console.print(table)
    if ticket.widths:
        params, flops = report["params"], report["forward_flops"]
        console.print(
            f"widths {report['widths']} (of {report['full_widths']}); classifier parameters "
            f"{params['before']:,} -> {params['after']:,}, forward FLOPs per example "
            f"{flops['before']:,} -> {flops['after']:,}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    # Paths whole (no wrapping) and literal (no rich markup), so they can be copied.
    console.print(f"ticket: {output}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"report: {report_path}", soft_wrap=True, markup=False, highlight=False)


def main(argv: list[str]) -> None:
    """Run `fl-lightning prune` with `argv` (the arguments after `prune`)."""
    parser = build_parser()
    argv = expand_bare_flags(argv, bool_options(parser))
    check_config_args(argv, parser.get_defaults())
    argv = absolute_paths_for_print(argv, cwd_relative=("checkpoint",))
    args = parse_args(parser, argv)
    config = PruneConfig(
        checkpoint=args.checkpoint,
        sparsity=args.sparsity,
        output=args.output,
        structure=args.structure,
        scope=args.scope,
        policy=args.policy,
        seed=args.seed,
        include_head=args.include_head,
        wandb=PruneWandb(**vars(args.wandb)),
    )
    output = Path(args.output)
    logged: list[Path] = []
    with library_messages(args.verbose):
        ticket = prune(config, on_logged=logged.append)
        print_report(ticket, output, output.with_suffix(".json"), Console())
    for wandb_dir in logged:
        print(f"W&B run: {wandb_dir}  (upload with `wandb sync {wandb_dir}`)")
