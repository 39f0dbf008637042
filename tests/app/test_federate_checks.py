"""`app.federate_checks`: the checks `federate` makes before any work; what a resume matches."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fl_lightning.app.federate_checks import (
    RESUMABLE_OPTIONS,
    check_accelerator,
    check_output,
    check_resume_config,
    filled_seeds,
    recorded_options,
)
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.config import Seeds
from fl_lightning.federated.run_files import RunFiles


def test_filled_seeds_fills_only_the_unset_ones_and_keeps_the_split_in_one_home() -> None:
    seeds = filled_seeds(Seeds(split=7, init=2), seed=5, split_seed=None)
    assert seeds == Seeds(split=7, sampling=5, init=2, data_order=5, rounding=5)
    # data.split_seed at its default (0) or equal to seeds.split is the same fact once
    assert filled_seeds(Seeds(), 3, 0).split == 3
    assert filled_seeds(Seeds(split=4), 0, 4).split == 4
    with pytest.raises(UsageError, match=r"--data\.split_seed=5 and --seeds\.split=7"):
        filled_seeds(Seeds(split=7), 0, 5)
    with pytest.raises(UsageError, match=r"--seeds\.split=-1 \(or --seed\) must be >= 0"):
        filled_seeds(Seeds(), -1, None)  # a base seed out of range reaches every unset one


def test_check_output_takes_a_new_folder_and_refuses_what_it_would_overwrite(
    tmp_path: Path,
) -> None:
    files = RunFiles(tmp_path / "run")
    assert check_output(files, resume=False) is None
    assert not files.dir.exists()  # a check creates nothing
    files.dir.mkdir()
    (files.dir / "dae.ckpt").write_bytes(b"x")
    with pytest.raises(UsageError, match=r"holds a pre-training \(dae\.ckpt\)"):
        check_output(files, resume=False)
    (files.dir / "dae.ckpt").unlink()
    files.summary.write_text("{}")
    with pytest.raises(UsageError, match=r"results of an earlier run \(summary\.json\)"):
        check_output(files, resume=False)
    files.summary.unlink()
    files.labels.write_bytes(b"png")
    with pytest.raises(UsageError, match="that no run of this folder wrote"):
        check_output(files, resume=False)


def test_resume_needs_something_of_ours_to_resume(tmp_path: Path) -> None:
    files = RunFiles(tmp_path / "run")
    files.dir.mkdir()
    (files.dir / "notes.txt").write_text("mine")
    with pytest.raises(UsageError):  # a folder of other things: nothing of ours (a typo?)
        check_output(files, resume=True)
    (files.dir / "notes.txt").unlink()
    (files.dir / "pretrain").mkdir()  # a run killed during its automatic pre-training
    assert check_output(files, resume=True) is None


def test_a_resume_with_other_options_is_refused_naming_them(tmp_path: Path) -> None:
    files = RunFiles(tmp_path / "run")
    started = FederateConfig(output=str(files.dir)).to_yaml()
    checkpoint = {"config": started}
    # what shows, not what computes, may differ: rounds, progress, wandb
    later = FederateConfig(output=str(files.dir), rounds=5, progress=False).to_yaml()
    check_resume_config(files, later, checkpoint, recorded_options())
    other = FederateConfig(output=str(files.dir), scope="layer").to_yaml()
    with pytest.raises(UsageError, match=r"options differ .*scope='layer' \(was 'global'\)"):
        check_resume_config(files, other, checkpoint, recorded_options())
    with pytest.raises(UsageError, match="unreadable"):
        check_resume_config(files, started, {"config": "a: [unclosed"}, recorded_options())
    assert "rounds" in RESUMABLE_OPTIONS and "scope" not in RESUMABLE_OPTIONS


def test_an_option_added_later_compares_at_its_default() -> None:
    """An older config.yaml lacks newer options: `recorded_options` supplies their defaults."""
    recorded = recorded_options()
    assert recorded == yaml.safe_load(FederateConfig().to_yaml())  # no absolute path to record
    assert recorded["federation"]["rounds"] == FederateConfig().federation.rounds


def test_an_accelerator_this_machine_lacks_is_named() -> None:
    check_accelerator(ClientConfig(accelerator="cpu"))
    with pytest.raises(UsageError, match=r"client\.accelerator='no_such_device'"):
        check_accelerator(ClientConfig(accelerator="no_such_device"))
