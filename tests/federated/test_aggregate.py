"""FedAvg against arrays averaged by hand."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from fl_lightning.federated.aggregate import fedavg
from fl_lightning.pruning.mask import Mask

NO_MASK = Mask({})


def test_two_clients_weighted_by_examples() -> None:
    # (1*[1, 2] + 3*[3, 4]) / 4 = [10, 14] / 4
    out = fedavg(
        [{"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 4.0])}], [1, 3], NO_MASK
    )
    assert torch.equal(out["w"], torch.tensor([2.5, 3.5]))
    assert out["w"].dtype == torch.float32


def test_three_clients_unequal_counts() -> None:
    states = [
        {"w": torch.tensor([[0.0, 6.0]]), "b": torch.tensor([1.0])},
        {"w": torch.tensor([[3.0, 0.0]]), "b": torch.tensor([2.0])},
        {"w": torch.tensor([[6.0, 3.0]]), "b": torch.tensor([4.0])},
    ]
    # weights 2, 1, 3 of 6: w = [0+3+18, 12+0+9]/6 = [3.5, 3.5]; b = (2+2+12)/6 = 8/3
    out = fedavg(states, [2, 1, 3], NO_MASK)
    assert torch.allclose(out["w"], torch.tensor([[3.5, 3.5]]))
    assert torch.allclose(out["b"], torch.tensor([8.0 / 3.0]))


def test_equal_counts_is_plain_mean_and_zero_count_ignored() -> None:
    states = [{"w": torch.tensor([2.0])}, {"w": torch.tensor([4.0])}, {"w": torch.tensor([1e6])}]
    assert torch.equal(fedavg(states, [5, 5, 0], NO_MASK)["w"], torch.tensor([3.0]))


def test_float64_accumulation() -> None:
    # float32 sums of 1e8 + 1 lose the 1; float64 keeps it before the division
    states = [{"w": torch.tensor([1e8])}, {"w": torch.tensor([1.0])}, {"w": torch.tensor([-1e8])}]
    assert fedavg(states, [1, 1, 1], NO_MASK)["w"].item() == pytest.approx(1.0 / 3.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_every_bit_is_the_float64_sum_of_float64_copies(dtype: torch.dtype) -> None:
    """The in-place float64 accumulation rounds exactly as summing float64 copies of the
    clients' tensors did: n * x is exact in float64, so nothing but the sum itself rounds."""
    g = torch.Generator().manual_seed(0)
    states = [{"w": (torch.randn(4096, generator=g) * 10 ** (i - 2)).to(dtype)} for i in range(5)]
    counts = [517, 3, 0, 1_000_003, 64]
    acc = torch.zeros(4096, dtype=torch.float64)
    for state, n in zip(states, counts, strict=True):
        acc = acc + state["w"].to(torch.float64) * n
    expected = (acc / sum(counts)).to(torch.float32)
    assert torch.equal(fedavg(states, counts, NO_MASK)["w"], expected)


def test_pruned_positions_are_exactly_zero() -> None:
    mask = Mask({"w": torch.tensor([True, False, True])})
    states = [{"w": torch.tensor([1.0, 5.0, -1.0])}, {"w": torch.tensor([3.0, -7.0, 1.0])}]
    out = fedavg(states, [1, 1], mask)
    assert torch.equal(out["w"], torch.tensor([2.0, 0.0, 0.0]))
    assert not torch.signbit(out["w"][1])


def test_many_rounds_keep_zeros() -> None:
    torch.manual_seed(0)
    mask = Mask({"w": torch.rand(8, 8) > 0.5})
    global_state = {"w": torch.randn(8, 8) * mask["w"], "b": torch.randn(8)}
    for _ in range(20):
        states = [{k: v + torch.randn_like(v) for k, v in global_state.items()} for _ in range(3)]
        global_state = fedavg(states, [3, 1, 2], mask)
        assert bool((global_state["w"][~mask["w"]] == 0).all())
    assert bool((global_state["b"] != 0).all())  # dense entries are not masked


def test_mask_is_not_changed() -> None:
    mask = Mask({"w": torch.tensor([True, False])})
    before = mask.state_dict()["w"].clone()
    fedavg([{"w": torch.tensor([1.0, 1.0])}], [1], mask)
    assert torch.equal(mask["w"], before)


@pytest.mark.parametrize(
    ("states", "counts", "message"),
    [
        ([], [], "at least one"),
        ([{"w": torch.zeros(2)}], [1, 2], "2 example counts"),
        ([{"w": torch.zeros(2)}, {"w": torch.zeros(2)}], [0, 0], "positive total"),
        ([{"w": torch.zeros(2)}], [-1], ">= 0"),
        ([{"w": torch.zeros(2)}, {"v": torch.zeros(2)}], [1, 1], "different keys"),
        ([{"w": torch.zeros(2)}, {"w": torch.zeros(3)}], [1, 1], "shape"),
    ],
)
def test_bad_input_is_refused(states: list, counts: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fedavg(states, counts, NO_MASK)


def test_mask_must_fit_states() -> None:
    with pytest.raises(ValueError, match="shape"):
        fedavg([{"w": torch.zeros(2)}], [1], Mask({"w": torch.ones(3, dtype=torch.bool)}))


@pytest.mark.parametrize("counts", [[2, -1], [-1, 2], [3, -1, 1], [-2, -1]])
def test_any_negative_count_is_refused(counts: list[int]) -> None:
    states = [{"w": torch.zeros(2)} for _ in counts]
    with pytest.raises(ValueError, match=re.escape(f"example counts must be >= 0, got {counts}")):
        fedavg(states, counts, NO_MASK)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.int32])
def test_non_float_entries_are_refused(dtype: torch.dtype) -> None:
    states = [{"w": torch.zeros(2), "steps": torch.ones(1, dtype=dtype)}] * 2
    with pytest.raises(ValueError, match=f"'steps' is {dtype}; fedavg averages floats only"):
        fedavg(states, [1, 1], NO_MASK)


def test_mask_naming_an_unknown_tensor_is_refused() -> None:
    mask = Mask({"v": torch.ones(2, dtype=torch.bool)})
    with pytest.raises(ValueError, match="mask covers 'v', which the client states do not have"):
        fedavg([{"w": torch.zeros(2)}], [1], mask)


def test_a_zero_count_client_cannot_poison_the_mean() -> None:
    # 0 * NaN is NaN: a client with no examples must be skipped, not weighted by zero
    states = [{"w": torch.tensor([2.0])}, {"w": torch.tensor([float("nan")])}]
    assert torch.equal(fedavg(states, [3, 0], NO_MASK)["w"], torch.tensor([2.0]))


def test_only_masked_tensors_are_masked_and_messages_name_them() -> None:
    mask = Mask({"w": torch.tensor([[True, False]])})
    states = [
        {"w": torch.tensor([[2.0, 2.0]]), "b": torch.tensor([4.0, -4.0])},
        {"w": torch.tensor([[4.0, 4.0]]), "b": torch.tensor([8.0, 0.0])},
    ]
    out = fedavg(states, [1, 1], mask)
    assert list(out) == ["w", "b"]
    assert torch.equal(out["w"], torch.tensor([[3.0, 0.0]]))
    assert torch.equal(out["b"], torch.tensor([6.0, -2.0]))
    with pytest.raises(ValueError, match=r"client state 1 has 'w' of shape \(2,\), state 0 has"):
        fedavg([{"w": torch.zeros(1, 2)}, {"w": torch.zeros(2)}], [1, 1], NO_MASK)
    with pytest.raises(ValueError, match=r"different keys than state 0: \['b', 'c'\]"):
        fedavg(
            [
                {"w": torch.zeros(1), "b": torch.zeros(1)},
                {"w": torch.zeros(1), "c": torch.zeros(1)},
            ],
            [1, 1],
            NO_MASK,
        )
    with pytest.raises(ValueError, match="sum to 0; need a positive total"):
        fedavg([{"w": torch.zeros(1)}], [0], NO_MASK)


def test_numpy_counts_are_plain_ints_in_messages() -> None:
    # partition sizes often arrive as numpy integers; the message shows plain numbers
    counts = list(np.array([2, -1], dtype=np.int64))
    with pytest.raises(ValueError) as info:
        fedavg([{"w": torch.zeros(1)}, {"w": torch.zeros(1)}], counts, NO_MASK)
    assert str(info.value) == "example counts must be >= 0, got [2, -1]"
    out = fedavg([{"w": torch.ones(1)}, {"w": torch.zeros(1)}], list(np.array([1, 3])), NO_MASK)
    assert torch.equal(out["w"], torch.tensor([0.25]))
