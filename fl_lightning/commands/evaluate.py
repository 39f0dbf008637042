"""`fl-lightning evaluate`: test accuracy and loss of a finished federation run's model.

    fl-lightning evaluate --run DIR [--data.root ROOT]

Rebuilds the run's final model from DIR/model.pt (either layout; the first one with
DIR/config.yaml) and evaluates it on the run's own test set, so the accuracy is the one in
DIR/summary.json.
"""

from __future__ import annotations

from jsonargparse import ArgumentParser

from fl_lightning.app.finished_models import evaluate_run, evaluation_line

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The `fl-lightning evaluate` parser."""
    parser = ArgumentParser(
        prog="fl-lightning evaluate",
        description="Test accuracy and loss of a finished `fl-lightning federate` run.",
    )
    parser.add_argument("--run", type=str, required=True, help="The run's folder (--output).")
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
    print(evaluation_line(evaluate_run(cfg.run, root=cfg.data.root), cfg.run))
