"""Fixtures of the Flower tests, imported lazily: the other federated tests do not need flwr."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def flower_task_identity() -> Iterator[None]:
    """What Flower's runtimes set in a ServerApp process before any Message can be made."""
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.supercore.task_identity import TaskIdentity

    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID
    yield
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


@pytest.fixture(scope="module")
def local_smoke(
    tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[list[int]]]:
    """The smoke config on the local engine: its run folder and the clients of each round."""
    from fl_lightning.cli import main
    from tests.federated.flower_helpers import sampling_recorded
    from tests.smoke_runs import federate_args

    out = tmp_path_factory.mktemp("local") / "run"
    with sampling_recorded() as sampled:
        main(federate_args(tiny_fashion_root, out, "--wandb.enabled", "false"))
    return out, sampled
