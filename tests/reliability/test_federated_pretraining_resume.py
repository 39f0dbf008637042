"""A federated DAE pre-training stopped at any moment and resumed writes the same dae.ckpt as an
uninterrupted one: the same weights to the bit and the same cost (bytes, FLOPs, rounds).

The fast test stops an in-process run by raising from inside a client's step (mid-round); the
slow one kills a real `python -m fl_lightning pretrain --federated` process with SIGKILL inside
a round, and resumes it. Both depend on each client's DAE noise being seeded per round: unseeded
noise would make the resumed rounds differ.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from fl_lightning.cli import main
from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.dae_client import FederatedDAE
from tests.smoke_runs import without_wall_clock

from .runs import checkpoint_round, command_process, metric_rounds
from .test_resume import has_checkpoint, sigkill, wait_for

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "pretrain" / "federated_smoke.yaml"


class SimulatedKill(BaseException):
    """Stands for SIGKILL: a BaseException, so no `except Exception` in the code catches it."""


def pretrain_args(root: Path, out: Path, *extra: str) -> list[str]:
    """`pretrain --federated` arguments: 6 clients of 20 images, 3 per round, 3 rounds."""
    return [
        "pretrain", "--federated",
        "--config", str(SMOKE),
        "--data.root", str(root),
        "--data.num_clients", "6",
        "--data.max_client_examples", "20",
        "--data.max_test_examples", "100",
        "--data.test_batch_size", "100",
        "--federation.clients_per_round", "3",
        "--federation.rounds", "3",
        "--output", str(out),
        *extra,
    ]  # fmt: skip


def assert_same_checkpoint(ours: Path, reference: Path) -> None:
    """dae.ckpt equal to the bit in every tensor, equal in everything but measured seconds."""
    a = torch.load(ours / "dae.ckpt", weights_only=True)
    b = torch.load(reference / "dae.ckpt", weights_only=True)
    assert a.keys() == b.keys()
    for key in ("state_dict", "initial_encoder_state"):
        assert a[key].keys() == b[key].keys()
        for name, value in b[key].items():
            assert torch.equal(a[key][name], value), (key, name)
    assert without_wall_clock(a["provenance"]) == without_wall_clock(b["provenance"])
    for key in ("hyper_parameters", "fl_lightning", "datamodule_hyper_parameters"):
        assert a[key] == b[key]

    def summary(out: Path) -> Any:
        return without_wall_clock(json.loads((out / "summary.json").read_text()))

    ours_summary, reference_summary = summary(ours), summary(reference)
    ours_summary.pop("code"), reference_summary.pop("code")
    assert ours_summary == reference_summary


@pytest.fixture(scope="module")
def reference(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fdae_reference") / "run"
    main(pretrain_args(tiny_fashion_root, out))
    return out


def test_stopped_mid_round_and_resumed_equals_uninterrupted(
    tiny_fashion_root: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    original = FederatedDAE.train_here
    started: list[int] = []

    def second_client_of_round_2(self: FederatedDAE, r: int, job: ClientJob) -> Any:
        if r == 2:
            started.append(job.client_id)
            if len(started) == 2:
                raise SimulatedKill
        return original(self, r, job)

    monkeypatch.setattr(FederatedDAE, "train_here", second_client_of_round_2)
    with pytest.raises(SimulatedKill):
        main(pretrain_args(tiny_fashion_root, out))
    monkeypatch.undo()
    assert checkpoint_round(out) == 1 and not (out / "dae.ckpt").exists()
    main(pretrain_args(tiny_fashion_root, out, "--resume"))
    assert metric_rounds(out) == [1, 2, 3]
    assert_same_checkpoint(out, reference)


def test_resume_refuses_other_options(
    tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fl_lightning.errors import UsageError

    out = tmp_path / "run"
    monkeypatch.setattr(FederatedDAE, "train_here", _killed)
    with pytest.raises(SimulatedKill):
        main(pretrain_args(tiny_fashion_root, out))
    monkeypatch.undo()
    with pytest.raises(SystemExit) as exit_info:
        main(pretrain_args(tiny_fashion_root, out, "--resume", "--model.lr", "0.01"))
    assert exit_info.value.code == 2
    with pytest.raises(UsageError, match="already holds a run"):
        from fl_lightning.commands.pretrain import main as pretrain_main

        pretrain_main(pretrain_args(tiny_fashion_root, out)[1:])


def _killed(self: FederatedDAE, r: int, job: ClientJob) -> Any:
    raise SimulatedKill


@pytest.mark.slow
def test_sigkill_mid_round_then_resume_equals_uninterrupted(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    """Rounds of 3 clients of 40 local epochs (a second or more each), killed inside round 2."""
    common = ("--client.local_epochs", "40", "--progress", "false")
    reference, out = tmp_path / "reference", tmp_path / "run"
    first = command_process(pretrain_args(tiny_fashion_root, reference, *common))
    assert first.wait() == 0, first.stdout.read().decode() if first.stdout else ""

    victim = command_process(pretrain_args(tiny_fashion_root, out, *common))
    wait_for(has_checkpoint(out, 1), victim)
    time.sleep(0.05)  # a round of 3 clients x 40 local epochs takes far longer
    sigkill(victim)
    assert checkpoint_round(out) == 1 and metric_rounds(out) == [1]
    assert not (out / "dae.ckpt").exists()

    last = command_process(pretrain_args(tiny_fashion_root, out, *common, "--resume"))
    output = last.communicate()[0].decode()
    assert last.returncode == 0, output
    assert metric_rounds(out) == [1, 2, 3]
    assert_same_checkpoint(out, reference)
    assert not list(out.glob(".*.tmp"))  # no temporary file left by a killed write
