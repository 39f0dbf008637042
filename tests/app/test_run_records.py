"""What runs record, as a user makes them from a folder outside the repository with absolute
paths pasted in: the smoke steps fit together, the recorded sparsity is the ticket's, no file
names an absolute machine path, and every summary and W&B config names the code that ran."""

from __future__ import annotations

import json
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fl_lightning.cli import main
from fl_lightning.tracking.offline_reader import read_offline_run

REPO = Path(__file__).resolve().parents[2]
TEXT_FILES = ("*.yaml", "*.json", "*.md", "*.csv")


@pytest.fixture(scope="module")
def user_run(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pretrain -> prune (sparsity 0.9) -> federate, as the README's commands, run from a
    folder of the user's with absolute paths; the smoke configs as they are (sparsity 0.8)."""
    home = tmp_path_factory.mktemp("user")
    root = str(tiny_fashion_root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        main(
            [
                "pretrain",
                "--config",
                "configs/pretrain/smoke.yaml",
                "--data.root",
                root,
                "--trainer.enable_progress_bar",
                "false",
                "--output",
                str(home / "pre"),
            ]
        )
        main(
            [
                "prune",
                "--checkpoint",
                str(home / "pre" / "dae.ckpt"),
                "--sparsity",
                "0.9",
                "--output",
                str(home / "s90.pt"),
            ]
        )
        main(["federate", "--config", "configs/federate/smoke.yaml", "--method", "proposed",
              "--ticket", str(home / "s90.pt"), "--data.root", root, "--rounds", "1",
              "--output", str(home / "fed")])  # fmt: skip
    return home


def wandb_configs(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The config of every offline W&B run under `folder`."""
    for run in sorted(folder.rglob("offline-run-*")):
        if run.is_dir():
            yield run, read_offline_run(run)["config"]


def absolute_paths_in(folder: Path, *places: Path) -> list[str]:
    """`file: place` for each text file or W&B config under `folder` that names one of `places`
    (or any path under them)."""
    found = []
    texts = [(p, p.read_text()) for pattern in TEXT_FILES for p in folder.rglob(pattern)]
    texts += [(run, json.dumps(config)) for run, config in wandb_configs(folder)]
    for path, text in texts:
        found += [f"{path}: {place}" for place in places if str(place) in text]
    return found


def test_the_smoke_pretraining_fits_the_smoke_federation(user_run: Path) -> None:
    pretrain = yaml.safe_load((REPO / "configs" / "pretrain" / "smoke.yaml").read_text())
    federate = yaml.safe_load((REPO / "configs" / "federate" / "smoke.yaml").read_text())
    assert pretrain["model"]["model"] == federate["model"]["model"]
    assert pretrain["data"]["num_images"] <= federate["data"]["server_images"]
    # and so the ticket of the smoke pre-training federated with no override (the README's API)
    assert (user_run / "fed" / "DONE.json").is_file()


def test_a_ticket_run_records_the_ticket_sparsity(user_run: Path) -> None:
    config = yaml.safe_load((user_run / "fed" / "config.yaml").read_text())
    summary = json.loads((user_run / "fed" / "summary.json").read_text())
    assert config["sparsity"] == 0.9  # the ticket's, not the smoke YAML's 0.8
    assert summary["provenance"]["sparsity"] == 0.9
    assert summary["density"] == pytest.approx(0.1, abs=0.01)
    ((_, wandb),) = wandb_configs(user_run / "fed")
    assert wandb["sparsity"] == 0.9


def test_no_run_file_names_an_absolute_path(user_run: Path, tiny_fashion_root: Path) -> None:
    assert absolute_paths_in(user_run, user_run, REPO, tiny_fashion_root) == []
    # the paths are recorded relative to the folder the commands ran in, so they still work
    config = yaml.safe_load((user_run / "fed" / "config.yaml").read_text())
    assert config["ticket"] == "s90.pt" and config["output"] == "fed"
    assert config["pretrain_config"] == "configs/pretrain/smoke.yaml"
    assert (user_run / config["data"]["root"]).resolve() == tiny_fashion_root.resolve()
    summary = json.loads((user_run / "fed" / "summary.json").read_text())
    assert summary["provenance"]["source_checkpoint"] == "pre/dae.ckpt"
    pretrain = yaml.safe_load((user_run / "pre" / "config.yaml").read_text())
    assert pretrain["output"] == "pre" and pretrain["trainer"]["default_root_dir"] == "pre"


def expected_code() -> dict[str, Any]:
    """The version in pyproject.toml and, in a git checkout, its HEAD (asked of git here)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    code: dict[str, Any] = {"fl_lightning_version": project["version"]}
    if (REPO / ".git").exists():
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True)
        code["git_commit"] = head.stdout.decode().strip()
    return code


def test_every_summary_and_wandb_config_names_the_code(user_run: Path) -> None:
    expected = expected_code()
    summary = json.loads((user_run / "fed" / "summary.json").read_text())
    assert {k: summary["code"][k] for k in expected} == expected
    assert ("git_dirty" in summary["code"]) == ("git_commit" in expected)
    configs = dict(wandb_configs(user_run))
    assert len(configs) == 3  # pretrain, prune, federate
    for run, config in configs.items():
        assert {k: config["code"][k] for k in expected} == expected, run


def test_a_comparison_from_another_folder_records_relative_paths_and_the_code(
    tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "cmp"
    overrides = [
        f"--data.root={tiny_fashion_root}",
        "--data.server_images=100",
        "--data.max_test_examples=100",
        "--rounds=1",
    ]
    main(["compare", "--config", "configs/compare/smoke.yaml", "--methods", "[fedavg]",
          "--overrides", json.dumps(overrides), "--output", str(out)])  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["federate_config"] == "configs/federate/smoke.yaml"
    assert summary["command"].startswith("fl-lightning compare --config configs/compare/smoke.yaml")
    assert summary["command"].endswith(" --output cmp")
    assert absolute_paths_in(out, tmp_path, REPO, tiny_fashion_root) == []
    expected = expected_code()
    assert {k: summary["code"][k] for k in expected} == expected
    assert (
        f"Code: fl_lightning {expected['fl_lightning_version']}" in (out / "summary.md").read_text()
    )
    (run,) = out.glob("runs/*/*/seed0")
    assert json.loads((run / "summary.json").read_text())["code"] == summary["code"]
