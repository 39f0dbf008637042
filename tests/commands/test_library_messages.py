"""What `pretrain` and `federate` print, run as a user runs them (output in a pipe): their own
lines, one per epoch or round, and none of the libraries' tips and warnings unless `--verbose`
(issue 30, item 6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli_process import run_cli
from tests.experiments.test_compare_console import LIBRARY_NOISE

REPO = Path(__file__).resolve().parents[2]
PRETRAIN = str(REPO / "configs" / "pretrain" / "smoke.yaml")
FEDERATE = str(REPO / "configs" / "federate" / "smoke.yaml")


def pretrain_args(root: Path, output: str, *extra: str) -> list[str]:
    return [
        "pretrain", "--config", PRETRAIN, "--data.root", str(root), "--output", output,
        "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",
        "--trainer.max_epochs=2", *extra,
    ]  # fmt: skip


def test_pretrain_prints_one_line_per_epoch_and_no_library_noise(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    done = run_cli(*pretrain_args(tiny_fashion_root, "dae"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = done.stdout + done.stderr
    assert [noise for noise in LIBRARY_NOISE if noise in printed] == []
    # each epoch's losses on one line, not Lightning's bar wrapped over eight
    for epoch in (1, 2):
        assert re.search(
            rf"^epoch {epoch}/2  train/recon_loss [\d.]+  val/recon_loss [\d.]+  elapsed ",
            done.stdout,
            re.M,
        ), done.stdout
    assert "v_num" not in printed and "recon_loss_step" not in printed
    assert done.stderr == ""


def test_pretrain_verbose_shows_what_the_libraries_say(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    done = run_cli(*pretrain_args(tiny_fashion_root, "dae", "--verbose"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "litlogger" in done.stderr and "weights_only" in done.stderr
    # Lightning's model summary, with the FLOPs of one image (not 0)
    flops = re.search(r"Total FLOPs: ([\d.]+ ?[KMG]?)", done.stdout)
    assert flops is not None and flops.group(1).strip() not in ("0", ""), done.stdout
    assert re.search(r"^epoch 2/2  train/recon_loss ", done.stdout, re.M)


def test_federate_with_its_own_pretraining_prints_no_library_noise(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    done = run_cli(
        "federate", "--config", FEDERATE, "--data.root", str(tiny_fashion_root),
        "--rounds", "1", "--federation.clients_per_round", "2", "--output", "run",
        "--progress", "true",
        "--pretrain_overrides",
        "[--trainer.limit_train_batches=2, --trainer.limit_val_batches=1]",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = done.stdout + done.stderr
    assert [noise for noise in LIBRARY_NOISE if noise in printed] == []
    assert re.search(r"^round 1/1  test/acc ", done.stdout, re.M), done.stdout


@pytest.mark.parametrize("command", ["pretrain", "prune", "federate", "compare"])
def test_every_command_takes_verbose(command: str, tmp_path: Path) -> None:
    done = run_cli(command, "--help", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  --verbose", done.stdout, re.M), done.stdout
