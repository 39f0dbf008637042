"""FlowerGrid as the local engine's transport over `LoopbackGrid`: the same clients, bytes and
accuracy as the local engine; a client raising inside Flower is a failed client.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fl_lightning.federated.codec import payload_size
from fl_lightning.federated.faults import FaultInjection, FaultInjector
from fl_lightning.federated.flower import FlowerGrid
from tests.federated.flower_helpers import (
    LoopbackGrid,
    assert_same_rounds,
    recording,
    steady,
    tiny_engine,
)

pytestmark = pytest.mark.usefixtures("flower_task_identity")


def test_flower_engine_over_grid_matches_local_engine(tiny_fashion_root: Path) -> None:
    local = tiny_engine(tiny_fashion_root)
    grid = FlowerGrid(LoopbackGrid(4))
    flower = tiny_engine(tiny_fashion_root, transport=grid)
    local_sampled, flower_sampled = recording(local), recording(flower)
    local.run()
    flower.run()
    assert flower_sampled == local_sampled
    assert grid.nodes == {0: 9000, 1: 8993, 2: 8986, 3: 8979}
    flower_rows, local_rows = steady(flower.history), steady(local.history)
    assert_same_rounds(flower_rows, local_rows)
    # first downloads carry the mask: round 1 sends two of them
    with_mask = payload_size(local.global_state, local.mask, with_mask=True, codec="float32")
    assert flower_rows[0]["comm/down_bytes"] == 2 * with_mask


def test_client_raising_inside_flower_is_a_failed_client(tiny_fashion_root: Path) -> None:
    faults = FaultInjection(probability=0.5, seed=4, kinds=["raise"])
    local = tiny_engine(tiny_fashion_root, faults)
    flower = tiny_engine(tiny_fashion_root, faults, FlowerGrid(LoopbackGrid(4)))
    local.run()
    flower.run()
    injector = FaultInjector(faults)
    expected = [sum(injector.draw() == "raise" for _ in range(2)) for _ in range(3)]
    assert expected == [1, 1, 1]  # every round: one client raises, the other is aggregated
    assert [row["clients/failed"] for row in flower.history] == expected
    assert [row["clients/participated"] for row in flower.history] == [1, 1, 1]
    assert [row["test/acc"] for row in flower.history] == pytest.approx(
        [row["test/acc"] for row in local.history], abs=0.005
    )
    # the same uploads; a node whose first download failed did not keep the mask, so Flower
    # sends it again, each time a whole bitmap more than the local engine
    up = [row["comm/up_bytes"] for row in flower.history]
    assert up == [row["comm/up_bytes"] for row in local.history]
    extra = flower.comm.down_bytes - local.comm.down_bytes
    state, mask = local.global_state, local.mask
    bitmap = payload_size(state, mask, with_mask=True, codec="float32") - payload_size(
        state, mask, with_mask=False, codec="float32"
    )
    assert extra >= 0 and extra % bitmap == 0


def test_a_deployment_refuses_to_resume_a_run_with_error_feedback(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    """A deployment's SuperNodes kept their residuals, and a new Flower run starts without
    them: a resume could not be exact, so it is refused with one line (exit 2 in the CLI)."""
    from fl_lightning.app.federate_options import federate_config
    from fl_lightning.app.federation import federate
    from fl_lightning.errors import UsageError
    from fl_lightning.federated.run_files import RunFiles
    from tests.reliability.runs import federate_args

    out = tmp_path / "run"
    args = federate_args(tiny_fashion_root, out, "--rounds", "2")
    args += ["--federation.up_topk", "0.1", "--federation.error_feedback", "true"]
    federate(federate_config(args=args))  # the local engine: 2 rounds, then a resume over a grid
    files = RunFiles(out)
    files.done.unlink()
    before = files.checkpoint.read_bytes()
    with pytest.raises(UsageError, match=r"^--resume: federation.error_feedback=true on a Flower"):
        federate(federate_config(args=[*args, "--resume", "true"]), grid=LoopbackGrid(10))
    assert files.checkpoint.read_bytes() == before
