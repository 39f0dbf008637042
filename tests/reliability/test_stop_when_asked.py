"""Stop when asked, whatever runs: a Ctrl-C while torch still imports, `compare --jobs N` (the
queued runs cancelled, the workers stopped with it, none of their tracebacks), Flower's
simulation (the interrupted line and 143 / 130: not Ray's stack dump, not a hang), and a second
signal while the first one's stop is under way (ignored: the exit status is the first's).

Real processes, signalled from outside: SIGTERM to the command's process as a scheduler sends
it, Ctrl-C to its whole process group as a terminal does (`ctrl_c`).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from .runs import (
    REPO,
    checkpoint_round,
    command_process,
    ctrl_c,
    federate_args,
    metric_rounds,
)
from .test_resume import has_checkpoint, wait_for

COMPARE = str(REPO / "configs" / "compare" / "smoke.yaml")


def _stop(process: object, how: str) -> int:
    """Signal `process` as `how` says; the signal whose exit status is expected."""
    assert hasattr(process, "send_signal")
    if how == "sigterm":
        process.send_signal(signal.SIGTERM)
        return signal.SIGTERM
    ctrl_c(process)  # type: ignore[arg-type]
    time.sleep(0.5)  # the stop is under way: a scheduler's SIGTERM now changes nothing
    process.send_signal(signal.SIGTERM)
    return signal.SIGINT


def _clean(output: str) -> None:
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert "SIGTERM received" not in output, output  # Ray's native stack dump


def _imports_torch(pid: int) -> bool:
    try:
        return "/torch/" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="watches /proc/PID/maps")
def test_ctrl_c_while_torch_imports_stops_with_one_line(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    process = command_process(["federate", *federate_args(tiny_fashion_root, out)], session=True)
    wait_for(lambda: _imports_torch(process.pid), process, timeout=60)
    ctrl_c(process)
    output = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 130, output
    _clean(output)
    assert output.strip().splitlines()[-1] == (
        "fl-lightning federate: interrupted (SIGINT); nothing further was written"
    )
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c, then sigterm"])
def test_compare_jobs_stops_its_workers_and_starts_no_queued_run(
    tiny_fashion_root: Path, tmp_path: Path, how: str
) -> None:
    """Four runs on two workers, long enough that none ends before the signal (~40 s)."""
    out = tmp_path / "grid"
    args = [
        "compare", "--config", COMPARE, "--output", str(out), "--jobs", "2",
        "--methods=[fedavg]", "--seeds=[0, 1, 2, 3]", "--wandb.enabled=false",
        f"--overrides+=--data.root={tiny_fashion_root}",
        "--overrides+=--rounds=8",
        "--overrides+=--federation.clients_per_round=2",
        "--overrides+=--client.local_epochs=3",
    ]  # fmt: skip
    process = command_process(args, session=True)
    wait_for(lambda: any(out.glob("runs/*/*/seed*/metrics.csv")), process)
    signum = _stop(process, how)
    output = process.communicate(timeout=180)[0].decode()
    assert process.returncode == 128 + signum, output
    _clean(output)
    assert not list(out.glob("runs/*/*/seed*/DONE.json")), "a run went on to its end"
    started = sorted(out.glob("runs/*/*/seed*"))
    assert 1 <= len(started) <= 2, started  # the workers' runs; the queued ones never started
    name = signal.Signals(signum).name
    last = output.strip().splitlines()[-1]
    assert last.startswith(
        f"fl-lightning compare: interrupted ({name}); finished runs are kept and unfinished "
        "ones resume from their checkpoints: run the same command again to continue ("
    ), last
    for run in started:
        kept = (
            f"checkpoint.pt of round {checkpoint_round(run)} kept"
            if (run / "checkpoint.pt").is_file()
            else "before its first checkpoint"
        )
        assert f"fedavg, iid, seed {run.name.removeprefix('seed')} stopped ({kept})" in last
    assert last.endswith(f"; {4 - len(started)} runs had not started).")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c, then sigterm"])
def test_flower_simulation_stops_with_the_interrupted_line(
    tiny_fashion_root: Path, tmp_path: Path, how: str
) -> None:
    """A real simulation stopped inside round 2 (~30 s): 143 / 130 and the one line, the
    checkpoint of round 1 intact, and the process gone (it used to hang after a Ctrl-C)."""
    out = tmp_path / "run"
    extra = ("--engine", "flower", "--flower.ray_cpus", "2", "--rounds", "6")
    extra += ("--client.local_epochs", "20", "--data.max_client_examples", "50")
    process = command_process(
        ["federate", *federate_args(tiny_fashion_root, out, *extra)], session=True
    )
    wait_for(has_checkpoint(out, 1), process, timeout=300)
    time.sleep(0.2)  # inside round 2: a round takes far longer
    signum = _stop(process, how)
    output = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 128 + signum, output
    _clean(output)
    done = checkpoint_round(out)
    assert output.strip().splitlines()[-1] == (
        f"fl-lightning federate: interrupted at round {done + 1} ({signal.Signals(signum).name}); "
        f"checkpoint.pt (round {done}) is intact; resume with `fl-lightning federate --config "
        f"{out}/config.yaml --resume true`."
    )
    assert metric_rounds(out) == list(range(1, done + 1)) and done < 6
