"""`fl-lightning pretrain` end to end on tiny data: outputs, W&B contents, usage errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fl_lightning.cli import main
from fl_lightning.models.dae import file_sha256, load_dae_checkpoint
from fl_lightning.tracking.offline_reader import read_offline_run

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def pretrain_args(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "pretrain",
        "--config",
        str(CONFIGS / "pretrain" / "smoke.yaml"),
        "--data.root",
        str(root),
        "--data.num_images",
        "128",
        "--output",
        str(out),
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    ]


def test_pretrain_smoke_writes_checkpoint_config_and_wandb(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    main(pretrain_args(tiny_fashion_root, out, "--trainer.max_epochs", "2"))
    ckpt = load_dae_checkpoint(out / "dae.ckpt")
    assert ckpt.model == "mlp" and ckpt.dataset == "fashion_mnist"  # the smoke config's
    # pre-training changed the encoder; the initial state is kept for `rewind_init`
    changed = [
        not torch.equal(ckpt.encoder_state[k], ckpt.initial_encoder_state[k])
        for k in ckpt.encoder_state
    ]
    assert any(changed)
    config = (out / "config.yaml").read_text()
    assert "seed_everything: 0" in config and "num_images: 128" in config
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    logged = read_offline_run(runs[0])
    keys = {k for row in logged["history"] for k in row}
    assert "val/recon_loss" in keys and "train/recon_loss_epoch" in keys
    # one reconstruction picture per validation epoch, stored as a PNG in the run
    pictures = [row for row in logged["history"] if "val/reconstructions/_type" in row]
    assert len(pictures) == 2
    pngs = sorted(runs[0].glob("files/media/images/val/reconstructions_*.png"))
    assert pngs
    # the picture has real contrast (wandb turns a [0, 1] float picture all black)
    from PIL import Image

    pixels = np.asarray(Image.open(pngs[-1]).convert("L"))
    # the checkpoint is an Artifact, its hold-out and seed in its metadata and the run config
    (artifact,) = logged["artifacts"]
    assert artifact["name"] == "dae-checkpoint-" + file_sha256(out / "dae.ckpt")[:16]
    assert artifact["type"] == "dae-checkpoint" and artifact["files"] == ["dae.ckpt"]
    assert artifact["metadata"]["holdout"]["num_images"] == 128
    assert logged["config"]["holdout"]["split_seed"] == 0 and logged["config"]["seed"] == 0
    assert pixels.max() - pixels.min() > 100 and pixels.mean() > 5


@pytest.mark.parametrize("off", [["--trainer.logger", "false"], ["--wandb.enabled", "false"]])
def test_pretrain_without_logger(tiny_fashion_root: Path, tmp_path: Path, off: list[str]) -> None:
    out = tmp_path / "nolog"
    main(pretrain_args(tiny_fashion_root, out, *off))
    assert (out / "dae.ckpt").is_file() and not (out / "wandb").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--data.dataset", "imagenet"], "imagenet"),
        (["--model.noise", "masking", "--model.mask_prob", "1.5"], "mask_prob"),
        (["--model.noise", "salt"], "noise"),
    ],
)
def test_usage_errors_exit_2(
    tiny_fashion_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    needle: str,
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(pretrain_args(tiny_fashion_root, tmp_path / "bad", *extra))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_root_without_files_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as exc:
        main(pretrain_args(empty, tmp_path / "out"))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--data.root" in err and "make data" in err


def test_top_level_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])
    text = capsys.readouterr().out
    for command in ("pretrain", "prune", "federate", "compare"):
        assert command in text


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train"])
    assert exc.value.code == 2
    assert "unknown command 'train'" in capsys.readouterr().err
