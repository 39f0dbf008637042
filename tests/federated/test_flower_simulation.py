"""Flower's simulation engine (Ray) through `fl-lightning federate --engine flower`: the same
clients, bytes and accuracy as the local engine; a raising client counts as failed (slow).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fl_lightning.cli import main
from fl_lightning.federated.faults import FaultInjection, FaultInjector
from tests.federated.flower_helpers import assert_same_rounds, metric_rows, sampling_recorded
from tests.smoke_runs import federate_args

pytestmark = pytest.mark.usefixtures("flower_task_identity")


def test_simulation_matches_local_engine(
    tiny_fashion_root: Path, local_smoke: tuple[Path, list[list[int]]], tmp_path: Path
) -> None:
    import ray

    local, local_sampled = local_smoke
    out = tmp_path / "flower"
    with sampling_recorded() as sampled:
        main(
            federate_args(
                tiny_fashion_root,
                out,
                "--engine",
                "flower",
                "--checkpoint",
                str(local / "pretrain" / "dae.ckpt"),
                "--flower.ray_cpus",
                "2",
            )
        )
    assert sampled == local_sampled and len(sampled) == 3
    for name in ("metrics.csv", "summary.json", "config.yaml", "model.pt", "checkpoint.pt"):
        assert (out / name).is_file(), name
    assert list((out / "wandb").glob("offline-run-*"))
    ours, theirs = metric_rows(out), metric_rows(local)
    assert_same_rounds(ours, theirs)
    summary = json.loads((out / "summary.json").read_text())
    local_summary = json.loads((local / "summary.json").read_text())
    for key in ("down_bytes", "up_bytes", "total_bytes", "client_flops", "rounds"):
        assert summary[key] == local_summary[key], key
    assert not ray.is_initialized()


@pytest.mark.slow
def test_simulation_counts_a_raising_client_as_failed(
    tiny_fashion_root: Path, local_smoke: tuple[Path, list[list[int]]], tmp_path: Path
) -> None:
    out = tmp_path / "faulty"
    main(
        federate_args(
            tiny_fashion_root,
            out,
            "--engine",
            "flower",
            "--checkpoint",
            str(local_smoke[0] / "pretrain" / "dae.ckpt"),
            "--federation.faults.probability",
            "0.3",
            "--federation.faults.seed",
            "6",
            "--federation.faults.kinds",
            '["raise"]',
            "--wandb.enabled",
            "false",
        )
    )
    injector = FaultInjector(FaultInjection(probability=0.3, seed=6, kinds=["raise"]))
    expected = [sum(injector.draw() == "raise" for _ in range(4)) for _ in range(3)]
    assert expected == [1, 1, 1]
    rows = metric_rows(out)
    assert [int(row["clients/failed"]) for row in rows] == expected
    assert [int(row["clients/participated"]) for row in rows] == [3, 3, 3]
    assert all(row["test/acc"] for row in rows)
