"""SIGTERM and SIGINT stop a federation cleanly: exit 143 / 130, one line that says where it
stopped and how to resume, the last checkpoint intact, and the resumed run equal to one that was
never stopped. The fast test signals its own process; the slow one real child processes."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fl_lightning.cli import main

from .runs import REFERENCE, checkpoint_round, federate_args, federate_process, metric_rounds
from .test_resume import assert_same_run, assert_same_run_but_wandb, has_checkpoint, wait_for


def _signal_after_checkpoint(out: Path, r: int, signum: int, stop: threading.Event) -> None:
    while not stop.is_set():
        if has_checkpoint(out, r)():
            os.kill(os.getpid(), signum)
            return
        time.sleep(0.01)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_exits_128_plus_signal_and_the_run_resumes_unchanged(
    tiny_fashion_root: Path,
    reference_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signum: int,
    code: int,
) -> None:
    out = tmp_path / "run"
    args = ["federate", *federate_args(tiny_fashion_root, out, *REFERENCE)]
    late: list[int] = []
    previous = signal.signal(signum, lambda s, f: late.append(s))  # a signal after the run: kept
    stop = threading.Event()
    sender = threading.Thread(target=_signal_after_checkpoint, args=(out, 1, signum, stop))
    try:
        sender.start()
        with pytest.raises(SystemExit) as exit_info:
            main(args)
    finally:
        stop.set()
        sender.join()
        signal.signal(signum, previous)
    assert not late, "the run ended before the signal came"
    assert exit_info.value.code == code
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    done = checkpoint_round(out)
    name = signal.Signals(signum).name
    assert err[-1] == (
        f"fl-lightning federate: interrupted at round {done + 1} ({name}); checkpoint.pt (round "
        f"{done}) is intact; resume with `fl-lightning federate --config {out}/config.yaml "
        "--resume true`."
    )
    assert metric_rounds(out)[:done] == list(range(1, done + 1))
    main([*args, "--resume", "true"])
    assert_same_run(out, reference_run)


@pytest.mark.slow
def test_sigterm_then_sigint_mid_round_of_real_processes_then_resume_equals_uninterrupted(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    """Rounds of 4 clients of 40 local epochs: the signals land inside a client's training."""
    common = (
        "--client.local_epochs", "40", "--rounds", "5", "--federation.clients_per_round", "4",
        "--data.max_client_examples", "50",
    )  # fmt: skip
    reference, out = tmp_path / "reference", tmp_path / "run"
    assert federate_process(federate_args(tiny_fashion_root, reference, *common)).wait() == 0
    args = federate_args(tiny_fashion_root, out, *common, "--wandb.enabled", "true")

    def stop(process: Any, r: int, signum: int) -> str:
        wait_for(has_checkpoint(out, r), process)
        time.sleep(0.05)  # inside round r + 1: a round takes far longer
        process.send_signal(signum)
        output: str = process.communicate(timeout=120)[0].decode()
        assert process.returncode == 128 + signum, output
        assert checkpoint_round(out) == r and metric_rounds(out) == list(range(1, r + 1))
        return output

    output = stop(federate_process(args), 2, signal.SIGTERM)
    assert "interrupted at round 3 (SIGTERM); checkpoint.pt (round 2) is intact" in output
    assert "Traceback" not in output
    output = stop(federate_process([*args, "--resume", "true"]), 3, signal.SIGINT)
    assert "interrupted at round 4 (SIGINT); checkpoint.pt (round 3) is intact" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    last = federate_process([*args, "--resume", "true"])
    assert last.wait() == 0
    assert_same_run_but_wandb(out, reference)
