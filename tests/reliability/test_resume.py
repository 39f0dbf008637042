"""Resume: a federation stopped at any moment and resumed ends exactly as an uninterrupted one.

The fast tests stop an in-process run by raising from inside it (mid-round, and between the
metrics and the checkpoint of a round); the slow one kills a real `python -m fl_lightning
federate` process with SIGKILL, mid-round and right after a checkpoint, and resumes it twice.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from fl_lightning.cli import main
from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.engine import RoundEngine
from fl_lightning.federated.run_files import RunFiles
from fl_lightning.tracking.offline_reader import read_offline_run
from tests.pruning.test_ticket import write_dae_checkpoint
from tests.smoke_runs import without_wall_clock

from .runs import (
    REFERENCE,
    checkpoint_round,
    federate_args,
    federate_process,
    metric_rounds,
    summary,
)


class SimulatedKill(BaseException):
    """Stands for SIGKILL: a BaseException, so no `except Exception` in the code catches it."""


def assert_same_run(resumed: Path, reference: Path) -> None:
    """summary.json equal apart from wall-clock fields, the same final model, same config."""
    assert without_wall_clock(summary(resumed)) == without_wall_clock(summary(reference))
    ours = torch.load(resumed / "model.pt", weights_only=True)
    theirs = torch.load(reference / "model.pt", weights_only=True)
    assert ours["state_dict"].keys() == theirs["state_dict"].keys()
    for name, value in theirs["state_dict"].items():
        assert torch.equal(ours["state_dict"][name], value), name

    def config(out: Path) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load((out / "config.yaml").read_text())
        return {k: v for k, v in loaded.items() if k != "output"}

    assert config(resumed) == config(reference)
    assert config(resumed)["resume"] is False  # config.yaml describes the run, not its parts


def stop_when(monkeypatch: pytest.MonkeyPatch, name: str, condition: Callable[..., bool]) -> None:
    """Make `RoundEngine.<name>` raise `SimulatedKill` (before doing anything) once `condition`."""
    original = getattr(RoundEngine, name)

    def stopping(self: RoundEngine, *args: Any) -> Any:
        if condition(self, *args):
            raise SimulatedKill
        return original(self, *args)

    monkeypatch.setattr(RoundEngine, name, stopping)


def test_stopped_mid_round_and_resumed_equals_uninterrupted(
    tiny_fashion_root: Path, reference_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    args = ["federate", *federate_args(tiny_fashion_root, out, *REFERENCE)]
    started: list[int] = []

    def second_client_of_round_3(engine: RoundEngine, r: int, job: ClientJob) -> bool:
        started.extend([job.client_id] if r == 3 else [])
        return len(started) == 2  # it never returns

    stop_when(monkeypatch, "train_here", second_client_of_round_3)
    with pytest.raises(SimulatedKill):
        main(args)
    assert metric_rounds(out) == [1, 2] and checkpoint_round(out) == 2
    monkeypatch.undo()
    main([*args, "--resume", "true"])
    assert metric_rounds(out) == [1, 2, 3, 4]
    assert_same_run(out, reference_run)


def test_stopped_between_metrics_and_checkpoint_and_resumed_equals_uninterrupted(
    tiny_fashion_root: Path, reference_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    args = ["federate", *federate_args(tiny_fashion_root, out, *REFERENCE)]
    original = RunFiles.write_checkpoint

    def write_checkpoint(self: RunFiles, state: dict[str, Any]) -> None:
        if state["round"] == 3:  # round 3's metrics are written, its checkpoint is not
            raise SimulatedKill
        original(self, state)

    monkeypatch.setattr(RunFiles, "write_checkpoint", write_checkpoint)
    with pytest.raises(SimulatedKill):
        main(args)
    assert metric_rounds(out) == [1, 2, 3] and checkpoint_round(out) == 2
    monkeypatch.undo()
    main([*args, "--resume", "true"])
    assert metric_rounds(out) == [1, 2, 3, 4]  # round 3 was redone, and is there once
    assert_same_run(out, reference_run)


def test_stopped_in_the_first_round_can_be_resumed(
    tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    args = ["federate", *federate_args(tiny_fashion_root, out, "--rounds", "1")]
    stop_when(monkeypatch, "train_here", lambda *_: True)
    with pytest.raises(SimulatedKill):
        main(args)
    assert checkpoint_round(out) == 0 and metric_rounds(out) == []
    monkeypatch.undo()
    main([*args, "--resume", "true"])
    assert metric_rounds(out) == [1] and summary(out)["rounds"] == 1


def test_resume_without_a_checkpoint_exits_2_and_writes_nothing(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    empty.mkdir()
    for out in (missing, empty):
        with pytest.raises(SystemExit) as exit_info:
            main(["federate", *federate_args(tiny_fashion_root, out, "--resume", "true")])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert f"--resume: no checkpoint in '{out}'" in err and "without --resume" in err
    assert not missing.exists() and list(empty.iterdir()) == []


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_resume_with_other_options_is_refused(
    tiny_fashion_root: Path, reference_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    shutil.copytree(reference_run, out)
    before = snapshot(out)
    for extra, named in (
        (["--model.lr", "0.1"], "model.lr=0.1 (was 0.05)"),
        (["--seed", "3"], "seed=3 (was 0)"),
    ):
        args = federate_args(tiny_fashion_root, out, *REFERENCE, *extra, "--resume", "true")
        with pytest.raises(SystemExit) as exit_info:
            main(["federate", *args])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert named in err and "--resume" in err, err
    # fewer rounds than the checkpoint has done
    args = federate_args(tiny_fashion_root, out, *REFERENCE, "--resume", "true", "--rounds", "3")
    with pytest.raises(SystemExit) as exit_info:
        main(["federate", *args])
    assert exit_info.value.code == 2
    assert "the checkpoint has finished 4 rounds, more than --rounds=3" in capsys.readouterr().err
    assert snapshot(out) == before


def test_finished_run_resumed_with_more_rounds_goes_on(
    tiny_fashion_root: Path, reference_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(reference_run, out)
    main(
        [
            "federate",
            *federate_args(tiny_fashion_root, out, *REFERENCE, "--rounds", "5", "--resume"),
        ]
    )
    assert metric_rounds(out) == [1, 2, 3, 4, 5]
    before, after = summary(reference_run), summary(out)
    assert after["rounds"] == 5 and after["stopped"] == "rounds"
    assert without_wall_clock(after["history"][:4]) == without_wall_clock(before["history"])
    assert after["total_bytes"] > before["total_bytes"]


def test_resume_continues_its_own_wandb_run_not_another_commands(
    tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`prune --output DIR/ticket.pt` writes its W&B run into DIR/wandb/ first; a federation in
    DIR stopped in round 2 and resumed logs every round to its own run, none to prune's."""
    out = tmp_path / "run"
    ckpt = write_dae_checkpoint(tmp_path / "dae.ckpt")
    main(["prune", "--checkpoint", str(ckpt), "--sparsity", "0.5", "--output", str(out / "t.pt")])
    [prune_run] = (out / "wandb").glob("offline-run-*")
    prune_id = read_offline_run(prune_run)["run"]["id"]
    args = ["federate", *federate_args(tiny_fashion_root, out, "--rounds", "3")]
    args += ["--wandb.enabled", "true"]
    stop_when(monkeypatch, "train_here", lambda engine, r, job: r == 2)
    with pytest.raises(SimulatedKill):
        main(args)
    monkeypatch.undo()
    main([*args, "--resume", "true"])
    rounds: dict[str, list[int]] = {}
    for part in sorted((out / "wandb").glob("offline-run-*")):
        history = read_offline_run(part)["history"]
        logged = [int(row["round"]) for row in history if "comm/cum_bytes" in row]
        # the id from the run record: a part resumed within the same second is `<id>-1`
        rounds.setdefault(read_offline_run(part)["run"]["id"], []).extend(logged)
    assert rounds.pop(prune_id) == []
    [(run_id, logged)] = rounds.items()
    assert sorted(logged) == [1, 2, 3]
    assert RunFiles(out).read_checkpoint()["wandb_run_id"] == run_id


# -- a real process, killed ------------------------------------------------------------------
def wait_for(condition: Callable[[], bool], process: Any, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"federate exited early ({process.returncode}):\n{output}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the federation")
        time.sleep(0.02)


def has_checkpoint(out: Path, r: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return checkpoint_round(out) >= r
        except Exception:  # not there yet
            return False

    return check


def sigkill(process: Any) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_sigkill_mid_round_and_between_rounds_then_resume_equals_uninterrupted(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    """Rounds of 4 clients of 10 local epochs (a second or more each); W&B on, as users run it."""
    common = (
        "--client.local_epochs",  # long enough rounds that the kill lands inside one
        "40",
        "--rounds",
        "6",
        "--federation.clients_per_round",
        "4",
        "--data.max_client_examples",
        "50",
        "--federation.faults.probability",
        "0.2",
    )
    reference, out = tmp_path / "reference", tmp_path / "run"
    assert federate_process(federate_args(tiny_fashion_root, reference, *common)).wait() == 0

    args = federate_args(tiny_fashion_root, out, *common, "--wandb.enabled", "true")
    # 1: killed inside round 3, 0.05 s after checkpoint 2
    victim = federate_process(args)
    wait_for(has_checkpoint(out, 2), victim)
    time.sleep(0.05)  # a round of 4 clients x 40 local epochs takes far longer
    sigkill(victim)
    assert checkpoint_round(out) == 2 and metric_rounds(out) == [1, 2]
    # 2: resumed, then killed between rounds, right after checkpoint 3 appeared
    victim = federate_process([*args, "--resume", "true"])
    wait_for(has_checkpoint(out, 3), victim)
    sigkill(victim)
    done = checkpoint_round(out)
    assert done >= 3 and metric_rounds(out)[:done] == list(range(1, done + 1))
    # 3: resumed to the end
    last = federate_process([*args, "--resume", "true"])
    output = last.communicate()[0].decode()
    assert last.returncode == 0, output

    assert metric_rounds(out) == [1, 2, 3, 4, 5, 6]
    assert_same_run_but_wandb(out, reference)
    assert not list(out.glob(".*.tmp"))  # no temporary file left by a killed write
    # one W&B run (one id over its parts) that holds every round exactly once
    parts = sorted((out / "wandb").glob("offline-run-*"))
    assert len({p.name.rsplit("-", 1)[1] for p in parts}) == 1
    logged = [
        row["round"]
        for part in parts
        for row in read_offline_run(part)["history"]
        if "comm/cum_bytes" in row
    ]
    assert sorted(logged) == [1, 2, 3, 4, 5, 6]


def assert_same_run_but_wandb(out: Path, reference: Path) -> None:
    """`assert_same_run`, for runs that differ only in whether W&B was on."""
    assert without_wall_clock(summary(out)) == without_wall_clock(summary(reference))
    ours = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    theirs = torch.load(reference / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(ours[k], v) for k, v in theirs.items())
