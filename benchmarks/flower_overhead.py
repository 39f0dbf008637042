"""Flower's simulation against the local engine: seconds per round, idle and under load.

The same workload runs through `RoundEngine` with the in-process transport and with
`FlowerSimulation` (Ray actors, one SuperNode per client), shaped like
configs/federate/fashion_mnist.yaml: 100 IID Fashion-MNIST clients of ~500 examples, 10 per
round, E=1, B=32, the CNN, dense (fedavg). Each engine runs `--rounds` rounds; the first round
pays the start-up (Ray, actors importing torch and building the data and model), so the per-round
cost is the median of the later rounds and start-up is what the first round and the
simulation's launch cost beyond that. Both engines run once on the machine as it is and once
beside a CPU-bound background process of this benchmark's own (`--no-load` skips that pass).
Ratios are Flower's per-round seconds over the local engine's, measured side by side.

Run: `make bench` or `.venv/bin/python benchmarks/flower_overhead.py [--rounds 4]`.
The last line reads `flower_round_ratio=<x> loaded_ratio=<y> flower_startup_s=<z>`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.engine import FederationConfig, RoundEngine, Seeds
from fl_lightning.federated.flower import FlowerSimulation
from fl_lightning.federated.flower_options import FlowerOptions
from fl_lightning.federated.transport import InProcess, Transport
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.mask import Mask


def timed_run(
    transport: Transport, rounds: int, root: str | None, max_test: int
) -> tuple[float, float]:
    """(steady seconds per round, start-up seconds) of one federation over `transport`."""
    data = FederatedDataModule(
        dataset="fashion_mnist",
        root=root,
        num_clients=100,
        partition="iid",
        server_images=10000,
        max_test_examples=max_test,
    )
    torch.manual_seed(0)
    model = Classifier("cnn", "fashion_mnist", lr=0.05)
    engine = RoundEngine(
        model=model,
        initial_state=model.state_dict(),
        mask=Mask({}),
        data=data,
        client=ClientConfig(local_epochs=1, batch_size=32, accelerator="cpu"),
        federation=FederationConfig(rounds=rounds, clients_per_round=10, eval_every=1),
        seeds=Seeds(),
        eval_device="cpu",
        transport=transport,
    )
    ends: list[float] = []
    start = time.perf_counter()
    engine.run(on_round=lambda row: ends.append(time.perf_counter()))
    steady = statistics.median(b - a for a, b in itertools.pairwise(ends))
    return steady, ends[0] - start - steady


@contextmanager
def background_load(enabled: bool) -> Iterator[None]:
    """A CPU-bound process beside the measurement (a busy shared node), killed afterwards."""
    if not enabled:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=4, help="rounds per run (>= 2)")
    parser.add_argument("--no-load", action="store_true", help="skip the loaded pass")
    parser.add_argument("--test-examples", type=int, default=1000, help="central test set size")
    parser.add_argument(
        "--dataset-root", default=None, help="Fashion-MNIST folder (default: Debian package)"
    )
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be >= 2 (round 1 carries the start-up)")
    options = FlowerOptions(num_cpus=1.0)
    figures: dict[str, float] = {}
    for loaded in (False, True) if not args.no_load else (False,):
        tag = "loaded" if loaded else "idle"
        with background_load(loaded):
            local, _ = timed_run(InProcess(), args.rounds, args.dataset_root, args.test_examples)
            flower, startup = timed_run(
                FlowerSimulation(options), args.rounds, args.dataset_root, args.test_examples
            )
        figures[f"{tag}_local_round_s"] = round(local, 3)
        figures[f"{tag}_flower_round_s"] = round(flower, 3)
        figures[f"{tag}_flower_startup_s"] = round(startup, 3)
    print(json.dumps(figures, indent=2))
    ratio = figures["idle_flower_round_s"] / figures["idle_local_round_s"]
    loaded_ratio = (
        figures["loaded_flower_round_s"] / figures["loaded_local_round_s"]
        if "loaded_local_round_s" in figures
        else float("nan")
    )
    print(
        f"flower_round_ratio={ratio:.3f} loaded_ratio={loaded_ratio:.3f} "
        f"flower_startup_s={figures['idle_flower_startup_s']:.1f}"
    )


if __name__ == "__main__":
    main()
