"""What the reliability tests share: tiny federations through the CLI, a subprocess or the engine.

Every run here is `fedavg` on the tiny dataset (no DAE pre-training), with W&B and the progress
bar off unless a test turns them on: 10 clients of at most 20 examples, 2 per round.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.engine import FederationConfig, RoundEngine, Seeds
from fl_lightning.federated.run_files import RunFiles, RunFilesRecorder
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.mask import Mask

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "federate" / "smoke.yaml"
#: The reference federation (`reference_run`): 4 rounds, 30% of client updates fail by injection.
REFERENCE = ("--rounds", "4", "--federation.faults.probability", "0.3")


def federate_args(root: Path, out: Path, *extra: str) -> list[str]:
    """`fl-lightning federate` arguments (after `federate`) for a tiny fedavg run into `out`."""
    return [
        "--config", str(SMOKE),
        "--method", "fedavg",
        "--data.root", str(root),
        "--data.server_images", "100",
        "--data.max_client_examples", "20",
        "--data.max_test_examples", "100",
        "--client.batch_size", "10",
        "--federation.clients_per_round", "2",
        "--wandb.enabled", "false",
        "--progress", "false",
        "--output", str(out),
        *extra,
    ]  # fmt: skip


def federate_process(args: list[str]) -> subprocess.Popen[bytes]:
    """`python -m fl_lightning federate ARGS` as a child process (its output goes to a pipe)."""
    return command_process(["federate", *args])


def command_process(args: list[str], *, session: bool = False) -> subprocess.Popen[bytes]:
    """`python -m fl_lightning ARGS` as a child process (its output goes to a pipe); with
    `session`, in a process group of its own, which `ctrl_c` signals as a terminal would."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "fl_lightning", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=session,
    )


def ctrl_c(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to the process and everything it started (its process group), as a terminal's
    Ctrl-C sends it (the process must have been started with `session=True`)."""
    os.killpg(process.pid, signal.SIGINT)


def summary(out: Path) -> dict[str, Any]:
    """The run's summary.json."""
    result: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return result


def metric_rounds(out: Path) -> list[int]:
    """The `round` column of the run's metrics.csv, in file order."""
    if not (out / "metrics.csv").is_file():
        return []
    with (out / "metrics.csv").open() as f:
        return [int(row["round"]) for row in csv.DictReader(f)]


def checkpoint_round(out: Path) -> int:
    """The round that the run's checkpoint.pt has finished."""
    return int(RunFiles(out).read_checkpoint()["round"])


def tiny_engine(
    root: Path,
    *,
    federation: FederationConfig | None = None,
    client: ClientConfig | None = None,
    mask: Mask | None = None,
    files: RunFiles | None = None,
    num_clients: int = 6,
) -> RoundEngine:
    """A `RoundEngine` over the tiny dataset: MLP, `num_clients` clients of 20 examples."""
    data = FederatedDataModule(
        root=str(root),
        num_clients=num_clients,
        server_images=100,
        max_client_examples=20,
        max_test_examples=100,
        test_batch_size=100,
    )
    torch.manual_seed(0)
    model = Classifier(model="mlp")
    return RoundEngine(
        model=model,
        initial_state={k: v.detach().clone() for k, v in model.state_dict().items()},
        mask=mask if mask is not None else Mask({}),
        data=data,
        client=client or ClientConfig(batch_size=10),
        federation=federation or FederationConfig(rounds=1, clients_per_round=3),
        seeds=Seeds(),
        method="fedavg",
        observers=[RunFilesRecorder(files)] if files is not None else [],
    )
