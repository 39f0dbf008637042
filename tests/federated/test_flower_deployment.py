"""Flower's deployment runtime on loopback: one flower-superlink, two flower-supernode and
`flwr run deploy/flower`, all on 127.0.0.1 (slow).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fl_lightning.federated.codec import payload_size
from fl_lightning.pruning.mask import Mask
from tests.federated.flower_helpers import (
    free_ports,
    metric_rows,
    stop_processes,
    wait_listening,
)

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "federate" / "smoke.yaml"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.usefixtures("flower_task_identity")


@pytest.mark.slow
def test_deployment_on_loopback(
    tiny_fashion_root: Path, local_smoke: tuple[Path, list[list[int]]], tmp_path: Path
) -> None:
    """One flower-superlink, two flower-supernode, `flwr run deploy/flower`: all on 127.0.0.1."""
    link, node0, node1 = free_ports(3)
    home = tmp_path / "flwr_home"
    flower_env = dict(os.environ)
    # the Flower commands start each other by name: this venv's bin first
    flower_env["PATH"] = f"{BIN}{os.pathsep}{flower_env.get('PATH', '')}"
    flower_env["FLWR_HOME"] = str(home)
    flower_env["FLWR_TELEMETRY_ENABLED"] = "0"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "loopback"\n\n[superlink.loopback]\n'
        f'address = "127.0.0.1:{link}"\ninsecure = true\n'
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> None:
        with (logs / f"{name}.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [str(BIN / args[0]), *args[1:]],
                    cwd=tmp_path,
                    env=flower_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    out = tmp_path / "deployed"
    args = " ".join(
        [
            f"--data.root={tiny_fashion_root}",
            "--data.server_images=100",
            "--data.max_test_examples=200",
            "--data.num_clients=2",
            "--federation.clients_per_round=2",
            "--rounds=2",
            f"--output={out}",
            f"--checkpoint={local_smoke[0] / 'pretrain' / 'dae.ckpt'}",
            "--progress=false",
            "--wandb.enabled=false",
        ]
    )
    try:
        start(
            "superlink",
            "flower-superlink",
            "--insecure",
            "--host",
            "127.0.0.1",
            "--port",
            str(link),
            "--disable-runtime-dependency-installation",
        )
        wait_listening(link, processes[0])
        for i, port in enumerate((node0, node1)):
            start(
                f"supernode{i}",
                "flower-supernode",
                "--insecure",
                "--superlink",
                f"127.0.0.1:{link}",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--node-config",
                f"partition-id={i} num-partitions=2",
            )
        run = subprocess.run(
            [
                str(BIN / "flwr"),
                "run",
                str(REPO / "deploy" / "flower"),
                "loopback",
                "--stream",
                "--run-config",
                f'config="{SMOKE}" args="{args}"',
            ],
            cwd=tmp_path,
            env=flower_env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        deadline = time.monotonic() + 120
        while not (out / "summary.json").is_file() and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        stop_processes(processes)
    assert all(p.poll() is not None for p in processes)
    logs_text = "\n".join(f.read_text(errors="replace")[-3000:] for f in logs.iterdir())
    assert (out / "summary.json").is_file(), run.stdout + logs_text
    rows = metric_rows(out)
    assert [int(row["round"]) for row in rows] == [1, 2]
    assert [int(row["clients/participated"]) for row in rows] == [2, 2]
    # both clients download the mask once, then values only; each uploads values only
    state = torch.load(out / "model.pt", weights_only=False)
    mask = Mask(state["mask"])
    template = state["state_dict"]
    down = [payload_size(template, mask, with_mask=w, codec="float32") for w in (True, False)]
    up = payload_size(template, mask, with_mask=False, codec="float32")
    assert [int(row["comm/down_bytes"]) for row in rows] == [2 * down[0], 2 * down[1]]
    assert [int(row["comm/up_bytes"]) for row in rows] == [2 * up, 2 * up]
