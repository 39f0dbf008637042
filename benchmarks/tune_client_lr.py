"""Choose the clients' learning rate on validation data, never on the test set.

Federates one method for a few rounds at each learning rate of a small grid and scores each
final model on *validation* images: the server's hold-out (`data.server_images` training images
that no client holds), with their labels. `fedavg` never sees those images at all, so tuning the
dense baseline this way is clean; the chosen rate is then used for every method of a comparison
(the baseline gets the tuning, our method inherits it).

    python benchmarks/tune_client_lr.py --config configs/federate/fashion_mnist_resnet8.yaml \
        --method fedavg --lrs 0.05 0.1 0.2 --rounds 10 --output results/tuning/resnet8_lr

Writes `table.md` and `table.json` (one row per rate: validation accuracy and loss after
`--rounds` rounds, the run's seconds) in `--output`; the runs themselves go to `--runs`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

import fl_lightning as fl
from fl_lightning.app.finished_models import load_model, read_run_config
from fl_lightning.data.partition import server_split
from fl_lightning.data.sources import load_split


def validation_loader(run_dir: Path, batch_size: int = 1000) -> DataLoader[Any]:
    """The run's server hold-out (training images no client holds) with their labels."""
    data = read_run_config(run_dir)["data"]
    if not data.get("server_images"):
        raise SystemExit(f"{run_dir}: data.server_images is 0; no validation images to score on")
    images, labels = load_split(data["dataset"], train=True, root=data.get("root"))
    held_out, _ = server_split(len(labels), int(data["server_images"]), int(data["split_seed"]))
    return DataLoader(TensorDataset(images[held_out], labels[held_out]), batch_size=batch_size)


def run_one(
    config: str,
    method: str,
    lr: float,
    rounds: int,
    out: Path,
    server_optimizer: str = "none",
    server_lr: float | None = None,
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """Federate `method` at client rate `lr` (and the given server optimizer) for `rounds`
    rounds; its validation score."""
    federation: dict[str, Any] = {"eval_every": rounds, "server_optimizer": server_optimizer}
    if server_lr is not None:
        federation["server_lr"] = server_lr
    values: dict[str, Any] = {
        "method": method,
        "rounds": rounds,
        "output": str(out),
        "model": {"lr": lr},
        "federation": federation,
        "wandb": {"enabled": False},
        "progress": False,
    }
    if checkpoint is not None:
        values["checkpoint"] = checkpoint
    start = time.perf_counter()
    fl.federate(fl.federate_config(config, values=values))
    seconds = time.perf_counter() - start
    accuracy, loss = load_model(out).evaluate(validation_loader(out))
    return {
        "method": method,
        "lr": lr,
        "server_optimizer": server_optimizer,
        "server_lr": server_lr,
        "rounds": rounds,
        "val_acc": accuracy,
        "val_loss": loss,
        "seconds": round(seconds, 1),
    }


def settings(optimizers: list[str], server_lrs: list[float]) -> list[tuple[str, float | None]]:
    """(server optimizer, server rate) pairs: `none` once, every other optimizer at each rate
    (at its own default rate when no rate is given)."""
    pairs: list[tuple[str, float | None]] = []
    for name in optimizers:
        if name == "none" or not server_lrs:
            pairs.append((name, None))
        else:
            pairs.extend((name, rate) for rate in server_lrs)
    return pairs


def _rate(rate: float | None) -> str:
    return "default" if rate is None else f"{rate:g}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="federate config (YAML)")
    parser.add_argument("--method", default="fedavg", help="method to tune (default: fedavg)")
    parser.add_argument("--lrs", type=float, nargs="+", required=True, help="client rates")
    parser.add_argument(
        "--server_optimizers",
        nargs="+",
        default=["none"],
        help="server optimizers to try (default: none, plain averaging)",
    )
    parser.add_argument(
        "--server_lrs",
        type=float,
        nargs="+",
        default=[],
        help="server rates tried for each optimizer but none (default: its own)",
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="DAE checkpoint for DAE methods (default: pre-train per run)",
    )
    parser.add_argument("--rounds", type=int, default=10, help="rounds per run (default: 10)")
    parser.add_argument("--output", required=True, help="folder for table.md / table.json")
    parser.add_argument("--runs", default="runs/tune_client_lr", help="folder for the runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args(argv)
    argv_used = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(args.threads)
    rows = []
    for optimizer, server_lr in settings(args.server_optimizers, args.server_lrs):
        for lr in args.lrs:
            name = f"{args.method}_lr{lr:g}" + (
                "" if optimizer == "none" else f"_{optimizer}{_rate(server_lr)}"
            )
            out_dir = Path(args.runs) / name
            rows.append(
                run_one(
                    args.config,
                    args.method,
                    lr,
                    args.rounds,
                    out_dir,
                    server_optimizer=optimizer,
                    server_lr=server_lr,
                    checkpoint=args.checkpoint,
                )
            )
            print(json.dumps(rows[-1]), flush=True)
    best = max(rows, key=lambda r: r["val_acc"])
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(
        json.dumps(
            {
                "config": args.config,
                "method": args.method,
                "command": "python benchmarks/tune_client_lr.py " + " ".join(argv_used),
                "rows": rows,
                "chosen": {
                    "lr": best["lr"],
                    "server_optimizer": best["server_optimizer"],
                    "server_lr": best["server_lr"],
                },
                "chosen_lr": best["lr"],
            },
            indent=2,
        )
        + "\n"
    )
    lines = [
        f"Client learning rate and server optimizer for `{args.method}` on `{args.config}`, "
        f"{args.rounds} rounds, scored on the server hold-out (validation; never the test set).",
        "",
        f"Made by `{'python benchmarks/tune_client_lr.py ' + ' '.join(argv_used)}`",
        "",
        "| client lr | server optimizer | server lr | val acc | val loss | seconds |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {r['lr']:g} | {r['server_optimizer']} | {_rate(r['server_lr'])} "
            f"| {r['val_acc']:.4f} | {r['val_loss']:.4f} | {r['seconds']:.0f} |"
            for r in rows
        ),
        "",
        f"Chosen: client lr {best['lr']:g}, server optimizer {best['server_optimizer']} "
        f"at server lr {_rate(best['server_lr'])} (highest validation accuracy).",
    ]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
