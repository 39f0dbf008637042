"""`ClientJob`: the unit of client work in a round, as the engine hands it to a transport.

The engine makes one job per sampled client (its download, encoded once per kind, and the fault
the injector drew for it); the transport delivers the jobs (`transport.py`, `flower.py`) and a
client step (`RoundEngine.train_here`, the Flower ClientApp) runs each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from fl_lightning.federated.faults import FaultKind


@dataclass(frozen=True)
class ClientJob:
    """One sampled client's part of a round: its id, its download, the fault to inject (or None)."""

    client_id: int
    payload: bytes
    fault: FaultKind | None
