"""Where the engine's client steps spend their time beyond plain PyTorch: a cProfile breakdown.

Runs `benchmarks/overhead.py`'s engine workload (fashion_mnist CNN, dense, 10 clients a round,
E=1, B=32) under cProfile and splits the engine's seconds into what plain PyTorch does too
(forward, backward, the SGD update, reading batches) and what the engine adds on top:
the Lightning loop around each step, a fresh Trainer per client, the mask callback, the
payload codec (decode the download, encode the update), update validation and FedAvg. Times are
cumulative seconds of the named functions (cProfile's own overhead inflates many small calls,
so shares, not absolute seconds, are the result). Companion of `overhead.py`, run by hand:

    .venv/bin/python benchmarks/engine_profile.py [--rounds 2] [--out engine.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import engine_seconds, make_data, plain_seconds

#: (label, file suffix, function name): cumulative time of each is reported.
PARTS: tuple[tuple[str, str, str], ...] = (
    ("client updates (all)", "fl_lightning/federated/client.py", "run_client_update"),
    ("  Trainer construction", "fl_lightning/federated/client.py", "lean_trainer"),
    ("  Trainer.fit", "lightning/pytorch/trainer/trainer.py", "fit"),
    ("    forward + loss (training_step)", "fl_lightning/models/classifier.py", "training_step"),
    ("    backward", "torch/_tensor.py", "backward"),
    ("    SGD update (functional sgd)", "torch/optim/sgd.py", "sgd"),
    ("    reading batches (DataLoader next)", "torch/utils/data/dataloader.py", "__next__"),
    ("    reading batches (client_batches)", "fl_lightning/data/shuffled_batches.py", "_pass"),
    ("    mask callback", "fl_lightning/pruning/callback.py", "on_before_optimizer_step"),
    ("  decode the download", "fl_lightning/federated/codec.py", "decode"),
    ("  encode the update", "fl_lightning/federated/upload.py", "encode_update"),
    ("validate updates", "fl_lightning/federated/validation.py", "validate_update"),
    ("FedAvg", "fl_lightning/federated/aggregate.py", "fedavg"),
)


def cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    """Cumulative seconds of every function `name` defined in a file ending with `suffix`."""
    table = stats.stats  # type: ignore[attr-defined]
    return sum(
        entry[3]
        for (filename, _line, func), entry in table.items()
        if func == name and filename.endswith(suffix)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds profiled")
    parser.add_argument("--out", default=None, help="also write the raw cProfile stats here")
    parser.add_argument("--dataset-root", default=None, help="Fashion-MNIST folder")
    args = parser.parse_args()
    data = make_data(100, args.dataset_root, 1)
    engine_seconds(data, 1, 2, 0.05)  # warm-up, as overhead.py does
    plain = plain_seconds(data, args.rounds, 10, 0.05)
    profiler = cProfile.Profile()
    profiler.enable()
    engine = engine_seconds(data, args.rounds, 10, 0.05)
    profiler.disable()
    if args.out:
        profiler.dump_stats(args.out)
    stats = pstats.Stats(profiler)
    print(f"plain PyTorch {plain:.2f} s; engine under cProfile {engine:.2f} s", end=" ")
    print(f"({args.rounds} rounds)")
    parts = {label: cumulative(stats, suffix, name) for label, suffix, name in PARTS}
    for label, seconds in parts.items():
        print(f"{label:<40} {seconds:8.2f} s  {seconds / engine:6.1%}")
    compute = sum(
        parts[k]
        for k in (
            "    forward + loss (training_step)",
            "    backward",
            "    SGD update (functional sgd)",
            "    reading batches (DataLoader next)",
            "    reading batches (client_batches)",
        )
    )
    loop = parts["  Trainer.fit"] - compute - parts["    mask callback"]
    print(f"{'Lightning loop around the steps':<40} {loop:8.2f} s  {loop / engine:6.1%}")


if __name__ == "__main__":
    main()
