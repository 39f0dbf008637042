"""Server-side update validation: each rejection reason."""

from __future__ import annotations

import pytest
import torch

from fl_lightning.errors import UsageError
from fl_lightning.federated.validation import (
    UpdateRejected,
    all_finite,
    update_norm,
    validate_update,
)
from fl_lightning.pruning.mask import Mask

MASK = Mask({"w": torch.tensor([True, False, True])})
GLOBAL = {"w": torch.tensor([1.0, 0.0, 2.0]), "b": torch.tensor([0.0])}


def test_good_update_passes() -> None:
    update = {"w": torch.tensor([4.0, 0.0, 6.0]), "b": torch.tensor([0.0])}
    # ||(3, 0, 4, 0)|| = 5
    assert update_norm(update, GLOBAL) == pytest.approx(5.0)
    validate_update(update, GLOBAL, MASK, max_update_norm=5.0)
    validate_update(update, GLOBAL, MASK, max_update_norm=None)


def test_norm_over_the_limit_is_rejected() -> None:
    update = {"w": torch.tensor([4.0, 0.0, 6.0]), "b": torch.tensor([0.0])}
    with pytest.raises(UpdateRejected, match="norm") as info:
        validate_update(update, GLOBAL, MASK, max_update_norm=4.99)
    assert info.value.reason == "update_norm"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_is_rejected(bad: float) -> None:
    update = {"w": torch.tensor([1.0, 0.0, 2.0]), "b": torch.tensor([bad])}
    with pytest.raises(UpdateRejected, match="non-finite") as info:
        validate_update(update, GLOBAL, MASK, max_update_norm=None)
    assert info.value.reason == "non_finite"


def test_pruned_position_nonzero_is_rejected() -> None:
    update = {"w": torch.tensor([1.0, 1e-9, 2.0]), "b": torch.tensor([0.0])}
    with pytest.raises(UpdateRejected, match="pruned") as info:
        validate_update(update, GLOBAL, MASK, max_update_norm=None)
    assert info.value.reason == "pruned_nonzero"


def test_keys_and_shapes_are_checked() -> None:
    with pytest.raises(UpdateRejected) as info:
        validate_update({"w": torch.zeros(3)}, GLOBAL, MASK, max_update_norm=None)
    assert info.value.reason == "keys"
    with pytest.raises(UpdateRejected) as info:
        validate_update({"w": torch.zeros(3), "b": torch.zeros(2)}, GLOBAL, MASK)
    assert info.value.reason == "shape"


def test_rejection_is_a_value_error() -> None:
    assert issubclass(UpdateRejected, ValueError)


def test_bad_limit_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="max_update_norm"):
        validate_update(GLOBAL, GLOBAL, MASK, max_update_norm=0.0)


@pytest.mark.parametrize("limit", [0.625, 1.0])
def test_limits_up_to_one_are_accepted(limit: float) -> None:
    # ||(0.375, 0, 0.5, 0)|| = 0.625 exactly in binary: inside both limits, the boundary included
    update = {"w": torch.tensor([1.375, 0.0, 2.5]), "b": torch.tensor([0.0])}
    assert update_norm(update, GLOBAL) == 0.625
    validate_update(update, GLOBAL, MASK, max_update_norm=limit)


@pytest.mark.parametrize("limit", [0.0, -1.0, float("nan")])
def test_limits_not_above_zero_are_usage_errors(limit: float) -> None:
    with pytest.raises(UsageError, match=rf"max_update_norm={limit!r} must be > 0"):
        validate_update(GLOBAL, GLOBAL, MASK, max_update_norm=limit)


def test_messages_name_the_tensor_and_the_count() -> None:
    cases = [
        ({"w": torch.zeros(3)}, "update's keys differ from the global model's: ['b']"),
        (
            {"w": torch.zeros(3), "b": torch.zeros(2)},
            "update's 'b' has shape (2,), the global model's has (1,)",
        ),
        (
            {"w": torch.tensor([float("nan"), 0.0, float("inf")]), "b": torch.zeros(1)},
            "update's 'w' has 2 non-finite values",
        ),
        (
            {"w": torch.tensor([1.0, -3.0, 2.0]), "b": torch.zeros(1)},
            "update's 'w' has 1 non-zero values at pruned positions",
        ),
        (
            {"w": torch.tensor([4.0, 0.0, 6.0]), "b": torch.zeros(1)},
            "update norm 5 exceeds max_update_norm=1.0",
        ),
    ]
    for update, message in cases:
        with pytest.raises(UpdateRejected) as info:
            validate_update(update, GLOBAL, MASK, max_update_norm=1.0)
        assert str(info.value) == message


def test_mask_entries_the_state_does_not_have_are_skipped() -> None:
    wider = Mask({"w": torch.tensor([True, False, True]), "x": torch.tensor([False])})
    update = {"w": torch.tensor([2.0, 0.0, 2.0]), "b": torch.tensor([0.0])}
    validate_update(update, GLOBAL, wider)


def test_update_norm_sums_every_tensor() -> None:
    # differences: w (1, 0, -2), b (2): sqrt(1 + 4 + 4) = 3
    update = {"w": torch.tensor([2.0, 0.0, 0.0]), "b": torch.tensor([2.0])}
    assert update_norm(update, GLOBAL) == 3.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("where", [0, 1, 11])  # the first, a middle and the last entry
def test_all_finite_finds_one_bad_value_anywhere(bad: float, where: int) -> None:
    t = torch.linspace(-3.0, 3.0, 12)
    assert all_finite(t)
    t[where] = bad
    assert not all_finite(t)
    assert not all_finite(t.to(torch.float64).reshape(3, 4))


def test_all_finite_of_an_empty_or_integer_tensor() -> None:
    assert all_finite(torch.zeros(0)) and all_finite(torch.arange(5))
