"""`FlowerOptions`: how `fl-lightning federate --engine flower` runs Flower (the `--flower` group).

Kept apart from `flower.py` so that building the `federate` parser does not import Flower.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from fl_lightning.errors import UsageError


@dataclass(frozen=True)
class FlowerOptions:
    """Settings of the Flower engine.

    Args:
        num_cpus: CPU cores reserved for each simulated client (Flower's
            `client_resources["num_cpus"]`); clients train `ray_cpus // num_cpus` at a time.
        num_gpus: GPUs reserved for each simulated client (a fraction shares one GPU), Flower's
            `client_resources["num_gpus"]`; set `client.accelerator=gpu` to train on it.
        ray_cpus: CPU cores the simulation's Ray instance may use in all (None: every core).
        round_timeout: seconds a round waits for client replies; a client that has not replied
            by then counts as failed (None: wait for every reply).
        node_timeout: seconds the ServerApp waits for one SuperNode per client
            (`data.num_clients`) to connect and report its `partition-id`.
        verbose: show Flower's and Ray's own logs (off: only fl_lightning's).
    """

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    ray_cpus: int | None = None
    round_timeout: float | None = None
    node_timeout: float = 300.0
    verbose: bool = False

    def __post_init__(self) -> None:
        if not self.num_cpus > 0:
            raise UsageError(f"flower.num_cpus={self.num_cpus!r} must be > 0.")
        if not self.num_gpus >= 0:
            raise UsageError(f"flower.num_gpus={self.num_gpus!r} must be >= 0.")
        cores = os.cpu_count() or 1
        if self.ray_cpus is None and self.num_cpus > cores:
            # Ray would wait for a node that never comes (node_timeout), then fail
            raise UsageError(
                f"flower.num_cpus={self.num_cpus!r} is more than this machine's {cores} CPU "
                f"cores; allowed: (0, {cores}] (or set flower.ray_cpus to Ray's own count)."
            )
        if self.ray_cpus is not None and self.ray_cpus < self.num_cpus:
            raise UsageError(
                f"flower.ray_cpus={self.ray_cpus!r} must be at least flower.num_cpus="
                f"{self.num_cpus!r} (one client must fit), or None for every core."
            )
        if self.round_timeout is not None and not self.round_timeout > 0:
            raise UsageError(f"flower.round_timeout={self.round_timeout!r} must be > 0 or None.")
        if not self.node_timeout > 0:
            raise UsageError(f"flower.node_timeout={self.node_timeout!r} must be > 0.")

    def backend_config(self) -> dict[str, Any]:
        """Flower's simulation `backend_config`: client resources and quiet Ray settings."""
        init_args: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": self.verbose,
            "logging_level": logging.INFO if self.verbose else logging.ERROR,
        }
        if self.ray_cpus is not None:
            init_args["num_cpus"] = self.ray_cpus
        return {
            "client_resources": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
            "init_args": init_args,
        }
