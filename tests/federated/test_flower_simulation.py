"""Flower's simulation engine (Ray) through `fl-lightning federate --engine flower`: the same
clients, bytes and accuracy as the local engine; a raising client counts as failed (slow).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

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


@pytest.mark.slow
def test_resume_with_error_feedback_equals_the_uninterrupted_run(
    tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Top-k uploads with error feedback: the clients' residuals are run state, checkpointed
    by the engine, so a run stopped after round 2 and resumed ends exactly as one never stopped
    (a resumed simulation's SuperNodes start with empty Contexts). Dense (`fedavg`): a sparse
    run's fresh nodes are sent the mask again, which counts. Three simulations: 1-3 minutes."""
    from tests.reliability.test_resume import SimulatedKill, assert_same_run, stop_when

    def args(out: Path, *extra: str) -> list[str]:
        return federate_args(
            tiny_fashion_root,
            out,
            "--engine", "flower",
            "--flower.ray_cpus", "2",
            "--method", "fedavg",
            "--federation.up_topk", "0.05",
            "--federation.error_feedback", "true",
            "--wandb.enabled", "false",
            *extra,
        )  # fmt: skip

    reference, out = tmp_path / "reference", tmp_path / "run"
    main(args(reference))
    with monkeypatch.context() as patch:
        stop_when(patch, "run_round", lambda engine, r, *rest: r == 3)
        with pytest.raises(SimulatedKill):
            main(args(out))
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=False)
    assert checkpoint["round"] == 2 and checkpoint["residuals"]  # the clients' residuals
    main(args(out, "--resume", "true"))
    assert_same_run(out, reference)
