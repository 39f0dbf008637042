"""The method from Python: pre-train, prune, federate, plot, on the smoke configs (a minute or
two on 2 CPU cores with the real Fashion-MNIST).

    python examples/python_api.py [--output runs/python_api] [--root DIR_WITH_IDX_FILES]

Run it from the repository root (the configs are named relative to it). The same steps as
`fl-lightning pretrain | prune | federate`, through `fl_lightning`'s functions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import fl_lightning as fl
from fl_lightning.experiments.plots import plot_accuracy
from fl_lightning.experiments.to_target import Arm, RunCurve

PRETRAIN_CONFIG = "configs/pretrain/smoke.yaml"
FEDERATE_CONFIG = "configs/federate/smoke.yaml"


def pipeline(output: Path, root: str | None = None, rounds: int = 3) -> dict[str, Any]:
    """Pre-train a DAE, prune it to a 20% ticket, federate the ticket, plot accuracy vs bytes.

    Returns the federation's summary; `output` gets pretrain/, ticket.pt, federate/ and
    acc_vs_traffic.png. `root` is a folder of Fashion-MNIST IDX files (None: the installed one).
    """
    data = {"data.root": root} if root else {}
    checkpoint = fl.pretrain(
        fl.PretrainConfig(
            PRETRAIN_CONFIG,
            output=str(output / "pretrain"),
            # the smoke pre-training fits the smoke federation (model, hold-out) as it is
            settings={
                **data,
                "trainer.logger": False,
                "trainer.enable_progress_bar": False,
            },
        )
    )
    ticket_file = str(output / "ticket.pt")
    ticket = fl.prune(fl.PruneConfig(str(checkpoint), sparsity=0.8, output=ticket_file))
    print(f"ticket: {ticket.report()['density']:.3f} of the encoder's weights kept")
    config = fl.federate_config(
        FEDERATE_CONFIG,
        values={
            "method": "proposed",
            "ticket": ticket_file,
            "rounds": rounds,
            "output": str(output / "federate"),
            "wandb": {"enabled": False},
            "data": {"root": root},
        },
    )
    summary = fl.federate(config)
    curve = RunCurve(Arm("iid", "proposed", 0.8), seed=0, history=summary["history"])
    plot = plot_accuracy([curve], "traffic", [], output / "acc_vs_traffic.png")
    print(f"final test/acc {summary['final_test_acc']:.3f}; plot: {plot}")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="runs/python_api", help="folder for everything")
    parser.add_argument("--root", default=None, help="folder of Fashion-MNIST IDX files")
    args = parser.parse_args(argv)
    pipeline(Path(args.output), args.root)


if __name__ == "__main__":
    main()
