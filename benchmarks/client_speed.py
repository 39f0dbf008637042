"""Measured client compute: dense vs unstructured ticket vs structured (channel) ticket.

One client update of the default federation (500 examples, E=1, B=32, the FedAvg CNN, SGD)
through the real client path (`run_client_update`: decode, fresh lean Trainer, mask callback,
encode; batches cut from stacked tensors as `client_batches` gives them) for three models:

- `dense`: the full CNN;
- `unstructured`: the full CNN under a magnitude mask of the given sparsity (PyTorch's dense
  kernels still do every multiply);
- `structured`: the narrow CNN of the channel ticket at the same sparsity.

Timing doesn't depend on the weights' values, so the models are random inits (the mask from
their own magnitudes) and the 500 examples are random images: no checkpoint or data needed.
Variants are interleaved (their order rotates every repeat) in one process with the same
threads, and medians are reported: a loaded machine slows all three alike, not one block.
Peak memory is the RSS high-water mark of a fresh child process per variant running one update
(and its growth over the RSS just before the update); the peak is dominated by the imported
libraries. Batch-1 inference latency of each final model (eval mode, no grad) is what a phone
serving it would see.

Run: `make bench` or `.venv/bin/python benchmarks/client_speed.py [--repeats 7]`.
The last lines read `client_seconds_ratio structured=<x> unstructured=<y>` (each / dense) and
`latency_ratio structured=<x> unstructured=<y>`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

from fl_lightning.data.shuffled_batches import ShuffledBatches
from fl_lightning.federated.accounting import training_flops_per_example
from fl_lightning.federated.client import ClientConfig, quiet_lightning, run_client_update
from fl_lightning.federated.codec import encode
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.channel_ticket import channel_widths
from fl_lightning.pruning.magnitude import magnitude_prune, prunable_names
from fl_lightning.pruning.mask import Mask

VARIANTS = ("dense", "unstructured", "structured")
INPUT = (1, 28, 28)


def build(variant: str, sparsity: float) -> tuple[Classifier, Mask]:
    """The workspace model and mask of `variant` (seeded random init)."""
    torch.manual_seed(0)
    if variant == "structured":
        widths = channel_widths("cnn", "fashion_mnist", sparsity)
        return Classifier("cnn", "fashion_mnist", widths=widths), Mask({})
    model = Classifier("cnn", "fashion_mnist")
    if variant == "dense":
        return model, Mask({})
    state = model.state_dict()
    return model, magnitude_prune(state, sparsity, names=prunable_names(state))


def client_data(examples: int, batch_size: int) -> ShuffledBatches:
    """The client's batches, as the engine's clients get them (`client_batches`)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(examples, *INPUT, generator=g)
    y = torch.randint(0, 10, (examples,), generator=g)
    return ShuffledBatches(x, y, batch_size, g)


def one_update(model: Classifier, mask: Mask, loader: ShuffledBatches, examples: int) -> float:
    """Seconds of one client update through `run_client_update` (download decoded included)."""
    payload = encode(model.state_dict(), mask, with_mask=len(mask) > 0)
    flops = training_flops_per_example(model, mask if len(mask) else None, INPUT)
    result = run_client_update(
        client_id=0,
        payload=payload,
        model=model,
        mask=mask,
        dataloader=loader,
        num_examples=examples,
        config=ClientConfig(local_epochs=1, batch_size=loader.batch_size, accelerator="cpu"),
        flops_per_example=flops,
    )
    return result.seconds


@torch.no_grad()
def latency_seconds(model: Classifier, calls: int) -> float:
    """Median seconds of one batch-1 forward pass (eval mode) over `calls` calls."""
    model.eval()
    x = torch.randn(1, *INPUT)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    model.train()
    return statistics.median(times)


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_rss_kib() -> int:
    """This process's RSS high-water mark (VmHWM). Not `ru_maxrss`: Linux carries that over
    `execve` from the forking parent, so every child would report the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_memory(variant: str, sparsity: float, examples: int, batch_size: int) -> dict[str, int]:
    """Peak RSS (KiB) of a fresh process running one update of `variant`, and its growth."""
    code = (
        "import sys; sys.path.insert(0, 'benchmarks');"
        "import client_speed as b, json; b.quiet_lightning();"
        f"m, k = b.build({variant!r}, {sparsity}); d = b.client_data({examples}, {batch_size});"
        "before = b._rss_kib(); b.one_update(m, k, d, len(d.images));"
        "peak = b._peak_rss_kib();"
        "print(json.dumps({'peak_rss_kib': peak, 'growth_kib': peak - before}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    figures: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--examples", type=int, default=500, help="the client's examples")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats per variant")
    parser.add_argument("--latency-calls", type=int, default=200, help="batch-1 calls per repeat")
    args = parser.parse_args()
    quiet_lightning()
    models = {v: build(v, args.sparsity) for v in VARIANTS}
    loader = client_data(args.examples, args.batch_size)
    for model, mask in models.values():  # warm-up: allocator, oneDNN kernels, Lightning imports
        one_update(model, mask, loader, args.examples)
        latency_seconds(model, 10)
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    latency: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for rep in range(args.repeats):
        order = VARIANTS[rep % 3 :] + VARIANTS[: rep % 3]  # rotate: no variant always first
        for v in order:
            model, mask = models[v]
            seconds[v].append(one_update(model, mask, loader, args.examples))
            latency[v].append(latency_seconds(model, args.latency_calls))
        # progress on stderr: on a loaded machine a partial run still shows the ratios so far
        print(
            f"repeat {rep + 1}: "
            + " ".join(
                f"{v}={seconds[v][-1]:.2f}s/{1000 * latency[v][-1]:.2f}ms" for v in VARIANTS
            ),
            file=sys.stderr,
            flush=True,
        )
    median = {v: statistics.median(seconds[v]) for v in VARIANTS}
    lat = {v: statistics.median(latency[v]) for v in VARIANTS}
    memory = {v: child_memory(v, args.sparsity, args.examples, args.batch_size) for v in VARIANTS}
    report: dict[str, Any] = {
        "sparsity": args.sparsity,
        "examples": args.examples,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0],
        "widths": channel_widths("cnn", "fashion_mnist", args.sparsity),
        "params": {v: sum(p.numel() for p in models[v][0].parameters()) for v in VARIANTS},
        "client_seconds_median": median,
        "client_seconds_all": seconds,
        "latency_batch1_ms_median": {v: 1000 * lat[v] for v in VARIANTS},
        "memory_kib": memory,
        "self_peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(report, indent=2))
    print(
        f"client_seconds_ratio structured={median['structured'] / median['dense']:.3f} "
        f"unstructured={median['unstructured'] / median['dense']:.3f}"
    )
    print(
        f"latency_ratio structured={lat['structured'] / lat['dense']:.3f} "
        f"unstructured={lat['unstructured'] / lat['dense']:.3f}"
    )
    print(
        "peak_rss_mib "
        + " ".join(f"{v}={memory[v]['peak_rss_kib'] / 1024:.0f}" for v in VARIANTS)
        + " growth_mib "
        + " ".join(f"{v}={memory[v]['growth_kib'] / 1024:.1f}" for v in VARIANTS)
    )


if __name__ == "__main__":
    main()
