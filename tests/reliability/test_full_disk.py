"""A full disk or a wandb/ that cannot be written: every command stops with one line and exit
code 2, says what is intact, and leaves nothing half-written.

A full disk is a real one: a small tmpfs mounted for the test (`mount -t tmpfs -o size=...`,
which needs root; elsewhere these tests skip), filled up where a test needs it full. W&B's
service writes from its own process, so the W&B cases run the command as a child process. A
wandb/ that cannot be created is a file where the folder should be (root may write anywhere,
so permission bits would not stop it).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from fl_lightning import atomic
from fl_lightning.cli import main

from .runs import REPO, federate_args
from .test_bad_input import PRETRAIN_SMOKE, dae_checkpoint

SMOKE_COMPARE = str(REPO / "configs" / "compare" / "smoke.yaml")
PAGE = 4096


@contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` for the block (skips the test when mounting fails)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(disk: Path, leave_pages: int = 0) -> None:
    """Fill `disk` up, then free `leave_pages` pages again."""
    filler = disk / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * PAGE) == PAGE:
            pass
    except OSError:
        pass  # full
    finally:
        os.close(fd)
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave_pages * PAGE))


def files_below(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".filler"
    }


def one_line_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run `fl-lightning ARGS` here; it must exit 2 with one error line; returns that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def child(args: list[str], *, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """`python -m fl_lightning ARGS` as a child process (W&B offline), its output captured."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    return subprocess.run(
        [sys.executable, "-m", "fl_lightning", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def assert_one_clean_line(done: subprocess.CompletedProcess[str], command: str) -> str:
    """The child exited 2 with its error as the last line, and printed no noise from W&B."""
    assert done.returncode == 2, done.stderr
    for noise in ("Traceback", "socket.send() raised exception", "Logging error"):
        assert noise not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"fl-lightning {command}: error: cannot write "), line
    return line


def test_prune_on_a_full_disk_keeps_the_earlier_ticket_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = dae_checkpoint(tmp_path / "mlp.ckpt", "mlp")
    with small_disk(tmp_path / "disk", "4m") as disk:
        ticket = disk / "ticket.pt"
        main(["prune", "--checkpoint", str(checkpoint), "--sparsity", "0.5",
              "--output", str(ticket), "--wandb.enabled", "false"])  # fmt: skip
        before = files_below(disk)
        fill(disk, leave_pages=1)  # room for the lock file, none for the ticket
        line = one_line_exit_2(
            ["prune", "--checkpoint", str(checkpoint), "--sparsity", "0.8",
             "--output", str(ticket), "--wandb.enabled", "false"], capsys)  # fmt: skip
        assert line == (
            f"fl-lightning prune: error: cannot write {ticket} (No space left on device); "
            "neither the ticket nor its report was written (any earlier ones are unchanged); "
            "make room (or fix the folder) and prune again."
        )
        assert files_below(disk) == before  # the earlier pair, whole; no temporary left


def test_pretrain_on_a_full_disk_writes_no_checkpoint_and_no_half_file(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        out = disk / "pretrain"
        line = one_line_exit_2(
            ["pretrain", "--config", str(PRETRAIN_SMOKE), "--data.root", str(tiny_fashion_root),
             "--data.num_images", "100", "--model.model", "mlp", "--wandb.enabled", "false",
             "--trainer.enable_progress_bar", "false", "--output", str(out)], capsys)  # fmt: skip
        assert line == (
            f"fl-lightning pretrain: error: cannot write {out} (No space left on device); no "
            "dae.ckpt was written; make room (or fix the folder) and pre-train again with the "
            "same --output."
        )
        assert not (out / "dae.ckpt").exists()
        assert not list(out.rglob("*.tmp"))
        for ckpt in out.rglob("*.ckpt"):  # a checkpoint that is there is whole
            torch.load(ckpt, map_location="cpu", weights_only=False)


def lean_compare(root: Path, out: Path, *extra: str) -> list[str]:
    """`compare` arguments: the smoke grid with fedavg only (no pre-training), 2 rounds."""
    return ["compare", "--config", SMOKE_COMPARE, "--methods=[fedavg]", "--target_acc=[0.2]",
            f"--overrides+=--data.root={root}", "--overrides+=--rounds=2",
            "--overrides+=--federation.clients_per_round=2", "--output", str(out),
            *extra]  # fmt: skip


@pytest.fixture(scope="module")
def finished_comparison(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished lean comparison, W&B on (read it or copy it, never write to it)."""
    out = tmp_path_factory.mktemp("comparison") / "compare"
    main(lean_compare(tiny_fashion_root, out))
    return out


def test_compare_on_a_disk_full_after_its_runs_keeps_them_and_says_so(
    tiny_fashion_root: Path,
    finished_comparison: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with small_disk(tmp_path / "disk", "16m") as disk:
        out = disk / "compare"
        shutil.copytree(finished_comparison, out, symlinks=True)
        runs_before = files_below(out / "runs")
        fill(disk, leave_pages=1)  # room for the lock, none for the report
        line = one_line_exit_2(
            lean_compare(tiny_fashion_root, out, "--wandb.enabled", "false"), capsys
        )
        assert line.startswith(f"fl-lightning compare: error: cannot write {out}")
        assert line.endswith(
            "(No space left on device); every finished run is kept (and each report file is "
            "whole, old or new); make room (or fix the folder), then run the same command "
            "again: finished runs are reused."
        )
        assert files_below(out / "runs") == runs_before
        assert not list(out.glob(".*.tmp"))


def test_compare_refuses_a_wandb_file_before_any_run(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "compare"
    out.mkdir()
    (out / "wandb").write_text("not a folder\n")
    line = one_line_exit_2(lean_compare(tiny_fashion_root, out), capsys)
    assert line == (
        f"fl-lightning compare: error: --output's wandb/ folder='{out}/wandb/run' cannot be "
        f"created: '{out}/wandb' is a file."
    )
    assert not (out / "runs").exists()  # refused before the first run, not after the last


def test_federate_with_its_wandb_folder_on_a_full_disk_is_one_line(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    with small_disk(out / "wandb", "4k"):
        done = child(["federate", *federate_args(tiny_fashion_root, out, "--rounds", "2",
                                                 "--wandb.enabled", "true")])  # fmt: skip
    line = assert_one_clean_line(done, "federate")
    assert line.startswith(
        f"fl-lightning federate: error: cannot write {out}/wandb (W&B: No space left on device); "
    )
    assert "resume with `fl-lightning federate --config" in line


@pytest.mark.slow
def test_compare_with_its_wandb_folder_on_a_full_disk_is_one_line(
    tiny_fashion_root: Path, finished_comparison: Path, tmp_path: Path
) -> None:
    """Every run is finished (reused): only the summary W&B run is written, and cannot be."""
    out = tmp_path / "compare"
    shutil.copytree(finished_comparison, out, symlinks=True)
    shutil.rmtree(out / "wandb")
    with small_disk(out / "wandb", "4k") as wandb_dir:
        fill(wandb_dir)
        done = child(lean_compare(tiny_fashion_root, out))
    line = assert_one_clean_line(done, "compare")
    assert line.startswith(
        f"fl-lightning compare: error: cannot write {out}/wandb (W&B: No space left on device); "
        "every finished run is kept"
    )


def test_prune_on_a_full_disk_anywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no tmpfs can be mounted (not root): the atomic writer told ENOSPC by the test."""
    checkpoint = dae_checkpoint(tmp_path / "mlp.ckpt", "mlp")
    ticket = tmp_path / "out" / "ticket.pt"

    def no_space(target: Path, data: bytes) -> Path:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_write_temporary", no_space)
    line = one_line_exit_2(
        ["prune", "--checkpoint", str(checkpoint), "--sparsity", "0.5",
         "--output", str(ticket), "--wandb.enabled", "false"], capsys)  # fmt: skip
    assert line.startswith(f"fl-lightning prune: error: cannot write {ticket} (No space left")
    assert not (tmp_path / "out").exists()


def test_pretrain_refuses_a_read_only_wandb_folder_before_training(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only wandb/ (a read-only tmpfs mounted there: it stops root too)."""
    out = tmp_path / "pretrain"
    with small_disk(out / "wandb", "64k,ro"):
        line = one_line_exit_2(
            ["pretrain", "--config", str(PRETRAIN_SMOKE), "--data.root", str(tiny_fashion_root),
             "--data.num_images", "100", "--model.model", "mlp", "--output", str(out),
             "--trainer.enable_progress_bar", "false"], capsys)  # fmt: skip
        assert line == (
            f"fl-lightning pretrain: error: --output's wandb/ folder='{out}/wandb/run' cannot be "
            f"written: '{out}/wandb' refuses new files (Read-only file system); choose a "
            "writable folder."
        )
        assert sorted(p.name for p in out.iterdir()) == ["wandb"]  # nothing else written
