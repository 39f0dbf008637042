"""Round observers: the engine tells them every round and the summary; nobody patches it.

The recorders (run files, progress) are observers too: they record in the order given, so
`app.federate`'s order (W&B, run files, progress) logs a row before the round's files.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from fl_lightning.federated.config import FederationConfig
from fl_lightning.federated.observers import RoundLoop, RoundObserver
from fl_lightning.federated.progress import ProgressRecorder
from fl_lightning.federated.run_files import RunFiles, RunFilesRecorder
from tests.reliability.runs import tiny_engine

PACKAGE = Path(__file__).resolve().parents[2] / "fl_lightning"


class Recorder(RoundObserver):
    """Notes every hook with what the run folder holds at that moment."""

    def __init__(self, name: str, seen: list[tuple[str, Any]], files: RunFiles) -> None:
        self.name, self.seen, self.files = name, seen, files

    def _done(self) -> int | None:
        """The round checkpoint.pt holds (None: none yet)."""
        return (
            int(self.files.read_checkpoint()["round"]) if self.files.checkpoint.exists() else None
        )

    def on_loop_start(self, engine: RoundLoop) -> None:
        self.seen.append((self.name, ("start", engine.round, self._done())))

    def on_round(self, engine: RoundLoop, row: dict[str, Any]) -> None:
        metrics = self.files.metrics.read_text() if self.files.metrics.exists() else ""
        rows = len(metrics.splitlines()[1:])
        self.seen.append((self.name, (row["round"], self._done(), rows)))

    def on_loop_end(self, engine: RoundLoop) -> None:
        self.seen.append((self.name, ("end", engine.round)))

    def on_summary(self, engine: RoundLoop, summary: dict[str, Any]) -> None:
        written = self.files.summary.exists(), self.files.model.exists()
        self.seen.append((self.name, ("summary", summary["rounds"], *written)))


class Bar(ProgressRecorder):
    """The progress recorder, noting when its bar advances."""

    def __init__(self, seen: list[tuple[str, Any]]) -> None:
        super().__init__(enabled=True, stream=io.StringIO())
        self.seen = seen

    def on_round(self, engine: RoundLoop, row: dict[str, Any]) -> None:
        super().on_round(engine, row)
        self.seen.append(("bar", row["round"]))


def test_observers_record_in_order_rows_before_the_files_then_the_summary(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    """The engine's own observers, then `run`'s in their order: a row recorded before the
    round's files (metrics.csv, then checkpoint.pt) is told the round before; the bar last."""
    files = RunFiles(tmp_path / "run")
    files.create()
    seen: list[tuple[str, Any]] = []
    engine = tiny_engine(
        tiny_fashion_root, federation=FederationConfig(rounds=2, clients_per_round=2)
    )
    built = type(engine)(
        **{
            k: getattr(engine, k)
            for k in ("model", "mask", "data", "client", "federation", "seeds", "method")
        },
        initial_state=engine.global_state,
        observers=[Recorder("built", seen, files)],
    )
    summary = built.run(
        observers=[
            Recorder("wandb", seen, files),
            RunFilesRecorder(files),
            Recorder("after files", seen, files),
            Bar(seen),
        ]
    )
    assert summary["rounds"] == 2
    assert seen == [
        ("built", ("start", 0, None)),
        ("wandb", ("start", 0, None)),
        ("after files", ("start", 0, 0)),  # round 0's checkpoint: a killed run resumes
        ("built", (1, 0, 0)),
        ("wandb", (1, 0, 0)),
        ("after files", (1, 1, 1)),
        ("bar", 1),
        ("built", (2, 1, 1)),
        ("wandb", (2, 1, 1)),
        ("after files", (2, 2, 2)),
        ("bar", 2),
        ("after files", ("end", 2)),  # ended in reverse order, before the summary
        ("wandb", ("end", 2)),
        ("built", ("end", 2)),
        ("built", ("summary", 2, False, False)),
        ("wandb", ("summary", 2, False, False)),
        ("after files", ("summary", 2, True, True)),
    ]
    assert files.read_checkpoint()["round"] == 2


def test_the_progress_recorder_prints_a_line_a_round_and_counts_clients(
    tiny_fashion_root: Path,
) -> None:
    engine = tiny_engine(
        tiny_fashion_root, federation=FederationConfig(rounds=2, clients_per_round=3)
    )
    stream = io.StringIO()  # not a terminal: one plain line per round
    clients: list[int] = []

    class Counting(ProgressRecorder):
        def on_client_done(self, engine: RoundLoop) -> None:
            super().on_client_done(engine)
            assert self.bar is not None
            clients.append(self.bar.clients)

    recorder = Counting(enabled=True, stream=stream)
    engine.run(observers=[recorder])
    lines = stream.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines] == ["round 1/2", "round 2/2"]
    assert clients == [1, 2, 3, 1, 2, 3]  # the round's clients, counted again each round
    assert recorder.bar is None  # stopped with the loop


def test_the_recorders_end_when_the_loop_raises(
    tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing round stops the bar and leaves the previous round's checkpoint; no summary."""
    engine = tiny_engine(
        tiny_fashion_root, federation=FederationConfig(rounds=3, clients_per_round=2)
    )
    files = RunFiles(tmp_path / "run")
    files.create()
    seen: list[tuple[str, Any]] = []
    evaluate = engine.evaluate

    def failing_in_round_2() -> tuple[float, float]:
        if engine.round == 1:
            raise RuntimeError("evaluation failed")
        return evaluate()

    monkeypatch.setattr(engine, "evaluate", failing_in_round_2)
    bar = ProgressRecorder(enabled=True, stream=io.StringIO())
    with pytest.raises(RuntimeError, match="evaluation failed"):
        engine.run(observers=[RunFilesRecorder(files), bar, Recorder("last", seen, files)])
    assert bar.bar is None
    assert seen[-1] == ("last", ("end", 1))
    assert files.read_checkpoint()["round"] == 1
    assert not files.summary.exists() and not files.model.exists()


def test_the_checkpoint_is_written_after_the_round_s_metrics(
    tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """checkpoint.pt marks a round as done: when metrics.csv cannot be written, it still holds
    the round before (a resume redoes the round whole)."""
    files = RunFiles(tmp_path / "run")
    files.create()
    engine = tiny_engine(
        tiny_fashion_root,
        federation=FederationConfig(rounds=2, clients_per_round=2),
        files=files,
    )
    write_metrics = RunFiles.write_metrics

    def full_disk_in_round_2(self: RunFiles, history: list[dict[str, Any]]) -> None:
        if len(history) == 2:
            raise OSError(28, "No space left on device")
        write_metrics(self, history)

    monkeypatch.setattr(RunFiles, "write_metrics", full_disk_in_round_2)
    with pytest.raises(OSError, match="No space left"):
        engine.run()
    assert files.read_checkpoint()["round"] == 1


def test_an_engine_without_observers_writes_nothing(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = tiny_engine(
        tiny_fashion_root, federation=FederationConfig(rounds=2, clients_per_round=2)
    )
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        summary = engine.run()
    finally:
        os.chdir(here)
    assert summary["rounds"] == 2 and len(summary["history"]) == 2
    assert list(tmp_path.iterdir()) == []
    assert "round" not in capsys.readouterr().out  # no bar, no lines


def test_the_run_files_recorder_writes_the_engine_s_final_model(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    files = RunFiles(tmp_path / "run")
    files.create()
    engine = tiny_engine(
        tiny_fashion_root,
        federation=FederationConfig(rounds=1, clients_per_round=2),
        files=files,
    )
    summary = engine.run()
    saved = torch.load(files.model, weights_only=True)
    assert saved["state_dict"].keys() == engine.global_state.keys()
    for name, value in engine.global_state.items():
        assert torch.equal(saved["state_dict"][name], value), name
    lines = files.metrics.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("round,")
    assert files.summary.read_text().count('"rounds": 1') == 1
    assert summary["rounds"] == 1


def test_no_engine_is_patched_after_construction() -> None:
    patched = [
        f"{path.relative_to(PACKAGE)}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for line in path.read_text().splitlines()
        if re.search(r"\bengine\.[a-z_]+ = ", line)
    ]
    assert patched == []


def test_the_engine_writes_and_shows_nothing_itself() -> None:
    """The loop holds no writer and no bar: those are the recorders'."""
    source = (PACKAGE / "federated" / "engine.py").read_text()
    assert not re.search(r"\b(RunFiles|RoundProgress|WandbRun|atomic_\w+)\b", source)
