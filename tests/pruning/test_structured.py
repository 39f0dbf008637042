"""Structured pruning's maths, checked by hand: unit scores, kept sets, parameter counts, widths."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
import torch

from fl_lightning.errors import UsageError
from fl_lightning.pruning.structured import (
    chain_param_count,
    check_kept_params,
    fraction_widths,
    kept_units,
    select_kept,
    uniform_widths,
    unit_scores,
)

# Three output channels of a 1-in, 2x2 conv:
#   unit 0 [[1, -2], [0, 1]]: L1 4, L2 sqrt(6) ~ 2.449
#   unit 1 [[0, 0], [3, 0]]:  L1 3, L2 3
#   unit 2 [[-1, 1], [1, -1]]: L1 4, L2 2
CONV = torch.tensor(
    [[[[1.0, -2.0], [0.0, 1.0]]], [[[0.0, 0.0], [3.0, 0.0]]], [[[-1.0, 1.0], [1.0, -1.0]]]]
)

# A tiny conv -> conv -> linear chain: 4 then 6 channels of 3x3 kernels, flattened from a 2x2
# map into a linear layer of 5 units (6 x 4 = 24 inputs, 4 columns per conv2 channel).
CHAIN = [(4, 1, 3, 3), (6, 4, 3, 3), (5, 24)]


def test_unit_scores_l1_and_l2_by_hand() -> None:
    assert unit_scores(CONV, "l1").tolist() == [4.0, 3.0, 4.0]
    assert unit_scores(CONV, "l2").tolist() == pytest.approx([math.sqrt(6), 3.0, 2.0])


def test_kept_units_take_the_highest_scores_ties_to_the_lower_index() -> None:
    assert kept_units(CONV, 2, "l1").tolist() == [0, 2]
    assert kept_units(CONV, 1, "l1").tolist() == [0]  # units 0 and 2 tie at 4
    assert kept_units(CONV, 1, "l2").tolist() == [1]
    assert kept_units(CONV, 2, "l2").tolist() == [0, 1]
    assert kept_units(CONV, 3, "l1").tolist() == [0, 1, 2]


def test_kept_units_of_equal_scores_are_the_lowest_indices() -> None:
    # torch.topk would not promise this: topk(ones(10), 9) leaves out index 4
    assert kept_units(torch.ones(10, 3), 9).tolist() == list(range(9))
    assert kept_units(torch.ones(10, 3), 4).tolist() == [0, 1, 2, 3]


def test_kept_units_of_a_linear_layer_are_its_rows() -> None:
    weight = torch.tensor([[0.1, 0.1], [-5.0, 0.0], [1.0, 1.0], [0.0, 0.5]])  # L1 .2, 5, 2, .5
    assert kept_units(weight, 2).tolist() == [1, 2]
    assert select_kept({"fc": weight}, {"fc": 3})["fc"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("width", [0, 4])
def test_kept_units_refuse_a_width_outside_the_layer(width: int) -> None:
    with pytest.raises(ValueError, match=r"width=.*\[1, 3\]"):
        kept_units(CONV, width)


def test_chain_param_count_by_hand() -> None:
    # conv1 2x1x3x3 = 18; conv2 3 kept x 2 inputs x 9 = 54; fc 5 x (3 channels x 4 columns) = 60
    assert chain_param_count(CHAIN, [2, 3, 5]) == 18 + 54 + 60
    assert chain_param_count(CHAIN, [4, 6, 5]) == 36 + 216 + 120


def test_uniform_widths_one_fraction_for_every_layer() -> None:
    # Candidates (last width w, fraction w/5, others rounded) and their weights:
    # w=1 [1,1,1] 22; w=2 [2,2,2] 70; w=3 [2,4,3] 138; w=4 [3,5,4] 242; w=5 [4,6,5] 372.
    # Sparsity 0.63 asks for 0.37 x 372 = 137.64: w=3 is 0.3% off.
    assert uniform_widths(CHAIN, 0.63) == [2, 4, 3]
    assert uniform_widths(CHAIN, 0.0) == [4, 6, 5]


def test_uniform_widths_nudge_one_layer_when_rounding_is_too_coarse() -> None:
    # Sparsity 0.8 asks for 74.4; the closest uniform candidate [2,2,2] has 70 (5.9% off). One
    # width changed: fc 2 -> 3 gives 18 + 36 + 3 x 8 = 78 (3.6 off), closer than any other.
    assert uniform_widths(CHAIN, 0.8) == [2, 2, 3]


def test_uniform_widths_ties_go_to_the_narrower_width() -> None:
    # one layer of 4 units, 1 weight each; sparsity 0.375 asks for 2.5 weights: widths 2 and 3
    # are both 0.5 off (20 %, so the nudge runs too), and neither search nor nudge takes the 3
    assert uniform_widths([(4, 1)], 0.375) == [2]


def test_uniform_widths_never_drop_a_layer_to_zero() -> None:
    widths = uniform_widths(CHAIN, 0.999)
    assert min(widths) >= 1


def test_fedavg_cnn_at_sparsity_09_keeps_a_third_of_each_layer_within_2_percent() -> None:
    cnn = [(32, 1, 5, 5), (64, 32, 5, 5), (512, 64 * 7 * 7)]
    widths = uniform_widths(cnn, 0.9)
    assert widths == [10, 20, 164]
    kept = chain_param_count(cnn, widths)
    # 10 x 25 + 20 x 10 x 25 + 164 x 20 x 49 = 250 + 5,000 + 160,720
    assert kept == 165_970
    total = 800 + 51_200 + 1_605_632
    assert abs(kept - 0.1 * total) / (0.1 * total) < 0.02
    check_kept_params(kept, total, 0.9)


def test_check_kept_params_refuses_more_than_2_percent_off() -> None:
    check_kept_params(101, 1000, 0.9)  # 1% over the requested 100
    check_kept_params(99, 1000, 0.9)
    with pytest.raises(UsageError, match=r"--sparsity=0\.9.*103 of 1,000"):
        check_kept_params(103, 1000, 0.9)
    # too few is refused as well: a ticket sparser than its label
    with pytest.raises(UsageError, match=r"--sparsity=0\.9.*97 of 1,000"):
        check_kept_params(97, 1000, 0.9)


def test_fraction_widths_round_to_multiples_and_land_closest_by_hand() -> None:
    """Two layers of 4 and 8 units, weights = 10 x a + b: a fraction of 1/2 keeps 2 and 4
    (24 of 48); with multiples of 4 for `b` a quarter cannot be cut finer than 4."""
    full = {"a": 4, "b": 8}

    def count(w: Mapping[str, int]) -> int:
        return 10 * w.get("a", 4) + w.get("b", 8)

    assert fraction_widths(full, count, 0.5) == {"a": 2, "b": 4}
    assert count({"a": 2, "b": 4}) == 24 == 0.5 * count(full)
    # sparsity 0.75 asks for 12: a=1, b=2 gives exactly 12
    assert fraction_widths(full, count, 0.75) == {"a": 1, "b": 2}
    # with b in multiples of 4, the fraction's candidates are (1, 4) = 14, (2, 4) = 24, ...;
    # 14 is 17% off, so one layer moves off the fraction: nothing closer exists, (1, 4) stays
    assert fraction_widths(full, count, 0.75, multiples={"b": 4}) == {"a": 1, "b": 4}
