"""Traffic and compute per client per round: dense FedAvg against sparse tickets, side by side.

For the FedAvg CNN on Fashion-MNIST, at each sparsity: the bytes of a client's first download
(mask bitmap + values), of every later download / upload (values only), in float32 and float16,
and the masked training FLOPs per example, each as a ratio to dense float32 FedAvg. Masks come
from global magnitude pruning of a DAE checkpoint when one is given (`--checkpoint`), else of a
random initialisation (the densities per layer then differ, the totals do not). Also times
`encode` + `decode` of one payload (median of repeats) against `torch.save` of the same state.

Run: `make bench` or `.venv/bin/python benchmarks/traffic.py [--checkpoint runs/.../dae.ckpt]`.
The last line reads `bytes_ratio_s90=<x> flops_ratio_s90=<y>`.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import torch

from fl_lightning.federated.accounting import training_flops_per_example
from fl_lightning.federated.codec import decode, encode, payload_size
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.magnitude import magnitude_prune, prunable_names
from fl_lightning.pruning.mask import Mask
from fl_lightning.pruning.ticket import make_ticket

SPARSITIES = (0.5, 0.8, 0.9, 0.95, 0.98)


def mask_for(state: dict[str, torch.Tensor], sparsity: float, checkpoint: str | None) -> Mask:
    if checkpoint:
        return make_ticket(checkpoint, sparsity).mask
    return magnitude_prune(state, sparsity, "global", names=prunable_names(state))


def median_seconds(fn: object, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", default=None, help="DAE checkpoint whose masks to measure")
    args = parser.parse_args()
    checkpoint = args.checkpoint
    default = Path("runs/pretrain/fashion_mnist/dae.ckpt")
    if checkpoint is None and default.is_file():
        checkpoint = str(default)
    torch.manual_seed(0)
    model = Classifier("cnn", "fashion_mnist")
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    shape = (1, 28, 28)
    dense = Mask({})
    base_bytes = payload_size(state, dense, with_mask=False)
    base_flops = training_flops_per_example(model, None, shape)
    print(f"masks from: {checkpoint or 'random init (no DAE checkpoint found)'}")
    print(f"dense FedAvg: {base_bytes:,} B per payload, {base_flops:,.0f} training FLOPs/example")
    header = (
        f"{'sparsity':>8} {'first down':>12} {'values':>12} {'ratio':>7} "
        f"{'fp16 ratio':>10} {'FLOPs ratio':>11}"
    )
    print(header)
    last = {}
    for sparsity in SPARSITIES:
        mask = mask_for(state, sparsity, checkpoint)
        first = payload_size(state, mask, with_mask=True)
        values = payload_size(state, mask, with_mask=False)
        half = payload_size(state, mask, with_mask=False, codec="float16")
        flops = training_flops_per_example(model, mask, shape)
        last[sparsity] = (values / base_bytes, flops / base_flops)
        print(
            f"{sparsity:>8.2f} {first:>12,} {values:>12,} {values / base_bytes:>7.3f} "
            f"{half / base_bytes:>10.3f} {flops / base_flops:>11.3f}"
        )
    mask = mask_for(state, 0.9, checkpoint)
    payload = encode(state, mask, with_mask=False)
    codec_s = median_seconds(lambda: decode(encode(state, mask, with_mask=False), state, mask))

    def torch_roundtrip() -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)

    save_s = median_seconds(torch_roundtrip)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    print(
        f"sparsity 0.9 payload {len(payload):,} B vs torch.save of the dense state "
        f"{len(buffer.getvalue()):,} B; encode+decode {codec_s * 1e3:.1f} ms vs torch save+load "
        f"{save_s * 1e3:.1f} ms (ratio {codec_s / save_s:.2f})"
    )
    bytes_ratio, flops_ratio = last[0.9]
    print(f"bytes_ratio_s90={bytes_ratio:.4f} flops_ratio_s90={flops_ratio:.4f}")


if __name__ == "__main__":
    main()
