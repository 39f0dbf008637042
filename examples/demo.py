"""`make demo`: the whole method on real Fashion-MNIST, reduced to run in minutes on 2 CPU cores.

pretrain (DAE, 2 epochs) -> prune (sparsity 0.9) -> federate (`proposed`, reduced config) ->
compare (`fedavg` vs `proposed`, reduced), each step through the same `fl-lightning` commands a
user would type, printed before it runs. Outputs go to `--output` (default `runs/demo`); an old
demo folder there is replaced.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import time
from pathlib import Path

from fl_lightning.cli import main as cli


def step(title: str, args: list[str]) -> None:
    """Print the equivalent shell command, then run it in-process."""
    print(f"\n=== {title}\n$ fl-lightning {shlex.join(args)}", flush=True)
    cli(args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="runs/demo", help="demo folder (replaced)")
    args = parser.parse_args(argv)
    out = Path(args.output)
    if out.exists():
        shutil.rmtree(out)
    start = time.perf_counter()
    step(
        "1/4 DAE pre-training on 10,000 held-out unlabeled images (2 epochs)",
        [
            "pretrain",
            "--config",
            "configs/pretrain/fashion_mnist.yaml",
            "--trainer.max_epochs=2",
            "--output",
            str(out / "pretrain"),
        ],
    )
    checkpoint = out / "pretrain" / "dae.ckpt"
    step(
        "2/4 Lottery ticket: keep the 10% largest pre-trained weights",
        [
            "prune",
            "--checkpoint",
            str(checkpoint),
            "--sparsity",
            "0.9",
            "--output",
            str(out / "ticket.pt"),
        ],
    )
    step(
        "3/4 FedAvg on the sparse subnetwork (reduced: 100 clients x <=100 examples, 15 rounds)",
        [
            "federate",
            "--config",
            "configs/federate/demo.yaml",
            "--method",
            "proposed",
            "--ticket",
            str(out / "ticket.pt"),
            "--output",
            str(out / "federate"),
        ],
    )
    step(
        "4/4 Side by side: fedavg vs proposed, traffic and compute to the target accuracy",
        [
            "compare",
            "--config",
            "configs/compare/demo.yaml",
            "--checkpoint",
            str(checkpoint),
            "--output",
            str(out / "compare"),
        ],
    )
    minutes = (time.perf_counter() - start) / 60
    print(f"\ndemo finished in {minutes:.1f} min; everything is under {out}/")
    print(f"  comparison table: {out / 'compare' / 'summary.md'}")
    print(f"  plots:            {out / 'compare'}/*.png")


if __name__ == "__main__":
    main()
