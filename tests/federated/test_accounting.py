"""Meters and FLOPs against numbers worked by hand."""

from __future__ import annotations

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
        "comm/total_bytes": 310,
    }
    meter.add_up(5)
    meter.record(down=20, up=0)
    assert meter.end_round() == {
        "comm/down_bytes": 20,
        "comm/up_bytes": 5,
        "comm/total_bytes": 335,
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
    assert resumed.end_round() == {"comm/down_bytes": 2, "comm/up_bytes": 1, "comm/total_bytes": 13}
    assert resumed.rounds == 2


def test_communication_meter_refuses_negative() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        CommunicationMeter().record(down=[1, -1], up=0)


def test_compute_meter_accumulates_and_resumes() -> None:
    meter = ComputeMeter()
    meter.add(1e6, 0.5)
    meter.add(flops=2e6, seconds=0.25)
    first = meter.end_round()
    assert first["compute/flops"] == 3e6
    assert first["compute/client_seconds"] == 0.75
    resumed = ComputeMeter()
    resumed.load_state_dict(meter.state_dict())
    resumed.add(1e6, 1.0)
    second = resumed.end_round()
    assert (second["compute/flops"], second["compute/round_flops"]) == (4e6, 1e6)
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
