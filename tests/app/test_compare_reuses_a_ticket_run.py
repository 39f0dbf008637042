"""`make demo`'s reuse: a comparison given `--checkpoint C` reuses a finished `proposed` run that
federated the ticket pruned from C (same sparsity and scope) instead of running it again, and
refuses one whose ticket is another pruning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fl_lightning.cli import main

DATA = ("--data.server_images=100", "--data.max_test_examples=100", "--rounds=1")


@pytest.fixture(scope="module")
def checkpoint(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pre") / "pre"
    main(["pretrain", "--config", "configs/pretrain/smoke.yaml", "--data.root",
          str(tiny_fashion_root), "--data.num_images", "100", "--trainer.logger", "false",
          "--trainer.enable_progress_bar", "false", "--output", str(out)])  # fmt: skip
    return out / "dae.ckpt"


def federate_ticket(root: Path, checkpoint: Path, folder: Path, *prune: str) -> Path:
    """Prune `checkpoint` at 0.8 (with `prune`'s options) and federate the ticket into the
    comparison folder `folder`'s `proposed` run; returns that run's folder."""
    ticket = folder.parent / f"{folder.name}-ticket.pt"
    main(["prune", "--checkpoint", str(checkpoint), "--sparsity", "0.8", "--wandb.enabled",
          "false", "--output", str(ticket), *prune])  # fmt: skip
    run = folder / "runs" / "iid" / "proposed-s0.8" / "seed0"
    main(["federate", "--config", "configs/federate/smoke.yaml", "--method", "proposed",
          "--ticket", str(ticket), "--data.root", str(root), *DATA, "--wandb.enabled", "false",
          "--output", str(run)])  # fmt: skip
    return run


def compare(root: Path, checkpoint: Path, folder: Path) -> None:
    overrides = json.dumps([f"--data.root={root}", *DATA])
    main(["compare", "--config", "configs/compare/smoke.yaml", "--methods", "[proposed]",
          "--checkpoint", str(checkpoint), "--overrides", overrides, "--wandb.enabled", "false",
          "--output", str(folder)])  # fmt: skip


def test_the_federation_of_the_ticket_is_reused(
    tiny_fashion_root: Path, checkpoint: Path, tmp_path: Path
) -> None:
    run = federate_ticket(tiny_fashion_root, checkpoint, tmp_path / "cmp")
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()}
    compare(tiny_fashion_root, checkpoint, tmp_path / "cmp")
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()} == before
    report = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    final = json.loads((run / "summary.json").read_text())["final_test_acc"]
    assert [r["final_test_acc"] for r in report["rows"]] == [final, final]  # two targets


def test_a_ticket_of_another_pruning_is_refused(
    tiny_fashion_root: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    federate_ticket(tiny_fashion_root, checkpoint, tmp_path / "cmp", "--scope", "layer")
    with pytest.raises(SystemExit) as exit_info:
        compare(tiny_fashion_root, checkpoint, tmp_path / "cmp")
    assert exit_info.value.code == 2
    assert "made with another config" in capsys.readouterr().err
