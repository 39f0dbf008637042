"""magnitude_prune / random_prune / prunable_names against answers worked out by hand."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fl_lightning.errors import UsageError
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.magnitude import (
    magnitude_prune,
    prunable_names,
    random_prune,
)
from fl_lightning.pruning.mask import Mask

# |w|: a = 0.1 0.5 0.3 0.2, b = 0.05 0.9 0.4
HAND = {
    "encoder.a.weight": torch.tensor([[0.1, -0.5], [0.3, 0.2]]),
    "encoder.b.weight": torch.tensor([[0.05, -0.9, 0.4]]),
}


def test_global_threshold_by_hand() -> None:
    # 7 weights, sparsity 0.5: keep round(3.5) = 4, the four largest: 0.9, 0.5, 0.4, 0.3.
    mask = magnitude_prune(HAND, 0.5)
    assert mask["encoder.a.weight"].tolist() == [[False, True], [True, False]]
    assert mask["encoder.b.weight"].tolist() == [[False, True, True]]
    # sparsity 0.6: keep round(2.8) = 3: 0.9, 0.5, 0.4; layer a keeps one weight only.
    mask = magnitude_prune(HAND, 0.6)
    assert mask["encoder.a.weight"].tolist() == [[False, True], [False, False]]
    assert mask["encoder.b.weight"].tolist() == [[False, True, True]]
    assert mask.num_kept == 3


def test_layer_scope_by_hand() -> None:
    # sparsity 0.6 per layer: a keeps round(1.6) = 2 (0.5, 0.3), b keeps round(1.2) = 1 (0.9).
    mask = magnitude_prune(HAND, 0.6, scope="layer")
    assert mask["encoder.a.weight"].tolist() == [[False, True], [True, False]]
    assert mask["encoder.b.weight"].tolist() == [[False, True, False]]


def test_ties_are_broken_by_position() -> None:
    ties = {"encoder.a.weight": torch.ones(1, 2), "encoder.b.weight": -torch.ones(1, 2)}
    mask = magnitude_prune(ties, 0.75)  # keep 1 of 4 equal magnitudes: the first, in name order
    assert mask["encoder.a.weight"].tolist() == [[True, False]]
    assert mask["encoder.b.weight"].tolist() == [[False, False]]
    assert magnitude_prune(ties, 0.5, scope="layer")["encoder.b.weight"].tolist() == [[True, False]]


def test_zero_sparsity_keeps_everything() -> None:
    assert magnitude_prune(HAND, 0.0).density == 1.0


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=1, max_size=4),
    sparsity=st.floats(0.0, 0.999),
    seed=st.integers(0, 2**16),
    quantise=st.booleans(),
)
def test_exact_kept_count_and_threshold(
    sizes: list[tuple[int, int]], sparsity: float, seed: int, quantise: bool
) -> None:
    g = torch.Generator().manual_seed(seed)
    params = {f"encoder.l{i}.weight": torch.randn(*s, generator=g) for i, s in enumerate(sizes)}
    if quantise:  # many ties
        params = {k: v.round() for k, v in params.items()}
    total = sum(v.numel() for v in params.values())

    mask = magnitude_prune(params, sparsity)
    assert mask.num_kept == round((1 - sparsity) * total)
    kept = torch.cat([params[n][mask[n]].abs() for n in params])
    pruned = torch.cat([params[n][~mask[n]].abs() for n in params])
    if kept.numel() and pruned.numel():
        assert kept.min() >= pruned.max()

    layer = magnitude_prune(params, sparsity, scope="layer")
    for name, tensor in params.items():
        assert int(layer[name].sum()) == round((1 - sparsity) * tensor.numel())


def test_iterative_pruning_never_regrows() -> None:
    g = torch.Generator().manual_seed(0)
    params = {
        "encoder.a.weight": torch.randn(20, 10, generator=g),
        "encoder.b.weight": torch.randn(5, 8, generator=g),
    }
    first = magnitude_prune(params, 0.5)
    # Training moves weights: make every pruned one the largest of all.
    moved = {n: torch.where(first[n], p, 100 + p.abs()) for n, p in params.items()}
    second = magnitude_prune(moved, 0.8, current=first)
    assert second.num_kept == round(0.2 * 240)
    for name in params:
        assert not (second[name] & ~first[name]).any()
    layer_second = magnitude_prune(moved, 0.8, scope="layer", current=first)
    for name in params:
        assert not (layer_second[name] & ~first[name]).any()
    with pytest.raises(UsageError, match="never come back"):
        magnitude_prune(moved, 0.3, current=first)


def test_current_mask_must_fit() -> None:
    with pytest.raises(UsageError, match="not among the names"):
        magnitude_prune(
            HAND, 0.5, current=Mask({"encoder.c.weight": torch.ones(2, dtype=torch.bool)})
        )
    wrong_shape = Mask({"encoder.a.weight": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="shape"):
        magnitude_prune(HAND, 0.5, current=wrong_shape)


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5])
def test_sparsity_out_of_range(sparsity: float) -> None:
    with pytest.raises(UsageError, match="sparsity"):
        magnitude_prune(HAND, sparsity)


def test_bad_arguments() -> None:
    with pytest.raises(UsageError, match="scope"):
        magnitude_prune(HAND, 0.5, scope="bogus")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="not parameters"):
        magnitude_prune(HAND, 0.5, names=["encoder.zzz.weight"])
    with pytest.raises(UsageError, match="nothing to prune"):
        magnitude_prune({"head.weight": torch.ones(2, 2)}, 0.5)
    with pytest.raises(UsageError, match="NaN"):
        magnitude_prune({"encoder.a.weight": torch.tensor([[1.0, float("nan")]])}, 0.5)


class _Normed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 4)
        )
        self.head = nn.Linear(4, 3)


def test_prunable_names() -> None:
    assert prunable_names(_Normed()) == ["encoder.0.weight", "encoder.3.weight"]
    assert prunable_names(_Normed(), include_head=True) == [
        "encoder.0.weight",
        "encoder.3.weight",
        "head.weight",
    ]
    cnn = Classifier(model="cnn")
    assert prunable_names(cnn) == [
        "encoder.conv1.weight",
        "encoder.conv2.weight",
        "encoder.fc.weight",
    ]
    assert prunable_names(dict(cnn.state_dict())) == prunable_names(cnn)


def test_magnitude_prune_of_a_module_skips_head_and_biases() -> None:
    model = Classifier(model="mlp")
    mask = magnitude_prune(model, 0.9)
    assert list(mask) == ["encoder.fc1.weight", "encoder.fc2.weight"]
    assert mask.num_kept == round(0.1 * (784 * 200 + 200 * 200))


def test_random_prune_matches_per_layer_counts_and_is_seeded() -> None:
    params = {"encoder.a.weight": torch.randn(30, 7), "encoder.b.weight": torch.randn(4, 4, 3, 3)}
    like = magnitude_prune(params, 0.8)
    density = like.layer_density()
    before = torch.get_rng_state()
    mask = random_prune(params, density, seed=3)
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is left alone
    for name in params:
        assert int(mask[name].sum()) == int(like[name].sum())
    assert mask == random_prune(params, density, seed=3)
    assert mask != random_prune(params, density, seed=4)
    assert mask != like
    with pytest.raises(UsageError, match="density"):
        random_prune(params, {"encoder.a.weight": 1.5}, seed=0)


def test_one_hundred_ties_keep_the_earliest_positions() -> None:
    # 4 ties can look stable under an unstable sort; 200 equal magnitudes cannot.
    ties = {"encoder.a.weight": torch.ones(10, 10), "encoder.b.weight": -torch.ones(10, 10)}
    mask = magnitude_prune(ties, 0.75)  # keep 50 of 200: the first 50 of `a`, in row-major order
    assert mask["encoder.a.weight"].reshape(-1).nonzero().squeeze(1).tolist() == list(range(50))
    assert not mask["encoder.b.weight"].any()
    layer = magnitude_prune(ties, 0.7, scope="layer")  # 30 of each tensor
    for name in ties:
        assert layer[name].reshape(-1).nonzero().squeeze(1).tolist() == list(range(30))
    # among still-kept candidates too: prune positions 0..9, then keep 20 of the remaining 90
    first = Mask({"encoder.a.weight": torch.arange(100).reshape(10, 10) >= 10})
    second = magnitude_prune({"encoder.a.weight": torch.ones(10, 10)}, 0.8, current=first)
    assert second["encoder.a.weight"].reshape(-1).nonzero().squeeze(1).tolist() == list(
        range(10, 30)
    )


def test_layer_scope_never_brings_a_pruned_weight_back() -> None:
    params = {"encoder.a.weight": torch.tensor([[4.0, 3.0, 2.0, 1.0]])}
    first = magnitude_prune(params, 0.5, scope="layer")  # keeps 4.0, 3.0
    moved = {"encoder.a.weight": torch.tensor([[0.1, 0.2, 9.0, 8.0]])}  # pruned ones grew
    second = magnitude_prune(moved, 0.75, scope="layer", current=first)
    assert second["encoder.a.weight"].tolist() == [[False, True, False, False]]
    with pytest.raises(UsageError) as info:
        magnitude_prune(moved, 0.25, scope="layer", current=first)
    assert str(info.value) == (
        "sparsity is below what the current mask already prunes ('encoder.a.weight': "
        "2 weights left, 3 requested); pruned weights never come back."
    )
    # the same sparsity again is allowed: nothing needs to come back
    assert magnitude_prune(moved, 0.5, scope="layer", current=first) == first


def test_partial_current_mask_leaves_the_other_tensors_whole() -> None:
    # current prunes a's 0.5 only; b is not in it, so all of b still competes.
    current = Mask({"encoder.a.weight": torch.tensor([[True, False], [True, True]])})
    mask = magnitude_prune(HAND, 0.5, current=current)  # keep 4 of 7: 0.9, 0.4, 0.3, 0.2
    assert list(mask) == ["encoder.a.weight", "encoder.b.weight"]
    assert mask["encoder.a.weight"].tolist() == [[False, False], [True, True]]
    assert mask["encoder.b.weight"].tolist() == [[False, True, True]]


@pytest.mark.parametrize(
    ("numel", "sparsity", "kept"),
    [(5, 0.5, 2), (7, 0.5, 4), (10, 0.25, 8), (3, 0.5, 2), (8, 0.9, 1)],
)
def test_kept_counts_are_rounded_half_to_even(numel: int, sparsity: float, kept: int) -> None:
    # round(2.5) = 2, round(3.5) = 4, round(7.5) = 8, round(1.5) = 2, round(0.8) = 1
    params = {"encoder.a.weight": torch.arange(1.0, numel + 1).reshape(1, numel)}
    assert magnitude_prune(params, sparsity).num_kept == kept
    assert magnitude_prune(params, sparsity, scope="layer").num_kept == kept
    # the largest magnitudes are the last positions
    assert magnitude_prune(params, sparsity)["encoder.a.weight"][0, numel - kept :].all()
    assert random_prune(params, {"encoder.a.weight": 1 - sparsity}, seed=0).num_kept == kept


def test_random_prune_accepts_density_one_and_zero() -> None:
    params = {"encoder.a.weight": torch.randn(3, 4), "encoder.b.weight": torch.randn(2, 2)}
    mask = random_prune(params, {"encoder.a.weight": 1.0, "encoder.b.weight": 0.0}, seed=1)
    assert mask["encoder.a.weight"].all() and not mask["encoder.b.weight"].any()
    with pytest.raises(UsageError, match=r"density of encoder\.b\.weight"):
        random_prune(params, {"encoder.b.weight": -0.1}, seed=1)


def test_pruning_is_by_magnitude_and_names_are_checked() -> None:
    # negative weights compete by |w|: -9 is the largest
    params = {"encoder.a.weight": torch.tensor([[1.0, -9.0, 3.0, -2.0]])}
    assert magnitude_prune(params, 0.5)["encoder.a.weight"].tolist() == [[False, True, True, False]]
    with pytest.raises(UsageError, match="nothing to prune"):
        magnitude_prune(params, 0.5, names=[])
    with pytest.raises(UsageError, match="holds NaN or infinite"):
        magnitude_prune({"encoder.a.weight": torch.tensor([[1.0, float("inf")]])}, 0.5)
    # a head and a 1-D weight are never prunable by default
    assert (
        prunable_names({"encoder.n.weight": torch.ones(3), "head.weight": torch.ones(2, 2)}) == []
    )
    twice = magnitude_prune(HAND, 0.5, names=["encoder.b.weight", "encoder.b.weight"])
    assert list(twice) == ["encoder.b.weight"] and twice.num_kept == 2


def test_scope_literal_and_runtime_choices_agree() -> None:
    from typing import get_args

    from fl_lightning.pruning.magnitude import SCOPES, Scope

    assert get_args(Scope) == SCOPES == ("global", "layer")


def test_refusals_list_names_in_sorted_order() -> None:
    backwards = dict(reversed(list(HAND.items())))  # b before a
    with pytest.raises(UsageError) as err:
        magnitude_prune(backwards, 0.5, names=["encoder.x.weight"])
    assert "(known: encoder.a.weight, encoder.b.weight)" in str(err.value)
    extras = [f"encoder.{c}.weight" for c in "zyxwvc"]  # a set would not keep them sorted
    current = Mask({n: torch.ones(2, dtype=torch.bool) for n in extras})
    with pytest.raises(UsageError) as err:
        magnitude_prune(HAND, 0.5, current=current)
    assert f"the current mask prunes {sorted(extras)}," in str(err.value)
