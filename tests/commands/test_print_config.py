"""`--print_config` output saved anywhere works with `--config` from any folder.

The smoke configs name their neighbours relative to themselves (`pretrain_config:
../pretrain/smoke.yaml`); printed verbatim, a saved copy in another folder pointed nowhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from fl_lightning.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def printed(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--print_config"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_a_printed_federate_config_runs_saved_elsewhere_from_another_folder(
    tiny_fashion_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    here, elsewhere, later = tmp_path / "here", tmp_path / "elsewhere", tmp_path / "later"
    for folder in (here, elsewhere, later):
        folder.mkdir()
    monkeypatch.chdir(here)
    text = printed(
        [
            "federate", "--config", str(CONFIGS / "federate" / "smoke.yaml"),
            "--method", "fedavg", "--data.root", os.path.relpath(tiny_fashion_root, here),
            "--data.server_images", "100", "--data.max_client_examples", "20",
            "--data.max_test_examples", "100", "--rounds", "1",
            "--wandb.enabled", "false",
        ],
        capsys,
    )  # fmt: skip
    config = yaml.safe_load(text)
    # config-relative (../pretrain/smoke.yaml) and current-folder-relative paths, absolute now
    assert config["pretrain_config"] == str((CONFIGS / "pretrain" / "smoke.yaml").resolve())
    assert config["data"]["root"] == str(tiny_fashion_root)
    (elsewhere / "saved.yaml").write_text(text)
    monkeypatch.chdir(later)
    main(["federate", "--config", "../elsewhere/saved.yaml", "--output", "run"])
    summary = json.loads((later / "run" / "summary.json").read_text())
    assert summary["rounds"] == 1


def test_a_printed_compare_config_finds_its_federate_config_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    text = printed(["compare", "--config", str(CONFIGS / "compare" / "smoke.yaml")], capsys)
    federate_config = yaml.safe_load(text)["federate_config"]
    assert federate_config == str((CONFIGS / "federate" / "smoke.yaml").resolve())
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "saved.yaml").write_text(text)
    # --report_only runs nothing: it resolves the federate config, then finds no finished run
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--config", "elsewhere/saved.yaml", "--report_only", "--output", "c"])
    assert exit_info.value.code == 2
    assert "--report_only: no run of this comparison has finished" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["pretrain", "prune"])
def test_input_paths_given_relative_print_absolute(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    if command == "pretrain":
        argv = ["pretrain", "--config", str(CONFIGS / "pretrain" / "smoke.yaml")]
        config = yaml.safe_load(printed([*argv, "--data.root", "data"], capsys))
        assert config["data"]["root"] == str(tmp_path / "data")
        assert config["output"] == "runs/pretrain/smoke"  # where to write stays as given
    else:
        (tmp_path / "p.yaml").write_text("checkpoint: runs/dae.ckpt\nsparsity: 0.5\n")
        config = yaml.safe_load(printed(["prune", "--config", "p.yaml"], capsys))
        assert config["checkpoint"] == str(tmp_path / "runs" / "dae.ckpt")
