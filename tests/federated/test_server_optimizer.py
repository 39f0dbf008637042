"""Server optimizers (FedOpt): one step against numbers worked out by hand, pruned positions kept
at zero, optimizer state in the checkpoint (exact resume), and the Flower transport's equality."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from fl_lightning.errors import UsageError
from fl_lightning.federated.config import FederationConfig
from fl_lightning.federated.flower import FlowerGrid
from fl_lightning.federated.server_optimizer import ServerOptimizer
from fl_lightning.pruning.mask import Mask
from tests.federated.flower_helpers import LoopbackGrid, assert_same_rounds, steady
from tests.federated.flower_helpers import tiny_engine as flower_tiny_engine
from tests.reliability.runs import tiny_engine

#: A weight of three entries, the last one pruned, and a buffer that is no parameter.
MASK = Mask({"w": torch.tensor([True, True, False])})
START = {"w": torch.tensor([1.0, 2.0, 0.0]), "stat": torch.tensor([4.0])}
AVERAGE = {"w": torch.tensor([0.5, 2.5, 0.0]), "stat": torch.tensor([3.0])}
# pseudo-gradient g = START - AVERAGE = [0.5, -0.5, (0: pruned)]


def step(name: str, **kwargs: float) -> dict[str, torch.Tensor]:
    return ServerOptimizer(name, {"w": START["w"]}, **kwargs).step(START, AVERAGE, MASK)  # type: ignore[arg-type]


def test_none_is_the_average() -> None:
    new = step("none")
    assert torch.equal(new["w"], AVERAGE["w"]) and torch.equal(new["stat"], AVERAGE["stat"])


def test_sgd_momentum_two_steps_by_hand() -> None:
    opt = ServerOptimizer("sgd", {"w": START["w"]}, lr=1.0, momentum=0.9)
    first = opt.step(START, AVERAGE, MASK)
    # buf = g = [0.5, -0.5]; x = START - buf = the average
    assert torch.allclose(first["w"], torch.tensor([0.5, 2.5, 0.0]))
    second = opt.step(first, {"w": torch.tensor([0.25, 2.5, 0.0]), "stat": torch.zeros(1)}, MASK)
    # g = [0.25, 0]; buf = 0.9 * [0.5, -0.5] + g = [0.7, -0.45]; x = [0.5 - 0.7, 2.5 + 0.45]
    assert torch.allclose(second["w"], torch.tensor([-0.2, 2.95, 0.0]))
    assert torch.equal(second["stat"], torch.zeros(1))  # a buffer takes the average


def test_adam_first_step_moves_each_weight_by_the_rate() -> None:
    # bias-corrected m/sqrt(v) = g/|g| on the first step: x = START - 0.1 * sign(g)
    new = step("adam", lr=0.1)
    assert torch.allclose(new["w"], torch.tensor([0.9, 2.1, 0.0]))
    assert torch.equal(new["stat"], AVERAGE["stat"])


def test_adagrad_first_step() -> None:
    # sum = g^2; x = START - 0.1 * g / (|g| + 1e-9)
    assert torch.allclose(step("adagrad", lr=0.1)["w"], torch.tensor([0.9, 2.1, 0.0]))


def test_yogi_first_step_by_hand() -> None:
    # m = 0.1 g = [0.05, -0.05]; v = 0 - 0.01 * g^2 * sign(0 - g^2) = 0.0025, sqrt 0.05
    # x = START - 0.01 * m / (0.05 + 1e-3)
    new = step("yogi", lr=0.01, beta1=0.9, beta2=0.99, eps=1e-3)
    moved = 0.01 * 0.05 / 0.051
    assert torch.allclose(new["w"], torch.tensor([1.0 - moved, 2.0 + moved, 0.0]))


@pytest.mark.parametrize("name", ["sgd", "adam", "yogi", "adagrad"])
def test_a_pruned_weight_stays_zero_and_gets_no_state(name: str) -> None:
    opt = ServerOptimizer(name, {"w": START["w"]}, lr=0.5)  # type: ignore[arg-type]
    state = START
    for _ in range(3):
        state = opt.step(state, {"w": state["w"] - 1.0, "stat": torch.zeros(1)}, MASK)
        assert state["w"][2] == 0.0
    for moment in opt.optimizer.state_dict()["state"][0].values():  # type: ignore[union-attr]
        if torch.is_tensor(moment) and moment.ndim:
            assert moment[2] == 0.0


def test_bad_values_are_refused_with_the_option_named() -> None:
    with pytest.raises(UsageError, match=r"federation\.server_optimizer='lamb'"):
        FederationConfig(server_optimizer="lamb")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"federation\.server_lr=0"):
        FederationConfig(server_optimizer="adam", server_lr=0)
    with pytest.raises(UsageError, match=r"federation\.server_beta2"):
        FederationConfig(server_beta2=1.0)


def test_adam_state_travels_in_the_checkpoint_and_a_resume_is_exact(
    tiny_fashion_root: Path,
) -> None:
    federation = FederationConfig(
        rounds=3, clients_per_round=3, server_optimizer="adam", server_lr=0.01
    )
    a = tiny_engine(tiny_fashion_root, federation=federation)
    a.run()
    b = tiny_engine(tiny_fashion_root, federation=federation)
    b.run_round(1)
    buffer = io.BytesIO()
    torch.save(b.state_dict(), buffer)
    buffer.seek(0)
    c = tiny_engine(tiny_fashion_root, federation=federation)
    c.load_state_dict(torch.load(buffer, weights_only=True))  # as checkpoint.pt is read
    c.run()
    assert all(torch.equal(c.global_state[k], v) for k, v in a.global_state.items())
    plain = tiny_engine(
        tiny_fashion_root, federation=FederationConfig(rounds=3, clients_per_round=3)
    )
    plain.run()  # the optimizer does change the model (the test above is not vacuous)
    assert not torch.equal(
        plain.global_state["encoder.fc1.weight"], a.global_state["encoder.fc1.weight"]
    )


@pytest.mark.usefixtures("flower_task_identity")
def test_flower_gives_the_local_engines_numbers_with_adam(tiny_fashion_root: Path) -> None:
    adam = FederationConfig(rounds=3, clients_per_round=2, server_optimizer="adam")
    local = flower_tiny_engine(tiny_fashion_root)
    flower = flower_tiny_engine(tiny_fashion_root, transport=FlowerGrid(LoopbackGrid(4)))
    for engine in (local, flower):
        engine.federation = adam
        engine.server_optimizer = adam.make_server_optimizer(
            {n: engine.global_state[n] for n, _ in engine.model.named_parameters()}
        )
    local.run()
    flower.run()
    assert_same_rounds(steady(flower.history), steady(local.history))
    assert all(torch.equal(flower.global_state[k], v) for k, v in local.global_state.items())
