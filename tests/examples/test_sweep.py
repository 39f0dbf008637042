"""examples/sweep.yaml as `wandb agent` runs it, offline (`wandb sweep` needs the W&B server).

For every combination of the grid the test builds the command line the agent would run, with
W&B's own functions (`create_sweep_command`, `create_sweep_command_args`) expanded as
`wandb.wandb_agent.Agent._command_run` expands them, and checks that `fl-lightning federate`
parses it to those values. One combination (two with the slow tests) then runs through the real
CLI with the environment the agent gives its runs (`WANDB_SWEEP_ID`, `WANDB_RUN_ID`,
`WANDB_SWEEP_PARAM_PATH`), on the tiny `configs/federate/smoke.yaml` instead of the demo's
config, and its offline W&B run must carry the sweep's metric.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fl_lightning.app.federate_options import federate_config
from fl_lightning.tracking.metric_names import VAL_ACC
from fl_lightning.tracking.offline_reader import read_offline_run
from fl_lightning.tracking.wandb_run import use_offline_default

wandb_sweeps = pytest.importorskip("wandb.sdk.launch.sweeps.utils")
config_util = pytest.importorskip("wandb.sdk.lib.config_util")

REPO = Path(__file__).resolve().parents[2]
SWEEP: dict[str, Any] = yaml.safe_load((REPO / "examples" / "sweep.yaml").read_text())
SWEEP_CONFIG = "configs/federate/demo.yaml"
TINY_CONFIG = "configs/federate/smoke.yaml"


def grid() -> list[dict[str, Any]]:
    """Every combination of the sweep's parameter values, as the grid search visits them."""
    names = list(SWEEP["parameters"])
    values = [SWEEP["parameters"][name]["values"] for name in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def agent_command(
    params: dict[str, Any], config: str = SWEEP_CONFIG, extra: tuple[str, ...] = ()
) -> list[str]:
    """The argv `wandb agent` runs for one run of the sweep; `config` replaces its federate
    config (the tiny one, for a run in a test), `extra` items go into `command` before
    `${args}` (as README's `--checkpoint`)."""
    command = [str(c).replace(SWEEP_CONFIG, config) for c in SWEEP["command"]]
    at = command.index("${args}")
    command[at:at] = extra
    macros = wandb_sweeps.create_sweep_command_args({"args": as_agent_args(params)})
    macros["program"] = [SWEEP["program"]]
    macros["env"] = ["/usr/bin/env"]
    argv: list[str] = []
    for chunk in wandb_sweeps.create_sweep_command(command):
        argv += macros.get(chunk[2:-1]) or [] if chunk.startswith("${") else [chunk]
    return argv


def as_agent_args(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The `args` of the server's run command: `{name: {"value": value}}`."""
    return {name: {"value": value} for name, value in params.items()}


def test_the_sweep_maximises_validation_accuracy_over_sparsity_and_client_lr() -> None:
    assert SWEEP["method"] in ("grid", "bayes")
    assert SWEEP["metric"] == {"name": VAL_ACC, "goal": "maximize"}  # never test/acc
    assert set(SWEEP["parameters"]) == {"sparsity", "model.lr"}
    assert len(grid()) == 12
    assert "${args}" in SWEEP["command"] and SWEEP_CONFIG in SWEEP["command"]


def test_every_combination_is_a_command_line_federate_parses_to_its_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)  # where the agent is started: the config path is relative
    for params in grid():
        argv = agent_command(params)
        assert argv[:3] == ["/usr/bin/env", "fl-lightning", "federate"]
        assert f"--sparsity={params['sparsity']}" in argv
        cfg = federate_config(args=argv[3:])
        assert (cfg.sparsity, cfg.model.lr) == (params["sparsity"], params["model.lr"])
        assert cfg.method == "proposed" and cfg.data.server_images > 0  # a hold-out to score on


def test_a_run_started_by_the_agent_streams_online_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An offline run would never send the sweep its metric; a plain run stays offline."""
    for name in ("WANDB_MODE", "WANDB_SWEEP_ID", "WANDB_SILENT", "WANDB_DISABLE_GIT"):
        monkeypatch.setenv(name, "restored after the test")
        monkeypatch.delenv(name)
    assert use_offline_default() == "offline"
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")
    assert use_offline_default() == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")  # as the runs below: no server here
    assert use_offline_default() == "offline"


def run_as_agent(params: dict[str, Any], cwd: Path, run_id: str, *extra: str) -> Path:
    """One run of the sweep in `cwd`, started as the agent starts it; its run folder."""
    param_file = cwd / "wandb" / "sweep-test" / f"config-{run_id}.yaml"
    param_file.parent.mkdir(parents=True, exist_ok=True)
    config_util.save_config_file_from_dict(str(param_file), as_agent_args(params))
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SWEEP_ID": "test",
        "WANDB_RUN_ID": run_id,
        "WANDB_SWEEP_PARAM_PATH": str(param_file),
        "WANDB_DIR": str(cwd),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    argv = agent_command(params, TINY_CONFIG, extra)
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (cwd / "runs" / "federate").iterdir()
    return run_dir


def check_run(run_dir: Path, params: dict[str, Any], run_id: str) -> None:
    """The run belongs to the agent's W&B run and its summary holds the sweep's metric."""
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["density"] == pytest.approx(1 - params["sparsity"], abs=0.01)
    (wandb_dir,) = (run_dir / "wandb").glob(f"offline-run-*-{run_id}")
    run = read_offline_run(wandb_dir)
    assert run["run"]["id"] == run_id  # the agent's id, not the one federate would choose
    metric = run["summary"][SWEEP["metric"]["name"]]
    assert 0 < metric <= 1 and metric == summary["final_val_acc"]
    assert run["summary"]["test/acc"]["last"] == summary["final_test_acc"]  # the other figure
    assert run["config"]["sparsity"] == params["sparsity"]
    assert run["config"]["model"]["lr"] == params["model.lr"]


def test_one_combination_through_the_cli_logs_the_sweeps_metric(tmp_path: Path) -> None:
    params = grid()[0]
    check_run(run_as_agent(params, tmp_path, "sweeprun0"), params, "sweeprun0")


@pytest.mark.slow
def test_a_combination_from_a_dae_pretrained_once_logs_the_sweeps_metric(tmp_path: Path) -> None:
    """README's variant: one pre-training for the whole sweep, `--checkpoint` in `command`."""
    pretrain = subprocess.run(
        [sys.executable, "-m", "fl_lightning", "pretrain",
         "--config", "configs/pretrain/smoke.yaml", "--output", "dae"],
        cwd=tmp_path, env={**os.environ, "WANDB_MODE": "offline"}, capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip
    assert pretrain.returncode == 0, pretrain.stderr[-3000:]
    params = grid()[-1]
    run_dir = run_as_agent(params, tmp_path, "sweeprun1", "--checkpoint=dae/dae.ckpt")
    check_run(run_dir, params, "sweeprun1")
    assert not (run_dir / "pretrain").exists()  # the shared DAE, not one of its own
