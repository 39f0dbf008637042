"""`fl-lightning compare` as a user runs it, from a folder of their own with output in a pipe:
what it prints (a line per round, which runs are reused, no library noise, no bar frames) and
what it leaves in W&B (a group per output folder, one summary run, one sync command)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fl_lightning.tracking.offline_reader import read_offline_run
from tests.cli_process import run_cli

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")

#: What Lightning, W&B and torch print on every run unless `--verbose` (issue 30, item 6).
LIBRARY_NOISE = (
    "litlogger",
    "litmodels",
    "anonymous setting",
    "_pytree",
    "LeafSpec",
    "weights_only",
    "Total FLOPs: 0",
)


@dataclass(frozen=True)
class Comparisons:
    home: Path  # the user's folder, outside the repository; outputs are relative to it
    first: subprocess.CompletedProcess[str]  # the smoke comparison into a/first
    again: subprocess.CompletedProcess[str]  # the same command again: every run reused
    second: subprocess.CompletedProcess[str]  # fedavg alone into b/second


@pytest.fixture(scope="module")
def comparisons(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Comparisons:
    home = tmp_path_factory.mktemp("user")
    lean = (
        "--overrides+=--federation.clients_per_round=2",
        "--overrides+=--rounds=2",
        "--overrides+=--pretrain_overrides=[--trainer.limit_train_batches=2,"
        "--trainer.limit_val_batches=1]",
        f"--overrides+=--data.root={tiny_fashion_root}",
    )
    first_args = ("compare", "--config", SMOKE, *lean, "--output", "a/first", "--progress=true")
    first = run_cli(*first_args, cwd=home)
    again = run_cli(*first_args, cwd=home)
    second = run_cli(
        "compare", "--config", SMOKE, *lean, "--output", "b/second", "--methods=[fedavg]", cwd=home
    )
    for done in (first, again, second):
        assert done.returncode == 0, done.stderr
    return Comparisons(home, first, again, second)


def offline_runs(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "wandb").glob("offline-run-*") if not p.is_symlink())


def test_each_output_folder_is_its_own_wandb_group(comparisons: Comparisons) -> None:
    """Item 4: the group is `compare-<output folder name>`, not one the shipped YAML fixed."""
    for name, folder in (("second", "b/second"), ("first", "a/first")):
        out = comparisons.home / folder
        [summary] = offline_runs(out)
        assert read_offline_run(summary)["run"]["group"] == f"compare-{name}"
        [fed] = offline_runs(out / "runs" / "iid" / "fedavg" / "seed0")
        assert read_offline_run(fed)["run"]["group"] == f"compare-{name}"
    [pretraining] = offline_runs(comparisons.home / "a" / "first" / "pretrain" / "seed0")
    assert read_offline_run(pretraining)["run"]["group"] == "compare-first"


def test_a_rerun_keeps_one_summary_run(comparisons: Comparisons) -> None:
    """Item 4: the summary run of a folder keeps its id; the re-run's copy replaces the first."""
    printed = re.search(r"^W&B: +\S+/offline-run-\d{8}_\d{6}-(\S+)", comparisons.first.stdout, re.M)
    assert printed is not None, comparisons.first.stdout
    [summary] = offline_runs(comparisons.home / "a" / "first")
    logged = read_offline_run(summary)
    assert logged["run"]["id"] == printed.group(1)
    assert not summary.name.endswith(printed.group(0).rsplit("/", 1)[-1])  # the re-run's copy
    assert logged["run"]["name"] == "compare-first/summary"


def test_the_summary_run_defines_only_metrics_it_logs(comparisons: Comparisons) -> None:
    """Item 4: no `round` step or `test/acc` summary in a run that logs a table and plots."""
    [summary] = offline_runs(comparisons.home / "b" / "second")
    logged = read_offline_run(summary)
    keys = {key.split("/_")[0] for row in logged["history"] for key in row}
    assert "summary" in keys
    assert [m for m in logged["metrics"] if m not in keys] == []


def test_one_printed_command_syncs_every_run_of_the_comparison(comparisons: Comparisons) -> None:
    """Item 4: the last lines name one `wandb sync` command; run (as a dry run) from the
    user's folder, it selects every offline run below the output, nested ones included."""
    line = re.search(r"^upload: +(wandb sync .+)$", comparisons.again.stdout, re.M)
    assert line is not None, comparisons.again.stdout
    command = line.group(1).replace("wandb sync ", "wandb sync --dry-run ", 1)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", command], cwd=comparisons.home, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    would = re.search(r"Would sync (\d+) run", done.stdout + done.stderr)
    assert would is not None, done.stdout + done.stderr
    out = comparisons.home / "a" / "first"
    runs = {
        name
        for folder, _, files in os.walk(out)  # os.walk: the `latest-run` links not followed
        for name in files
        if name.endswith(".wandb") and "offline-run-" in folder
    }
    assert len(runs) == 4  # the summary, the pre-training, two federations
    assert int(would.group(1)) == len(runs)


def test_compare_prints_no_library_noise(comparisons: Comparisons) -> None:
    """Item 6: Lightning's tips, W&B's and torch's warnings stay out unless `--verbose`."""
    printed = comparisons.first.stdout + comparisons.first.stderr
    assert [noise for noise in LIBRARY_NOISE if noise in printed] == []


def test_every_round_is_one_plain_line(comparisons: Comparisons) -> None:
    """Item 8: in a pipe, each federation prints a line per round, as `federate` does."""
    out = comparisons.first.stdout
    for run in ("fedavg, iid, seed 0", "proposed (sparsity 0.8), iid, seed 0"):
        for r in (1, 2):
            line = rf"^{re.escape(run)}: round {r}/2  test/acc [\d.]+  traffic "
            assert re.search(line, out, re.M), out


def test_no_bar_frame_leaks_into_a_pipe(comparisons: Comparisons) -> None:
    """Item 8: the live bar (`--progress=true`) draws nothing where no terminal shows it."""
    for done in (comparisons.first, comparisons.again):
        assert not re.search("[\u2500-\u257f\u2580-\u259f]|\x1b\\[", done.stdout), done.stdout


def test_a_rerun_says_which_runs_are_reused(comparisons: Comparisons) -> None:
    """Item 8: a re-run names each reused run, and runs no round."""
    out = comparisons.again.stdout
    assert re.search(r"^run 1/2: fedavg, iid, seed 0: reused", out, re.M), out
    assert re.search(r"^run 2/2: proposed \(sparsity 0.8\), iid, seed 0: reused", out, re.M), out
    assert " round 1/2 " not in out
