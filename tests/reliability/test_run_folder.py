"""A run folder belongs to one run: locks, the completion marker, restarts, seeds, divergence,
a full disk. The slow test races two real `python -m fl_lightning federate` processes."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fl_lightning.cli import main
from fl_lightning.federated.sampling import data_order_seed
from fl_lightning.run_lock import FOLDER_LOCK_NAME, RunLock

from .runs import REFERENCE, REPO, checkpoint_round, federate_args, federate_process, summary

SMOKE_COMPARE = str(REPO / "configs" / "compare" / "smoke.yaml")


def test_a_locked_run_folder_is_refused_naming_the_holder(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    with RunLock(out, "--output"), pytest.raises(SystemExit) as exit_info:
        main(["federate", *federate_args(tiny_fashion_root, out, "--rounds", "1")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"--output='{out}' is in use by another run (pid {os.getpid()} on " in err
    assert not out.exists()  # the lock's folder goes with it; the refused run wrote nothing


def test_a_stale_lock_of_a_dead_process_does_not_block(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    stale = {"pid": int(dead.stdout), "host": "here", "command": ["killed"]}
    (out / FOLDER_LOCK_NAME).write_text(json.dumps(stale))  # as SIGKILL leaves it: no flock
    main(["federate", *federate_args(tiny_fashion_root, out, "--rounds", "1")])
    assert summary(out)["rounds"] == 1
    assert not (out / FOLDER_LOCK_NAME).exists()


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("symlink", "is a symbolic link"),
        ("dangling", "is a dangling symbolic link"),
        ("folder", "is a folder"),
        ("hardlink", "is a hard link"),
    ],
)
def test_a_lock_path_that_is_not_a_plain_file_is_refused_and_nothing_is_written(
    tiny_fashion_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    named: str,
) -> None:
    """A link planted as the lock file of a shared output folder must not make the run write
    into the file it names (or create the one a dangling link names)."""
    out, victim = tmp_path / "run", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("someone's data\n")
    lock = out / FOLDER_LOCK_NAME
    if kind == "symlink":
        lock.symlink_to(victim)
    elif kind == "dangling":
        lock.symlink_to(tmp_path / "created-by-the-run")
    elif kind == "folder":
        lock.mkdir()
    else:
        lock.hardlink_to(victim)
    with pytest.raises(SystemExit) as exit_info:
        main(["federate", *federate_args(tiny_fashion_root, out, "--rounds", "1")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"--output='{out}': its lock file '{lock}' {named}, not one this package" in err
    assert victim.read_text() == "someone's data\n"
    assert not (tmp_path / "created-by-the-run").exists()
    assert sorted(p.name for p in out.iterdir()) == [FOLDER_LOCK_NAME]  # the run wrote nothing


def test_the_completion_marker_comes_last_and_compare_reuses_only_complete_runs(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cmp"
    args = [
        "compare", "--config", SMOKE_COMPARE, "--output", str(out), "--methods=[fedavg]",
        "--overrides+=--rounds=2", "--wandb.enabled=false", "--progress=false",
        f"--overrides+=--data.root={tiny_fashion_root}",
    ]  # fmt: skip
    main(args)
    run = out / "runs" / "iid" / "fedavg" / "seed0"
    marker = json.loads((run / "DONE.json").read_text())
    assert marker == {"complete": True, "rounds": 2, "stopped": "rounds"}
    assert (run / "DONE.json").stat().st_mtime_ns >= (run / "model.pt").stat().st_mtime_ns
    # what a compare killed between summary.json and model.pt leaves: no model, no marker
    (run / "model.pt").unlink()
    (run / "DONE.json").unlink()
    main(args)
    assert (run / "model.pt").is_file() and (run / "DONE.json").is_file()


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_and_cleans_up(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".checkpoint.pt.x1y2z3.tmp"  # a round-0 checkpoint write the kill cut short
    stale.write_bytes(b"\0" * 800_000)
    main(["federate", *federate_args(tiny_fashion_root, out, "--rounds", "1", "--resume", "true")])
    assert summary(out)["rounds"] == 1 and checkpoint_round(out) == 1
    assert not stale.exists()


def test_a_date_as_seed_works_and_seeds_below_it_keep_their_data_order(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    main(
        ["federate", *federate_args(tiny_fashion_root, out, "--rounds", "1", "--seed", "20261126")]
    )
    assert summary(out)["seeds"]["data_order"] == 20261126
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == 20261126
    # the largest seed accepted works too, and small seeds keep the data order they had
    assert 0 <= data_order_seed(2**32 - 1, 10**6, 10**6) < 2**31 - 1
    import torch

    old = torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(
        (7 * 1_000_003 + 3) * 1_000_003 + 5)).item()  # fmt: skip
    assert data_order_seed(7, 3, 5) == old


def test_divergence_names_the_learning_rate_and_suggests_no_resume(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = federate_args(tiny_fashion_root, out, "--rounds", "1", "--model.lr", "1e30",
                         "--federation.max_retries", "1")  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(["federate", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "every client update (4 in 2 attempts) was rejected as non-finite" in err
    assert "lower model.lr (now 1e+30)" in err and "--resume" not in err


def _limit_file_size(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_is_one_clear_line_and_the_checkpoint_stays_intact(
    tiny_fashion_root: Path, reference_run: Path, tmp_path: Path
) -> None:
    """The process may not write files as large as a checkpoint (RLIMIT_FSIZE: EFBIG, the
    errno family of ENOSPC), so the next checkpoint after the reference run's 4 rounds fails."""
    out = tmp_path / "run"
    shutil.copytree(reference_run, out)
    limit = (out / "checkpoint.pt").stat().st_size // 2
    args = federate_args(tiny_fashion_root, out, *REFERENCE, "--rounds", "6", "--resume", "true")
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "fl_lightning", "federate", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: _limit_file_size(limit),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("fl-lightning federate: error: cannot write ")
    assert "(File too large); checkpoint.pt (round 4) is intact;" in line
    assert checkpoint_round(out) == 4
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_two_runs_racing_for_one_folder_one_runs_the_other_is_refused(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    # long enough that the loser starts (imports included) while the winner still holds the lock
    common = ("--rounds", "12", "--client.local_epochs", "5")
    runs = {
        seed: federate_process(federate_args(tiny_fashion_root, out, *common, "--seed", seed))
        for seed in ("0", "1")
    }
    outputs = {seed: p.communicate()[0].decode() for seed, p in runs.items()}
    codes = {seed: p.returncode for seed, p in runs.items()}
    assert sorted(codes.values()) == [0, 2], outputs
    winner = next(seed for seed, code in codes.items() if code == 0)
    loser = next(seed for seed, code in codes.items() if code == 2)
    assert f"--output='{out}' is in use by another run (pid " in outputs[loser]
    # the folder holds the winner's run only, every file of it
    assert summary(out)["seeds"]["split"] == int(winner)
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == int(winner)
    assert json.loads((out / "DONE.json").read_text())["complete"] is True
