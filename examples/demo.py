"""`make demo`: the whole method on real Fashion-MNIST, reduced to run in minutes on 2 CPU cores.

pretrain (DAE, 2 epochs) -> prune (sparsity 0.9) -> federate (`proposed`, reduced config) ->
compare (`fedavg` vs `proposed`, reduced; step 3's federation is the comparison's `proposed`
run, reused, so only `fedavg` runs there), each step through the same `fl-lightning` commands a
user would type, printed before it runs. Outputs go to `--output` (default `runs/demo`). An old
demo folder there is replaced, but only one the demo made (it holds the marker file
`.fl-lightning-demo`): any other non-empty folder is refused, never deleted.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import time
from pathlib import Path

from fl_lightning.cli import main as cli
from fl_lightning.errors import UsageError

#: Written into every demo folder: the proof that replacing the folder deletes nothing else.
MARKER = ".fl-lightning-demo"
#: Step 3's federation, in the demo folder: where step 4's comparison (configs/compare/demo.yaml
#: into `compare/`) keeps its `proposed` run, so that it reuses this one instead of re-running it.
FEDERATION = Path("compare", "runs", "iid", "proposed-s0.9", "seed0")


def prepare_output(out: Path) -> None:
    """Make `out` an empty demo folder holding `MARKER`.

    An earlier demo folder (with the marker) is replaced; an empty or missing folder is used;
    anything else raises `UsageError` and is left exactly as it was.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output={str(out)!r} exists and is not a folder; choose another.")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise UsageError(
                f"--output={str(out)!r} is a non-empty folder the demo did not create; the "
                "demo replaces its folder, so choose a new or empty one (DEMO_DIR=...)."
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by `make demo`; the next demo run replaces this folder\n")


def step(title: str, args: list[str]) -> None:
    """Print the equivalent shell command, run it in-process, then say how long it took (the
    README's and the configs' durations are these, measured on an idle machine)."""
    print(f"\n=== {title}\n$ fl-lightning {shlex.join(args)}", flush=True)
    start = time.perf_counter()
    cli(args)
    print(f"=== {title.split()[0]} took {time.perf_counter() - start:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="runs/demo", help="demo folder (replaced)")
    args = parser.parse_args(argv)
    out = Path(args.output)
    try:
        prepare_output(out)
    except UsageError as err:
        parser.error(str(err))  # exit code 2, nothing touched
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
    # The ticket is the pruning the comparison's `proposed` run would make of the same
    # checkpoint, so step 4 reuses this run (`FEDERATION`) rather than running it again.
    federation = out / FEDERATION
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
            "--wandb.group",
            "demo-compare",
            "--wandb.name",
            "iid/proposed-s0.9/seed0",
            "--output",
            str(federation),
        ],
    )
    step(
        "4/4 Side by side: fedavg vs proposed (step 3's run, reused), traffic and compute to "
        "the target accuracy",
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
