"""Engine overhead and memory: RoundEngine against a plain PyTorch loop, side by side.

1. Speed. The same client steps (same clients, same data in the same order, same model, same
   SGD) run once through `RoundEngine` (codec, fresh Lightning Trainer per client, mask
   callback, validation, FedAvg, metrics) and once through a plain PyTorch loop (load state,
   SGD, weighted average). Both read the clients' batches the same way
   (`FederatedDataModule.client_batches`), so a cheaper data path lowers both sides alike.
   Evaluation is excluded from both (`eval_every` past the last round is not possible, so the
   engine evaluates a 1-example test set). Ratio = engine / plain.
2. Memory. Peak RSS of a child process running one engine round with 1000 clients against one
   with 10 clients (same clients per round): the engine keeps no model per client, so the
   ratio should stay near 1.

Run: `make bench` or `.venv/bin/python benchmarks/overhead.py [--rounds 3] [--dataset-root DIR]`.
Where the engine's extra seconds go: `benchmarks/engine_profile.py` (a cProfile breakdown).
The last line reads `overhead_ratio=<x> memory_ratio=<y>`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.engine import FederationConfig, RoundEngine, Seeds
from fl_lightning.federated.sampling import ClientSampler, clients_per_round, data_order_seed
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.mask import Mask


def make_data(num_clients: int, root: str | None, max_test: int | None) -> FederatedDataModule:
    data = FederatedDataModule(
        dataset="fashion_mnist",
        root=root,
        num_clients=num_clients,
        partition="iid",
        server_images=10000,
        max_test_examples=max_test,
    )
    data.setup()
    return data


def engine_seconds(data: FederatedDataModule, rounds: int, k: int, lr: float) -> float:
    torch.manual_seed(0)
    model = Classifier("cnn", "fashion_mnist", lr=lr)
    engine = RoundEngine(
        model=model,
        initial_state=model.state_dict(),
        mask=Mask({}),
        data=data,
        client=ClientConfig(local_epochs=1, batch_size=32),
        federation=FederationConfig(rounds=rounds, clients_per_round=k, eval_every=rounds),
        seeds=Seeds(),
    )
    start = time.perf_counter()
    engine.run()
    return time.perf_counter() - start


def plain_seconds(data: FederatedDataModule, rounds: int, k: int, lr: float) -> float:
    """The same client steps as the engine, in the plainest PyTorch."""
    torch.manual_seed(0)
    model = Classifier("cnn", "fashion_mnist", lr=lr)
    net = torch.nn.Sequential(model.encoder, model.head)
    global_state = {n: v.clone() for n, v in net.state_dict().items()}
    sampler = ClientSampler(0)
    start = time.perf_counter()
    for r in range(1, rounds + 1):
        sampled = sampler.sample(data.num_clients, clients_per_round(k, data.num_clients))
        total = {n: torch.zeros_like(v) for n, v in global_state.items()}
        count = 0
        for cid in sampled:
            net.load_state_dict(global_state)
            opt = torch.optim.SGD(net.parameters(), lr=lr)
            # the engine's own data path (`client_batches`), so the ratio is the engine's cost only
            batches = data.client_batches(cid, seed=data_order_seed(0, r, cid), batch_size=32)
            for x, y in batches:
                opt.zero_grad()
                F.cross_entropy(net(x), y).backward()
                opt.step()
            n = data.num_examples(cid)
            for name, value in net.state_dict().items():
                total[name] += n * value
            count += n
        global_state = {n: v / count for n, v in total.items()}
        # the engine evaluates once at the end on one example: do the same
        x, y = data.test_tensors()
        with torch.no_grad():
            net.load_state_dict(global_state)
            net(x[:1])
    return time.perf_counter() - start


def child_peak_rss(num_clients: int, root: str | None) -> int:
    """Peak RSS (KiB) of a fresh process running one engine round with `num_clients`."""
    code = (
        "import resource, sys; sys.path.insert(0, 'benchmarks');"
        "from overhead import make_data, engine_seconds;"
        f"d = make_data({num_clients}, {root!r}, 1); engine_seconds(d, 1, 10, 0.05);"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds timed per variant")
    parser.add_argument("--clients-per-round", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per variant")
    parser.add_argument(
        "--dataset-root", default=None, help="Fashion-MNIST folder (default: Debian package)"
    )
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = make_data(100, args.dataset_root, 1)
    k, lr = args.clients_per_round, 0.05
    # warm-up both paths (allocator, MKL-DNN kernels, imports)
    engine_seconds(data, 1, 2, lr)
    plain_seconds(data, 1, 2, lr)
    # Interleaved repeats, best of each: a busy machine slows both paths alike, not one block.
    engine_times, plain_times = [], []
    for _ in range(args.repeats):
        engine_times.append(engine_seconds(data, args.rounds, k, lr))
        plain_times.append(plain_seconds(data, args.rounds, k, lr))
    engine, plain = min(engine_times), min(plain_times)
    overhead = engine / plain
    rss_10 = child_peak_rss(10, args.dataset_root)
    rss_1000 = child_peak_rss(1000, args.dataset_root)
    memory = rss_1000 / rss_10
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "clients_per_round": k,
                "engine_seconds": round(engine, 3),
                "plain_seconds": round(plain, 3),
                "peak_rss_kib_10_clients": rss_10,
                "peak_rss_kib_1000_clients": rss_1000,
                "self_peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            },
            indent=2,
        )
    )
    print(f"overhead_ratio={overhead:.3f} memory_ratio={memory:.3f}")


if __name__ == "__main__":
    main()
