"""Lightning's entry-point scan runs once per process; every Trainer still calls each factory."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import lightning.pytorch as pl
import pytest
from lightning.fabric.utilities import registry
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.connectors import callback_connector

from fl_lightning.federated import entry_point_cache
from fl_lightning.federated.client import ClientConfig, lean_trainer

GROUP = "lightning.pytorch.callbacks_factory"
made: list[Callback] = []


class Marker(Callback):
    """What the test factory makes: a fresh callback per call."""


def marker_factory() -> list[Callback]:
    made.append(Marker())
    return [made[-1]]


def test_factories_are_found_once_and_called_for_every_trainer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scans: list[str] = []
    point = EntryPoint("marker", f"{__name__}:marker_factory", GROUP)

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        scans.append(group)
        return [point] if group == GROUP else []

    monkeypatch.setattr(entry_point_cache, "entry_points", fake_entry_points)
    entry_point_cache.factories.cache_clear()
    monkeypatch.setattr(
        callback_connector, "_load_external_callbacks", registry._load_external_callbacks
    )
    made.clear()
    try:
        assert entry_point_cache.install()
        trainers = [lean_trainer(ClientConfig(), []) for _ in range(3)]
    finally:
        entry_point_cache.factories.cache_clear()
    assert scans == [GROUP]  # read once for three Trainers
    assert len(made) == 3 and len({id(m) for m in made}) == 3  # a fresh callback each
    for trainer, marker in zip(trainers, made, strict=True):
        assert marker in trainer.callbacks


def test_the_cached_loader_gives_lightnings_answer_here() -> None:
    ours: list[Any] = entry_point_cache.load_external_callbacks(GROUP)
    theirs: list[Any] = registry._load_external_callbacks(GROUP)
    assert [type(c) for c in ours] == [type(c) for c in theirs]


def test_install_leaves_an_unknown_lightning_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def something_else(group: str) -> list[Any]:
        return []

    monkeypatch.setattr(callback_connector, "_load_external_callbacks", something_else)
    assert not entry_point_cache.install()
    assert callback_connector._load_external_callbacks is something_else
    assert isinstance(pl.Trainer(logger=False, enable_progress_bar=False), pl.Trainer)
