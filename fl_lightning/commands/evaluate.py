"""`fl-lightning evaluate`: test accuracy and loss of a finished run's model, or of a ticket.

    fl-lightning evaluate --run DIR [--data.root ROOT]
    fl-lightning evaluate --ticket T [--config FEDERATE.yaml] [--data.root ROOT]

Rebuilds the run's final model from DIR/model.pt (either layout; the first one with
DIR/config.yaml) and evaluates it on the run's own test set, so the accuracy is the one in
DIR/summary.json. A ticket is evaluated as the global model a federation from it starts with
(its encoder and a fresh output layer), on the test set of the federate config.
"""

from __future__ import annotations

from jsonargparse import ArgumentParser

from fl_lightning.app.finished_models import evaluate_run, evaluate_ticket, evaluation_line
from fl_lightning.errors import UsageError

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The `fl-lightning evaluate` parser."""
    parser = ArgumentParser(
        prog="fl-lightning evaluate",
        description="Test accuracy and loss of a finished `fl-lightning federate` run, or of "
        "a `fl-lightning prune` ticket before federation.",
    )
    parser.add_argument("--run", type=str | None, default=None, help="A run's folder (--output).")
    parser.add_argument(
        "--ticket", type=str | None, default=None, help="A ticket (instead of --run)."
    )
    parser.add_argument(
        "--config",
        type=str | None,
        default=None,
        help="With --ticket: the federate config whose test set and seeds to use "
        "(default: configs/federate/fashion_mnist.yaml).",
    )
    parser.add_argument(
        "--data.root",
        type=str | None,
        default=None,
        help="Where the dataset's files are now (default: where the run found them).",
    )
    return parser


def main(argv: list[str]) -> None:
    """Parse `argv`, evaluate the run's model, print one line."""
    cfg = build_parser().parse_args(argv)
    if (cfg.run is None) == (cfg.ticket is None):
        raise UsageError("give either --run DIR (a finished run) or --ticket T (a ticket).")
    if cfg.ticket is not None:
        evaluation = evaluate_ticket(cfg.ticket, cfg.config, root=cfg.data.root)
        print(evaluation_line(evaluation, cfg.ticket))
    else:
        print(evaluation_line(evaluate_run(cfg.run, root=cfg.data.root), cfg.run))
