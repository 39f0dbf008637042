"""`fl-lightning compare --jobs N` and `--executor ray`: the same report as one run at a time."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from fl_lightning.cli import main
from fl_lightning.errors import UsageError
from fl_lightning.experiments.grid_executors import (
    Execution,
    RayOptions,
    run_all,
    threads_per_job,
)
from fl_lightning.tracking.metric_names import WALL_CLOCK_FIELDS

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")
#: Two fedavg runs (seeds 0 and 1) of 2 rounds, 2 clients per round: no pre-training needed.
TWO_RUNS = (
    "--methods=[fedavg]",
    "--seeds=[0, 1]",
    "--overrides+=--rounds=2",
    "--overrides+=--federation.clients_per_round=2",
    "--wandb.enabled=false",
)


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def compare(root: Path, out: Path, *extra: str) -> None:
    args = ["compare", "--config", SMOKE, f"--overrides+=--data.root={root}", *TWO_RUNS]
    main([*args, "--output", str(out), *extra])


def steady(value: Any) -> Any:
    """`value` without wall-clock fields (`*seconds*`), the command line, the W&B group (the
    output folder's name) or the code version (a commit made meanwhile): they may differ."""
    if isinstance(value, dict):
        return {
            k: steady(v)
            for k, v in value.items()
            if k not in WALL_CLOCK_FIELDS
            and "seconds" not in k
            and k not in ("command", "wandb_group", "code")
        }
    if isinstance(value, list):
        return [steady(v) for v in value]
    return value


def report(out: Path) -> Any:
    return steady(json.loads((out / "summary.json").read_text()))


@pytest.fixture(scope="module")
def one_at_a_time(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "grid"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        # One torch thread, as each run of `--jobs 2` and of Ray (num_cpus 1) gets: CPU kernels'
        # sums depend on the thread count (test/loss moved in the 7th digit with 2 against 1).
        compare(tiny_fashion_root, out, "--threads=1")
    return out


def test_threads_split_the_cores_and_options_are_checked() -> None:
    assert [threads_per_job(j, cores=16) for j in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]
    with pytest.raises(UsageError, match=r"--jobs=0"):
        Execution(jobs=0)
    with pytest.raises(UsageError, match=r"--executor='slurm'"):
        Execution(executor="slurm")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"--ray.num_cpus=0"):
        RayOptions(num_cpus=0)
    with pytest.raises(UsageError, match=r"--threads=0 must be >= 1"):
        Execution(threads=0)


def test_threads_apply_to_each_run_here_and_are_restored_after() -> None:
    import torch

    before = torch.get_num_threads()
    seen = [n for _, n in run_all(_torch_threads, [0, 1], Execution(threads=1))]
    assert seen == [1, 1]
    assert torch.get_num_threads() == before


def _torch_threads(_: int) -> int:
    import torch

    return torch.get_num_threads()


def test_fixed_threads_make_the_cnn_grid_identical_with_one_or_two_jobs(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    # The CNN is where thread count shows: its CPU conv kernels split sums by thread.
    cnn = ("--overrides+=--model.model=cnn", "--threads=1")
    compare(tiny_fashion_root, tmp_path / "serial", *cnn)
    compare(tiny_fashion_root, tmp_path / "parallel", *cnn, "--jobs=2")
    serial, parallel = report(tmp_path / "serial"), report(tmp_path / "parallel")
    assert serial == parallel
    assert serial["rows"]  # a real report, not two empty ones


def test_two_jobs_give_the_same_report_as_one(
    tiny_fashion_root: Path, one_at_a_time: Path, tmp_path: Path
) -> None:
    out = tmp_path / "parallel"
    compare(tiny_fashion_root, out, "--jobs=2", "--threads=1")
    assert report(out) == report(one_at_a_time)
    for seed in (0, 1):
        run = out / "runs" / "iid" / "fedavg" / f"seed{seed}" / "summary.json"
        theirs = one_at_a_time / "runs" / "iid" / "fedavg" / f"seed{seed}" / "summary.json"
        assert steady(json.loads(run.read_text())) == steady(json.loads(theirs.read_text()))


def test_a_failing_run_is_reported_while_the_others_finish(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "one_bad"
    broken = out / "runs" / "iid" / "fedavg" / "seed0"
    broken.mkdir(parents=True)
    (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")  # resumed, and cannot be
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        compare(tiny_fashion_root, out, "--jobs=2")
    assert exc.value.code in (1, 2)
    err = capsys.readouterr().err
    assert "1 of 2 runs failed" in err and "seed 0" in err
    assert (out / "runs" / "iid" / "fedavg" / "seed1" / "summary.json").is_file()
    assert not (out / "summary.json").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_ray_executor_on_a_local_cluster_gives_the_same_report(
    tiny_fashion_root: Path, one_at_a_time: Path, tmp_path: Path
) -> None:
    port = _free_port()
    # Ray's socket paths must fit in 107 bytes: pytest's tmp_path is too deep for them
    ray_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
         f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         f"--temp-dir={ray_dir}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(1)
        else:
            pytest.fail(f"the Ray head did not listen on port {port} within 120 s")
        out = tmp_path / "on_ray"
        compare(tiny_fashion_root, out, "--executor=ray", f"--ray.address=127.0.0.1:{port}")
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head and everything it started, only
        head.wait(timeout=60)
        shutil.rmtree(ray_dir, ignore_errors=True)
    assert report(out) == report(one_at_a_time)
