"""Round observers: the engine tells them every round and the summary; nobody patches it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fl_lightning.federated.config import FederationConfig
from fl_lightning.federated.results import RunFiles
from tests.reliability.runs import tiny_engine

PACKAGE = Path(__file__).resolve().parents[2] / "fl_lightning"


class Recorder:
    def __init__(self, name: str, seen: list[tuple[str, Any]], files: RunFiles) -> None:
        self.name, self.seen, self.files = name, seen, files

    def on_round(self, row: dict[str, Any]) -> None:
        # told before the round's files: the checkpoint still holds the round before
        done = int(self.files.read_checkpoint()["round"])
        self.seen.append((self.name, (row["round"], done)))

    def on_summary(self, summary: dict[str, Any]) -> None:
        self.seen.append((self.name, ("summary", summary["rounds"])))


def test_observers_are_told_every_round_then_the_summary(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    files = RunFiles(tmp_path / "run")
    files.create()
    seen: list[tuple[str, Any]] = []
    engine = tiny_engine(
        tiny_fashion_root,
        federation=FederationConfig(rounds=2, clients_per_round=2),
        files=files,
    )
    built = type(engine)(
        **{
            k: getattr(engine, k)
            for k in ("model", "mask", "data", "client", "federation", "seeds", "method")
        },
        initial_state=engine.global_state,
        files=files,
        progress=False,
        observers=[Recorder("built", seen, files)],
    )
    summary = built.run(observers=[Recorder("run", seen, files)])
    assert summary["rounds"] == 2
    assert seen == [
        ("built", (1, 0)),
        ("run", (1, 0)),
        ("built", (2, 1)),
        ("run", (2, 1)),
        ("built", ("summary", 2)),
        ("run", ("summary", 2)),
    ]


def test_no_engine_is_patched_after_construction() -> None:
    patched = [
        f"{path.relative_to(PACKAGE)}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for line in path.read_text().splitlines()
        if re.search(r"\bengine\.[a-z_]+ = ", line)
    ]
    assert patched == []
