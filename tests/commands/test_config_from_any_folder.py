"""`--config configs/...` works from any folder: the packaged configs stand in for a checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from fl_lightning.cli import main
from fl_lightning.config_paths import PACKAGED_CONFIGS
from fl_lightning.errors import UsageError
from fl_lightning.parsers.config_args import packaged_config_args


def test_a_packaged_config_is_found_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    smoke = str(PACKAGED_CONFIGS / "federate" / "smoke.yaml")
    args = ["--config", "configs/federate/smoke.yaml", "-c", "configs/compare/smoke.yaml"]
    assert packaged_config_args([*args, "--config=configs/federate/smoke.yaml"]) == [
        "--config",
        smoke,
        "-c",
        str(PACKAGED_CONFIGS / "compare" / "smoke.yaml"),
        f"--config={smoke}",
    ]
    # a file that exists here wins; an unknown name is left for the parser's own error
    (tmp_path / "configs" / "federate").mkdir(parents=True)
    (tmp_path / "configs" / "federate" / "smoke.yaml").write_text("rounds: 1\n")
    kept = ["--config", "configs/federate/smoke.yaml", "--config", "nowhere.yaml", "--title", "-c"]
    assert packaged_config_args(kept) == kept


def test_the_command_line_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["federate", "--config", "configs/federate/smoke.yaml", "--print_config"])
    assert exc.value.code == 0
    assert "rounds: 3" in capsys.readouterr().out  # the smoke federation's own value


def test_the_python_api_finds_the_packaged_configs_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fl_lightning as fl

    monkeypatch.chdir(tmp_path)
    cfg = fl.federate_config("configs/federate/smoke.yaml")
    assert cfg.method == "proposed" and cfg.federation.rounds == 3  # the smoke file's values
    # pre-training's config is found when the arguments are built (no file here)
    args = fl.PretrainConfig("configs/pretrain/smoke.yaml").cli_args()
    assert Path(args[1]).samefile(PACKAGED_CONFIGS / "pretrain" / "smoke.yaml")
    with pytest.raises(UsageError, match=r"nowhere\.yaml.*no such file"):
        fl.federate_config("nowhere.yaml")
