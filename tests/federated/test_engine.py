"""RoundEngine and `fl-lightning federate` on tiny data: outputs, zeros, determinism, W&B."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import torch
import yaml

from fl_lightning.cli import main
from fl_lightning.federated.codec import HEADER_SIZE, payload_size
from fl_lightning.models.dae import file_sha256
from fl_lightning.tracking.offline_reader import read_offline_run
from tests.smoke_runs import federate_args, without_wall_clock

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def proposed_run(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("proposed") / "run"
    main(federate_args(tiny_fashion_root, out, "--rounds", "4"))
    return out


def test_outputs_and_metric_columns(proposed_run: Path) -> None:
    for name in ("metrics.csv", "summary.json", "config.yaml", "model.pt", "checkpoint.pt"):
        assert (proposed_run / name).is_file(), name
    rows = list(csv.DictReader((proposed_run / "metrics.csv").open()))
    assert [int(r["round"]) for r in rows] == [1, 2, 3, 4]
    for column in (
        "test/acc",
        "comm/down_bytes",
        "comm/up_bytes",
        "comm/bytes",
        "comm/cum_down_bytes",
        "comm/cum_up_bytes",
        "comm/cum_bytes",
        "compute/flops",
        "compute/cum_flops",
        "compute/cum_client_seconds",
        "model/density",
        "clients/participated",
        "clients/failed",
    ):
        assert column in rows[0]
    summary = json.loads((proposed_run / "summary.json").read_text())
    assert summary["method"] == "proposed" and summary["rounds"] == 4
    assert summary["total_bytes"] == summary["down_bytes"] + summary["up_bytes"]
    assert summary["total_bytes"] == int(rows[-1]["comm/cum_bytes"])
    # per-round figures add up to the running totals, round by round
    cum = 0
    for row in rows:
        assert int(row["comm/bytes"]) == int(row["comm/down_bytes"]) + int(row["comm/up_bytes"])
        cum += int(row["comm/bytes"])
        assert int(row["comm/cum_bytes"]) == cum
    assert sum(float(r["compute/flops"]) for r in rows) == pytest.approx(summary["client_flops"])
    assert float(rows[-1]["compute/cum_flops"]) == pytest.approx(summary["client_flops"])
    assert abs(summary["density"] - 0.2) < 1e-3
    assert summary["final_test_acc"] == float(rows[-1]["test/acc"])
    config = (proposed_run / "config.yaml").read_text()
    assert "data_order: 0" in config and "split_seed: 0" in config


def test_pruned_positions_stay_zero_in_the_final_model(proposed_run: Path) -> None:
    saved = torch.load(proposed_run / "model.pt", weights_only=True)
    assert saved["mask"], "proposed must train a masked model"
    for name, keep in saved["mask"].items():
        weights = saved["state_dict"][name]
        assert torch.all(weights[~keep] == 0), name
        assert torch.count_nonzero(weights[keep]) > 0.99 * keep.sum()


def test_bytes_are_the_payload_formula(proposed_run: Path) -> None:
    """Up bytes per round = clients x (header + 4 x (kept + dense values))."""
    saved = torch.load(proposed_run / "model.pt", weights_only=True)
    from fl_lightning.pruning.mask import Mask

    mask = Mask(saved["mask"])
    state = saved["state_dict"]
    dense = sum(v.numel() for k, v in state.items() if k not in mask)
    per_upload = HEADER_SIZE + 4 * (mask.num_kept + dense)
    assert per_upload == payload_size(state, mask, with_mask=False)
    rows = list(csv.DictReader((proposed_run / "metrics.csv").open()))
    for row in rows:
        assert int(row["comm/up_bytes"]) == int(row["clients/participated"]) * per_upload
        # downloads: values only, plus the bitmap for each client's first download
        downs = int(row["comm/down_bytes"])
        extra = downs - int(row["clients/participated"]) * per_upload
        bitmap = payload_size(state, mask, with_mask=True) - per_upload
        assert extra % bitmap == 0 and 0 <= extra // bitmap <= 4


def test_wandb_run_has_every_round(proposed_run: Path) -> None:
    runs = list((proposed_run / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    history = read_offline_run(runs[0])["history"]
    rounds = [row for row in history if "comm/cum_bytes" in row]
    assert [row["round"] for row in rounds] == [1, 2, 3, 4]
    assert all("test/acc" in row for row in rounds)


def test_wandb_best_accuracy_artifact_lineage_and_provenance(proposed_run: Path) -> None:
    (run,) = (proposed_run / "wandb").glob("offline-run-*")
    logged = read_offline_run(run)
    summary = json.loads((proposed_run / "summary.json").read_text())
    accs = [row["test/acc"] for row in summary["history"]]
    # the run summary keeps the best test/acc beside the last (define_metric)
    assert logged["summary"]["test/acc"] == {"max": max(accs), "last": accs[-1]}
    # the final model is an Artifact made from the DAE checkpoint's Artifact
    dae = proposed_run / "pretrain" / "dae.ckpt"
    (artifact,) = logged["artifacts"]
    assert artifact["type"] == "federated-model" and artifact["files"] == ["model.pt"]
    assert artifact["name"] == "federated-model-" + file_sha256(proposed_run / "model.pt")[:16]
    assert artifact["metadata"]["derived_from"] == ["dae-checkpoint-" + file_sha256(dae)[:16]]
    # seeds and provenance (path, sha256, held-out images, split seed) in W&B, summary, config
    holdout = {"dataset": "fashion_mnist", "source": "holdout", "num_images": 100, "split_seed": 0}
    for provenance in (
        logged["config"]["provenance"],
        summary["provenance"],
        yaml.safe_load((proposed_run / "config.yaml").read_text())["provenance"],
    ):
        assert provenance["source_checkpoint"] == os.path.relpath(dae)  # not absolute
        assert provenance["source_sha256"] == file_sha256(dae)
        assert provenance["holdout"] == holdout
    seeds = {"split": 0, "sampling": 0, "init": 0, "data_order": 0, "rounding": 0}
    assert logged["config"]["seeds"] == seeds
    # the clients' label distribution: written beside the results and logged
    assert (proposed_run / "label_distribution.png").stat().st_size > 1000
    assert any("data/label_distribution/_type" in row for row in logged["history"])


def test_same_seed_same_summary(
    tiny_fashion_root: Path, tmp_path: Path, proposed_run: Path
) -> None:
    out = tmp_path / "again"
    main(
        federate_args(
            tiny_fashion_root,
            out,
            "--rounds",
            "4",
            "--checkpoint",
            str(proposed_run / "pretrain" / "dae.ckpt"),
        )
    )
    first = json.loads((proposed_run / "summary.json").read_text())
    second = json.loads((out / "summary.json").read_text())
    first["provenance"].pop("source_checkpoint")
    second["provenance"].pop("source_checkpoint")
    assert without_wall_clock(first) == without_wall_clock(second)


def test_fedavg_dense_learns(tiny_fashion_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "fedavg"
    main(federate_args(tiny_fashion_root, out, "--method", "fedavg", "--rounds", "5"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["density"] == 1.0 and not (out / "pretrain").exists()
    accs = [row["test/acc"] for row in summary["history"]]
    assert accs[-1] > 0.5 > accs[0] - 0.3  # tiny data is learnable: well above chance (0.1)


def test_existing_run_is_not_overwritten(
    tiny_fashion_root: Path, proposed_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (proposed_run / "summary.json").read_bytes()
    with pytest.raises(SystemExit) as exc:
        main(federate_args(tiny_fashion_root, proposed_run, "--method", "fedavg"))
    assert exc.value.code == 2
    assert "--resume" in capsys.readouterr().err
    assert (proposed_run / "summary.json").read_bytes() == before
