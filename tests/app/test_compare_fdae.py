"""`compare` with the federated-DAE rows: one federated pre-training per partition and seed (its
rounds and clients set in the compare config), and every row's pre-training cost and totals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fl_lightning.cli import main
from fl_lightning.experiments.to_target import Arm, RunCurve, arm_row
from tests.federated.test_federated_pretraining import PAYLOAD

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")


@pytest.fixture(scope="module")
def comparison(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare_fdae") / "c"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        main([
            "compare", "--config", SMOKE, "--output", str(out),
            f"--overrides+=--data.root={tiny_fashion_root}",
            "--overrides+=--federation.clients_per_round=2",
            "--overrides+=--pretrain_overrides=[--trainer.limit_train_batches=2,"
            "--trainer.limit_val_batches=1,--trainer.enable_progress_bar=false]",
            "--methods=[fedavg,proposed,proposed_fdae]", "--target_acc=[0.1]",
            "--fdae.rounds=2", "--fdae.clients_per_round=3", "--wandb.enabled=false",
            "--budget_rounds=[]",
        ])  # fmt: skip
    return out


def rows(out: Path) -> dict[str, dict[str, Any]]:
    summary = json.loads((out / "summary.json").read_text())
    return {row["method"]: row for row in summary["rows"]}


def test_the_federated_pretraining_runs_once_with_the_configs_rounds(comparison: Path) -> None:
    folder = comparison / "pretrain_fdae" / "iid" / "seed0"
    done = json.loads((folder / "summary.json").read_text())
    assert done["federated_pretraining"]["rounds"] == 2
    assert done["federated_pretraining"]["clients_per_round"] == 3
    assert not (folder / "wandb").exists()  # a comparison's pre-training logs no W&B run
    run = json.loads((comparison / "runs/iid/proposed_fdae-s0.8/seed0/summary.json").read_text())
    assert run["provenance"]["method"] == "proposed_fdae"
    assert run["provenance"]["holdout"]["source"] == "clients"


def test_every_row_carries_its_pretraining_cost_and_totals(comparison: Path) -> None:
    by_method = rows(comparison)
    fdae, server, fedavg = by_method["proposed_fdae"], by_method["proposed"], by_method["fedavg"]
    pre_bytes = 2 * 3 * 2 * PAYLOAD  # 2 rounds x 3 clients x (down + up) x the MLP DAE payload
    assert fdae["pretraining_source"] == "clients"
    assert fdae["pretraining_total_bytes"] == pre_bytes and fdae["pretraining_rounds"] == 2
    assert fdae["pretraining_client_flops"] > 0 and fdae["pretraining_server_flops"] == 0
    assert fdae["total_bytes_to_target"] == fdae["bytes_to_target"] + pre_bytes
    assert fdae["total_rounds_to_target"] == fdae["rounds_to_target"] + 2
    assert server["pretraining_source"] == "server"
    assert server["pretraining_total_bytes"] == 0 and server["pretraining_client_flops"] == 0
    assert server["pretraining_server_flops"] > 0  # stated, not hidden
    assert server["total_bytes_to_target"] == server["bytes_to_target"]
    assert fedavg["pretraining_source"] is None and fedavg["pretraining_server_flops"] == 0
    expected = fdae["total_bytes_to_target"] / fedavg["total_bytes_to_target"]
    assert fdae["ratio_total_bytes_vs_fedavg"] == pytest.approx(expected)
    markdown = (comparison / "summary.md").read_text()
    assert "Total cost to the target, pre-training included" in markdown
    assert "| iid | proposed_fdae | 0.8 | clients | 2 |" in markdown


def test_totals_add_the_pretraining_seed_by_seed() -> None:
    def curve(seed: int, acc: float, pre_bytes: int) -> RunCurve:
        row = {
            "round": 1, "test/acc": acc, "comm/cum_bytes": 100.0, "compute/cum_flops": 10.0,
            "compute/cum_client_seconds": 1.0,
        }  # fmt: skip
        cost = {"source": "clients", "rounds": 4, "total_bytes": pre_bytes, "client_flops": 5.0,
                "client_seconds": 2.0, "server_flops": 0.0}  # fmt: skip
        return RunCurve(Arm("iid", "proposed_fdae", 0.9), seed, [row], pretraining=cost)

    row = arm_row(Arm("iid", "proposed_fdae", 0.9), [curve(0, 0.9, 50), curve(1, 0.9, 150)], 0.8)
    assert row["total_bytes_to_target_by_seed"] == [150.0, 250.0]
    assert row["total_bytes_to_target"] == 200.0 and row["pretraining_total_bytes"] == 100.0
    assert row["total_rounds_to_target"] == 5.0 and row["total_flops_to_target"] == 15.0
    assert row["total_seconds_to_target"] == 3.0
    missed = arm_row(Arm("iid", "proposed_fdae", 0.9), [curve(0, 0.9, 50), curve(1, 0.5, 50)], 0.8)
    assert missed["total_bytes_to_target"] is None  # not reached stays not reached


def test_report_options_rank_the_tables_by_total_cost_and_name_the_server_data(
    comparison: Path, tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--report.rank_by total_bytes --report.server_data true` on the finished comparison
    (a copy, `--report_only`): the rows cheapest first by traffic with the pre-training
    included, each with the server images its method needs (the smoke config's 256)."""
    out = tmp_path / "c"
    shutil.copytree(comparison, out, ignore=shutil.ignore_patterns("wandb", "*.lock"))
    monkeypatch.chdir(REPO)
    main([
        "compare", "--config", SMOKE, "--output", str(out),
        f"--overrides+=--data.root={tiny_fashion_root}",
        "--overrides+=--federation.clients_per_round=2",
        "--overrides+=--pretrain_overrides=[--trainer.limit_train_batches=2,"
        "--trainer.limit_val_batches=1,--trainer.enable_progress_bar=false]",
        "--methods=[fedavg,proposed,proposed_fdae]", "--target_acc=[0.1]",
        "--fdae.rounds=2", "--fdae.clients_per_round=3", "--wandb.enabled=false",
        "--budget_rounds=[]", "--report_only=true",
        "--report.rank_by=total_bytes", "--report.server_data=true",
    ])  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["report"] == {"rank_by": "total_bytes", "server_data": True}
    by_total = sorted(summary["rows"], key=lambda r: r["total_bytes_to_target"])
    assert [r["total_bytes_to_target"] is not None for r in by_total] == [True] * 3
    to_target = (out / "summary.md").read_text().split("Best dense method")[0]
    table = [line.split(" | ") for line in to_target.splitlines() if line.startswith("| iid | ")]
    assert [cells[1] for cells in table] == [r["method"] for r in by_total]
    needs = {cells[1]: cells[3] for cells in table}
    assert needs == {"fedavg": "none", "proposed": "256 unlabeled", "proposed_fdae": "none"}
    assert rows(out)["proposed"]["pretraining_server_images"] == 256
