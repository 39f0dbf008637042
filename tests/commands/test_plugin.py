"""The example plugin (examples/plugin/): a dataset and a model from outside the package, run
from a folder outside the repository with only the plugin on PYTHONPATH.

The plugin's data are scikit-learn's bundled digits; its model is a small CNN of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "examples" / "plugin"
CONFIGS = PLUGIN / "configs"

pytest.importorskip("sklearn", reason="the example plugin's dataset comes with scikit-learn")


def plugin_env() -> dict[str, str]:
    """The environment of a user's shell: the plugin (and this checkout's package) on the path."""
    path = [str(PLUGIN), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), "WANDB_MODE": "offline"}


def fl_lightning(cwd: Path, *args: str) -> str:
    """`fl-lightning ARGS` in `cwd`; its output, after checking it succeeded."""
    done = subprocess.run(
        [sys.executable, "-m", "fl_lightning", *args],
        cwd=cwd,
        env=plugin_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_pretrain_prune_federate_compare_evaluate_on_the_plugin(tmp_path: Path) -> None:
    """The README's commands, shortened (1 epoch, 2 rounds), from a folder outside the repo."""
    assert not tmp_path.is_relative_to(REPO)
    fl_lightning(
        tmp_path, "pretrain", "--config", str(CONFIGS / "pretrain.yaml"),
        "--trainer.max_epochs", "1", "--output", "runs/pretrain",
    )  # fmt: skip
    fl_lightning(
        tmp_path, "prune", "--checkpoint", "runs/pretrain/dae.ckpt", "--sparsity", "0.8",
        "--output", "runs/ticket.pt",
    )  # fmt: skip
    fl_lightning(
        tmp_path, "federate", "--config", str(CONFIGS / "federate.yaml"),
        "--checkpoint", "runs/pretrain/dae.ckpt", "--ticket", "runs/ticket.pt",
        "--rounds", "2", "--output", "runs/proposed",
    )  # fmt: skip
    summary = json.loads((tmp_path / "runs/proposed/summary.json").read_text())
    assert summary["rounds"] == 2 and summary["density"] == pytest.approx(0.2, abs=0.01)
    config = (tmp_path / "runs/proposed/config.yaml").read_text()
    assert "fl_digits.data:DIGITS" in config and "fl_digits.model:TINY_CNN" in config
    printed = fl_lightning(tmp_path, "evaluate", "--run", "runs/proposed")
    assert f"test/acc {summary['final_test_acc']:.4f}" in printed and "360 test images" in printed
    fl_lightning(
        tmp_path, "compare", "--config", str(CONFIGS / "compare.yaml"),
        "--checkpoint", "runs/pretrain/dae.ckpt", "--methods", "[fedavg, proposed_structured]",
        "--overrides", "[--federation.rounds=1]", "--output", "runs/compare",
    )  # fmt: skip
    assert (tmp_path / "runs/compare/summary.md").is_file()


def test_federate_runs_on_the_plugins_digits_and_model(tmp_path: Path) -> None:
    """One short fedavg run from the plugin's YAML (no pre-training), then the model loaded."""
    fl_lightning(
        tmp_path, "federate", "--config", str(CONFIGS / "federate.yaml"), "--method", "fedavg",
        "--rounds", "1", "--federation.clients_per_round", "2", "--output", "run",
    )  # fmt: skip
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["rounds"] == 1 and 0.0 <= summary["final_test_acc"] <= 1.0
    check = (
        "import fl_lightning as fl; m = fl.load_model('run'); "
        "print(type(m.encoder).__name__, m.hparams['dataset'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, env=plugin_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.stdout.split() == ["TinyCNN", "fl_digits.data:DIGITS"], done.stderr[-2000:]
