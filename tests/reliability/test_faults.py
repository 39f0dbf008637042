"""Client faults: injected failures, time limits and too few clients, each counted and explained.

A failed client is counted in `clients/failed`, logged with its reason and left out of the
round's average; a round below `min_clients` is retried with a fresh sample, then the run stops
with a clear error and its last checkpoint intact.
"""

from __future__ import annotations

import csv
import logging
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from fl_lightning.cli import main
from fl_lightning.federated import client as client_module
from fl_lightning.federated.client import ClientConfig, ClientResult
from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.codec import decode
from fl_lightning.federated.engine import FederationConfig, RoundEngine
from fl_lightning.federated.faults import FaultInjection, FaultKind
from fl_lightning.federated.run_files import RunFiles
from fl_lightning.federated.sampling import ClientSampler

from .runs import REFERENCE, checkpoint_round, federate_args, metric_rounds, summary, tiny_engine

ENGINE_LOG = "fl_lightning.federated.engine"


def failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The engine's `client N failed: ...` log messages."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == ENGINE_LOG and "failed:" in r.getMessage()
    ]


def test_30_percent_injected_faults_are_exactly_the_failed_clients(reference_run: Path) -> None:
    """The reference run: 4 rounds, 2 clients each, fault probability 0.3 (seed 0)."""
    with (reference_run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["round"]) for r in rows] == [1, 2, 3, 4]  # the federation completed
    failed = [int(r["clients/failed"]) for r in rows]
    injected = [int(r["faults/injected"]) for r in rows]
    assert failed == injected and sum(injected) == 4  # one round needed a retry (3 of 4 failed)
    assert all(int(r["clients/participated"]) >= 1 for r in rows)
    state = RunFiles(reference_run).read_checkpoint()
    assert state["faults"]["injected"] == sum(failed)
    assert summary(reference_run)["history"][-1]["faults/injected"] == injected[-1]


EXPECTED_REASON = {
    "raise": "InjectedFault: injected failure of client",
    "empty": "PayloadError: payload truncated: 0 bytes",
    "corrupt": "PayloadError: payload fails its CRC32 check",
    "nan": "UpdateRejected: update's 'encoder.fc1.bias' has 200 non-finite values",
}


@pytest.mark.parametrize("kind", ["raise", "empty", "corrupt", "nan"])
def test_each_fault_kind_is_refused_for_its_reason(
    kind: FaultKind, tiny_fashion_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # seed 4 at probability 0.5 fails the 2nd and 3rd of 4 sampled clients
    faults = FaultInjection(probability=0.5, seed=4, kinds=[kind])
    engine = tiny_engine(
        tiny_fashion_root, federation=FederationConfig(rounds=1, clients_per_round=4, faults=faults)
    )
    with caplog.at_level(logging.WARNING, logger=ENGINE_LOG):
        row = engine.run_round(1)
    assert row["clients/failed"] == row["faults/injected"] == engine.faults.injected == 2
    assert row["clients/participated"] == 2
    messages = failures(caplog)
    assert len(messages) == 2
    assert all(EXPECTED_REASON[kind] in m for m in messages), messages


def test_failed_clients_are_left_out_of_the_average(
    tiny_fashion_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The global model is the example-weighted mean of the successful uploads only."""
    faults = FaultInjection(probability=0.5, seed=4, kinds=["corrupt"])
    engine = tiny_engine(
        tiny_fashion_root, federation=FederationConfig(rounds=1, clients_per_round=4, faults=faults)
    )
    uploads: list[tuple[ClientResult, str | None]] = []
    original = engine.train_here

    def recording(r: int, job: ClientJob) -> ClientResult:
        result = original(r, job)
        uploads.append((result, job.fault))
        return result

    monkeypatch.setattr(engine, "train_here", recording)
    template = dict(engine.global_state)
    engine.run_round(1)
    good = [
        (decode(res.payload, template, engine.mask, reference=template)[0], res.num_examples)
        for res, f in uploads
        if f is None
    ]
    assert len(good) == 2 and len(uploads) == 4
    total = sum(n for _, n in good)
    for name, value in engine.global_state.items():
        expected = torch.stack([state[name].double() * n for state, n in good]).sum(0) / total
        torch.testing.assert_close(value, expected.float(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["corrupt", "nan"])
def test_a_refused_upload_still_counts_its_bytes(
    kind: FaultKind, tiny_fashion_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upload the server refuses (CRC, non-finite values) crossed the wire: `comm/up_bytes`
    is the sum of every reply's length, the refused ones included."""
    faults = FaultInjection(probability=0.5, seed=4, kinds=[kind])
    engine = tiny_engine(
        tiny_fashion_root, federation=FederationConfig(rounds=1, clients_per_round=4, faults=faults)
    )
    lengths: list[int] = []
    original = engine.train_here

    def recording(r: int, job: ClientJob) -> ClientResult:
        result = original(r, job)
        lengths.append(len(result.payload))
        return result

    monkeypatch.setattr(engine, "train_here", recording)
    row = engine.run_round(1)
    assert row["clients/failed"] == 2 and len(lengths) == 4 and min(lengths) > 0
    assert row["comm/up_bytes"] == row["comm/cum_up_bytes"] == sum(lengths)


def test_no_fault_column_without_fault_injection(tiny_fashion_root: Path) -> None:
    engine = tiny_engine(tiny_fashion_root)
    row = engine.run_round(1)
    assert "faults/injected" not in row and row["clients/failed"] == 0


def test_a_client_over_its_time_limit_counts_as_failed(
    tiny_fashion_root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A fake clock: client 'slow' spends 10 s per batch, the limit is 5 s, the others take 0 s."""
    clock = [0.0]
    monkeypatch.setattr(client_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    engine = tiny_engine(
        tiny_fashion_root,
        client=ClientConfig(batch_size=10, timeout=5.0),
        federation=FederationConfig(rounds=1, clients_per_round=3),
    )
    sampler = ClientSampler(engine.seeds.of("sampling"))
    slow = sampler.sample(engine.data.num_clients, 3)[1]  # the 2nd of 3
    batches = engine.data.client_batches

    class SlowBatches:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __len__(self) -> int:
            return len(self.real)

        def __iter__(self) -> Any:
            for batch in self.real:
                clock[0] += 10.0
                yield batch

    def client_batches(cid: int, seed: int, batch_size: int | None = None) -> Any:
        real = batches(cid, seed=seed, batch_size=batch_size)
        return SlowBatches(real) if cid == slow else real

    monkeypatch.setattr(engine.data, "client_batches", client_batches)
    with caplog.at_level(logging.WARNING, logger=ENGINE_LOG):
        row = engine.run_round(1)
    assert row["clients/failed"] == 1 and row["clients/participated"] == 2
    assert failures(caplog) == [
        f"round 1: client {slow} failed: ClientTimeout: client exceeded its time limit "
        "(10.0 s > 5.0 s)"
    ]


def test_below_min_clients_retries_then_stops_with_its_checkpoint_intact(
    tiny_fashion_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rounds 1-2 succeed; from round 3 every client fails: 1 try + 2 retries, then exit 2."""
    out = tmp_path / "run"
    args = [
        "federate",
        *federate_args(tiny_fashion_root, out, *REFERENCE, "--federation.max_retries", "2"),
    ]
    original = RoundEngine.train_here
    written: list[bytes] = []

    def failing_from_round_3(self: RoundEngine, r: int, *rest: Any) -> ClientResult:
        if r >= 3:
            if not written:
                written.append((out / "checkpoint.pt").read_bytes())
            raise ConnectionError("client unreachable")
        return original(self, r, *rest)

    monkeypatch.setattr(RoundEngine, "train_here", failing_from_round_3)
    with (
        caplog.at_level(logging.WARNING, logger=ENGINE_LOG),
        pytest.raises(SystemExit) as exit_info,
    ):
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        "round 3: fewer than federation.min_clients=1 client updates after 2 retries; the "
        "checkpoint of round 2 is intact (resume with --resume)."
    ) in err
    attempts = [
        r.getMessage() for r in caplog.records if "succeeded (< min_clients=1)" in r.getMessage()
    ]
    assert [m.split(":")[0] for m in attempts] == [f"round 3 attempt {i}" for i in (1, 2, 3)]
    assert all("ConnectionError: client unreachable" in m for m in failures(caplog)[-6:])
    # the checkpoint of round 2 is the one there before round 3 began, byte for byte
    assert (out / "checkpoint.pt").read_bytes() == written[0]
    assert checkpoint_round(out) == 2 and metric_rounds(out) == [1, 2]
    # and the run goes on from it once the clients are back
    monkeypatch.undo()
    main([*args, "--resume", "true"])
    assert metric_rounds(out) == [1, 2, 3, 4]
