"""Meters and FLOPs against numbers worked by hand."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from fl_lightning.federated.accounting import (
    CommunicationMeter,
    ComputeMeter,
    forward_flops_per_example,
    training_flops_per_example,
)
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.mask import Mask


def test_communication_meter_rounds_and_totals() -> None:
    meter = CommunicationMeter()
    meter.record(down=[100, 100], up=[60, 40])
    meter.add_down(10)
    assert meter.end_round() == {
        "comm/down_bytes": 210,
        "comm/up_bytes": 100,
        "comm/bytes": 310,
        "comm/cum_down_bytes": 210,
        "comm/cum_up_bytes": 100,
        "comm/cum_bytes": 310,
    }
    meter.add_up(5)
    meter.record(down=20, up=0)
    assert meter.end_round() == {
        "comm/down_bytes": 20,
        "comm/up_bytes": 5,
        "comm/bytes": 25,
        "comm/cum_down_bytes": 230,
        "comm/cum_up_bytes": 105,
        "comm/cum_bytes": 335,
    }
    assert (meter.down_bytes, meter.up_bytes, meter.total_bytes, meter.rounds) == (230, 105, 335, 2)


def test_communication_meter_resumes() -> None:
    meter = CommunicationMeter()
    meter.record([7], [3])
    meter.end_round()
    meter.add_down(2)  # mid-round
    resumed = CommunicationMeter()
    resumed.load_state_dict(meter.state_dict())
    resumed.add_up(1)
    assert resumed.end_round() == {
        "comm/down_bytes": 2,
        "comm/up_bytes": 1,
        "comm/bytes": 3,
        "comm/cum_down_bytes": 9,
        "comm/cum_up_bytes": 4,
        "comm/cum_bytes": 13,
    }
    assert resumed.rounds == 2


def test_communication_meter_refuses_negative() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        CommunicationMeter().record(down=[1, -1], up=0)


def test_compute_meter_accumulates_and_resumes() -> None:
    meter = ComputeMeter()
    meter.add(1e6, 0.5)
    meter.add(flops=2e6, seconds=0.25)
    first = meter.end_round()
    assert first == {
        "compute/flops": 3e6,
        "compute/client_seconds": 0.75,
        "compute/cum_flops": 3e6,
        "compute/cum_client_seconds": 0.75,
    }
    resumed = ComputeMeter()
    resumed.load_state_dict(meter.state_dict())
    resumed.add(1e6, 1.0)
    second = resumed.end_round()
    assert second == {
        "compute/flops": 1e6,
        "compute/client_seconds": 1.0,
        "compute/cum_flops": 4e6,
        "compute/cum_client_seconds": 1.75,
    }
    assert (resumed.flops, resumed.client_seconds) == (4e6, 1.75)
    with pytest.raises(ValueError):
        meter.add(-1.0, 0.0)


def test_linear_flops_by_hand() -> None:
    layer = nn.Linear(4, 3, bias=False)
    assert forward_flops_per_example(layer, None, (4,)) == 2 * 4 * 3 == 24
    half = Mask({"weight": torch.tensor([[True, False, True, False]] * 3)})
    assert forward_flops_per_example(layer, half, (4,)) == 12
    assert training_flops_per_example(layer, half, (4,)) == 36
    assert training_flops_per_example(layer, None, (4,)) == 72


def test_cnn_flops_by_hand() -> None:
    model = Classifier(model="cnn")
    conv1 = 2 * 25 * 1 * 32 * 28 * 28
    conv2 = 2 * 25 * 32 * 64 * 14 * 14
    fc = 2 * 3136 * 512
    head = 2 * 512 * 10
    assert forward_flops_per_example(model, None, (1, 28, 28)) == conv1 + conv2 + fc + head

    # conv2 at density 1/4, fc at density 1/2, conv1 unmasked, head unmasked
    conv2_mask = torch.zeros(64, 32, 5, 5, dtype=torch.bool)
    conv2_mask[:16] = True
    fc_mask = torch.zeros(512, 3136, dtype=torch.bool)
    fc_mask[:, ::2] = True
    mask = Mask({"encoder.conv2.weight": conv2_mask, "encoder.fc.weight": fc_mask})
    expected = conv1 + conv2 / 4 + fc / 2 + head
    assert forward_flops_per_example(model, mask, (1, 28, 28)) == pytest.approx(expected)
    assert training_flops_per_example(model, mask, (1, 28, 28)) == pytest.approx(3 * expected)


def test_flop_count_leaves_model_mode_alone() -> None:
    norm = nn.BatchNorm1d(4)
    model = nn.Sequential(nn.Linear(4, 4), norm)
    model.train()
    assert norm.running_mean is not None
    before = norm.running_mean.clone()
    forward_flops_per_example(model, None, (4,))
    assert model.training
    assert torch.equal(norm.running_mean, before)


def test_mask_not_fitting_model_is_refused() -> None:
    with pytest.raises(ValueError, match="does not have"):
        forward_flops_per_example(
            nn.Linear(2, 2), Mask({"x": torch.ones(1, dtype=torch.bool)}), (2,)
        )


def test_compute_meter_whole_round_figures() -> None:
    meter = ComputeMeter()
    meter.add(100.0, 2.0)
    meter.add(50.0, 0.5)
    assert meter.end_round() == {
        "compute/flops": 150.0,
        "compute/client_seconds": 2.5,
        "compute/cum_flops": 150.0,
        "compute/cum_client_seconds": 2.5,
    }
    meter.add(25.0, 1.0)
    assert meter.end_round() == {
        "compute/flops": 25.0,
        "compute/client_seconds": 1.0,
        "compute/cum_flops": 175.0,
        "compute/cum_client_seconds": 3.5,
    }
    assert meter.end_round() == {  # an empty round adds nothing
        "compute/flops": 0.0,
        "compute/client_seconds": 0.0,
        "compute/cum_flops": 175.0,
        "compute/cum_client_seconds": 3.5,
    }


def test_compute_meter_resumes_mid_round() -> None:
    meter = ComputeMeter()
    meter.add(10.0, 1.0)
    meter.end_round()
    meter.add(4.0, 0.25)  # half of round 2 before the stop
    resumed = ComputeMeter()
    resumed.load_state_dict(meter.state_dict())
    resumed.add(6.0, 0.5)
    assert resumed.end_round() == {
        "compute/flops": 10.0,
        "compute/client_seconds": 0.75,
        "compute/cum_flops": 20.0,
        "compute/cum_client_seconds": 1.75,
    }


def test_communication_meter_whole_round_and_state() -> None:
    meter = CommunicationMeter()
    meter.add_down(8)
    meter.add_up(3)
    assert meter.state_dict() == {"down": 8, "up": 3, "round_down": 8, "round_up": 3, "rounds": 0}
    resumed = CommunicationMeter()
    resumed.load_state_dict(meter.state_dict())
    assert resumed.end_round() == {
        "comm/down_bytes": 8,
        "comm/up_bytes": 3,
        "comm/bytes": 11,
        "comm/cum_down_bytes": 8,
        "comm/cum_up_bytes": 3,
        "comm/cum_bytes": 11,
    }
    assert resumed.state_dict() == {"down": 8, "up": 3, "round_down": 0, "round_up": 0, "rounds": 1}
    assert (resumed.down_bytes, resumed.up_bytes) == (8, 3)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3"])
def test_byte_counts_must_be_non_negative_ints(bad: object) -> None:
    for count in (
        lambda m: m.add_down(bad),
        lambda m: m.add_up(bad),
        lambda m: m.record(down=[1, bad], up=0),
        lambda m: m.record(down=0, up=[bad]),
    ):
        meter = CommunicationMeter()
        with pytest.raises(ValueError, match="byte counts must be non-negative ints"):
            count(meter)
        assert meter.state_dict()["down"] == 0  # nothing half-counted
    CommunicationMeter().record(down=0, up=[])  # zero and no messages are fine


@pytest.mark.parametrize(("flops", "seconds"), [(-1.0, 0.0), (0.0, -0.5)])
def test_compute_meter_refuses_either_negative(flops: float, seconds: float) -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        ComputeMeter().add(flops, seconds)
    ComputeMeter().add(0.0, 0.0)


class _Gram(nn.Module):
    """No parameters, but a matmul: 2 * 4 FLOPs for a 4-vector."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(1, -1) @ x.reshape(-1, 1)


def test_flops_of_a_parameterless_model() -> None:
    assert forward_flops_per_example(_Gram(), None, (4,)) == 8
    assert forward_flops_per_example(_Gram(), Mask({}), (4,)) == 8
    assert forward_flops_per_example(nn.Sequential(nn.ReLU(), nn.Flatten()), None, (3,)) == 0


def test_parameterless_layers_between_masked_ones() -> None:
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2), nn.Softmax(dim=1))
    # 2*4*6 + 2*6*2 = 48 + 24; the second layer kept at 1/3
    third = torch.zeros(2, 6, dtype=torch.bool)
    third[:, :2] = True
    assert forward_flops_per_example(model, None, (4,)) == 72
    assert forward_flops_per_example(model, Mask({"2.weight": third}), (4,)) == 48 + 8


def test_a_masked_bias_does_not_scale_flops() -> None:
    layer = nn.Linear(4, 3)
    pruned_bias = Mask({"bias": torch.zeros(3, dtype=torch.bool)})
    assert forward_flops_per_example(layer, pruned_bias, (4,)) == 24


class _OwnWeightAndChild(nn.Module):
    """A module with its own weight (x @ W: 2*4*4 = 32 FLOPs) and a child Linear(4, 2) (16)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(4, 4))
        self.child = nn.Linear(4, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.child(x @ self.weight)


class _Wrapper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = _OwnWeightAndChild()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def test_a_module_with_its_own_weight_and_a_child() -> None:
    quarter = torch.zeros(4, 4, dtype=torch.bool)
    quarter[0] = True
    half_child = torch.tensor([[True, True, False, False]] * 2)
    for model, prefix in ((_OwnWeightAndChild(), ""), (_Wrapper(), "block.")):
        assert forward_flops_per_example(model, None, (4,)) == 48
        # only the module's own 32 FLOPs scale with its weight's density, not its child's
        own = Mask({f"{prefix}weight": quarter})
        assert forward_flops_per_example(model, own, (4,)) == 32 / 4 + 16
        both = Mask({f"{prefix}weight": quarter, f"{prefix}child.weight": half_child})
        assert forward_flops_per_example(model, both, (4,)) == 32 / 4 + 16 / 2


def test_flop_count_leaves_an_eval_model_in_eval() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model.eval()
    forward_flops_per_example(model, None, (2,))
    assert not model.training


def test_meters_hold_plain_python_numbers_whatever_they_are_given() -> None:
    """Counts restored from tensors (a checkpoint) or added as tensors stay JSON-writable
    Python numbers: ints for bytes and rounds, floats for FLOPs and seconds."""
    comm = CommunicationMeter()
    comm.load_state_dict(
        {k: torch.tensor(v) for k, v in zip(("down", "up", "round_down", "round_up", "rounds"),
                                             (10, 20, 3, 4, 2), strict=True)}
    )  # fmt: skip
    assert comm.rounds == 2 and type(comm.rounds) is int
    row = comm.end_round()
    assert json.loads(json.dumps(row)) == row
    assert all(type(v) is int for v in row.values())
    compute = ComputeMeter()
    compute.load_state_dict(
        {k: torch.tensor(v) for k, v in zip(("flops", "seconds", "round_flops", "round_seconds"),
                                             (1.5, 2.5, 0.5, 0.25), strict=True)}
    )  # fmt: skip
    compute.add(torch.tensor(2.0), torch.tensor(1.0))  # type: ignore[arg-type]
    row = compute.end_round()
    assert row == {
        "compute/flops": 2.5,
        "compute/client_seconds": 1.25,
        "compute/cum_flops": 3.5,
        "compute/cum_client_seconds": 3.5,
    }
    assert all(type(v) is float for v in row.values())
    assert json.loads(json.dumps(row)) == row


def test_flop_counts_are_floats() -> None:
    assert type(forward_flops_per_example(nn.Linear(4, 3), None, (4,))) is float


class _WithUnused(nn.Module):
    """Linear(4, 3) in the forward (24 FLOPs) and a registered Linear that never runs."""

    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(4, 3)
        self.unused = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


def test_a_masked_module_that_never_runs_counts_nothing() -> None:
    half = torch.tensor([[True, False, True]] * 3)
    assert forward_flops_per_example(_WithUnused(), Mask({"unused.weight": half}), (4,)) == 24
