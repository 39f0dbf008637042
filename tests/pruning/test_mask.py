"""`Mask`: key order, figures by hand, equality, defensive copies, apply_, save/load."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from fl_lightning.federated.codec import decode, encode
from fl_lightning.pruning.mask import Mask

T, F = True, False


def _reversed_mask() -> Mask:
    """Three tensors given in reverse name order; each one's pattern differs from the others'."""
    return Mask(
        {
            "c.weight": torch.tensor([[T, F, F], [F, F, T]]),
            "b.weight": torch.tensor([F, T, T, T]),
            "a.weight": torch.tensor([[T, T], [F, T]]),
        }
    )


def test_keys_iterate_sorted_whatever_the_construction_order() -> None:
    mask = _reversed_mask()
    assert list(mask) == ["a.weight", "b.weight", "c.weight"]
    assert list(mask.state_dict()) == ["a.weight", "b.weight", "c.weight"]
    assert [row["name"] for row in mask.layer_report()] == ["a.weight", "b.weight", "c.weight"]
    assert list(mask.layer_density()) == ["a.weight", "b.weight", "c.weight"]


def test_codec_round_trip_of_a_mask_built_from_reverse_ordered_keys() -> None:
    # The codec writes the bitmap in the mask's iteration order and reads it back in sorted
    # name order: the two agree only because a Mask iterates sorted.
    mask = _reversed_mask()
    state = {
        "c.weight": torch.arange(1.0, 7.0).reshape(2, 3),
        "b.weight": torch.tensor([10.0, 20.0, 30.0, 40.0]),
        "a.weight": torch.tensor([[-1.0, -2.0], [-3.0, -4.0]]),
    }
    decoded, got = decode(encode(state, mask, with_mask=True), state)
    assert got == mask
    assert torch.equal(got["a.weight"], torch.tensor([[T, T], [F, T]]))
    assert torch.equal(decoded["a.weight"], torch.tensor([[-1.0, -2.0], [0.0, -4.0]]))
    assert torch.equal(decoded["b.weight"], torch.tensor([0.0, 20.0, 30.0, 40.0]))
    assert torch.equal(decoded["c.weight"], torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 6.0]]))


def test_figures_by_hand() -> None:
    mask = _reversed_mask()  # kept: a 3 of 4, b 3 of 4, c 2 of 6
    assert (mask.num_kept, mask.num_total, len(mask)) == (8, 14, 3)
    assert mask.density == 8 / 14
    assert mask.sparsity == pytest.approx(6 / 14)
    assert (mask.kept("a.weight"), mask.kept("b.weight"), mask.kept("c.weight")) == (3, 3, 2)
    assert mask.layer_density() == {"a.weight": 0.75, "b.weight": 0.75, "c.weight": 2 / 6}
    assert mask.layer_report()[2] == {
        "name": "c.weight",
        "shape": [2, 3],
        "kept": 2,
        "total": 6,
        "density": 2 / 6,
    }
    report = mask.report()
    assert (report["density"], report["sparsity"]) == (8 / 14, 1 - 8 / 14)
    assert report["layers"] == mask.layer_report()
    assert repr(mask) == "Mask(3 tensors, density=0.5714)"


def test_empty_and_zero_size_masks_are_dense() -> None:
    empty = Mask({})
    assert (empty.density, empty.sparsity, empty.num_total, len(empty)) == (1.0, 0.0, 0, 0)
    nothing = Mask({"w": torch.zeros(0, 3, dtype=torch.bool)})
    assert nothing.layer_density() == {"w": 1.0}
    assert nothing.density == 1.0


def test_ones_like_keeps_everything() -> None:
    params = {"w": torch.randn(2, 3, dtype=torch.float64), "b": torch.randn(4)}
    mask = Mask.ones_like(params)
    assert list(mask) == ["b", "w"]
    assert mask["w"].dtype == torch.bool and mask["w"].shape == (2, 3)
    assert mask.density == 1.0 and mask.num_total == 10


def test_equality_compares_every_tensor() -> None:
    first = _reversed_mask()
    same = Mask({name: first[name].clone() for name in reversed(list(first))})
    assert first == same
    assert not first.__ne__(same)
    # one differing entry of the last tensor of three
    changed = {name: first[name].clone() for name in first}
    changed["c.weight"][1, 2] = False
    assert first != Mask(changed)
    # a subset or a superset of the keys is not equal, whatever the shared tensors hold
    subset = Mask({"a.weight": first["a.weight"]})
    assert first != subset and subset != first
    assert first != {name: first[name] for name in first}  # a plain dict is not a Mask
    assert hash(first) != hash(same)  # identity hash: masks hold tensors


def test_construction_copies_and_refuses_non_bool() -> None:
    source = torch.tensor([T, F, T])
    mask = Mask({"w": source})
    source[1] = True  # the caller's tensor is not the mask's
    assert mask["w"].tolist() == [T, F, T] and mask.num_kept == 2
    with pytest.raises(TypeError, match=r"'w' must be bool, got torch\.float32"):
        Mask({"w": torch.ones(2)})
    with pytest.raises(TypeError, match="'w' must be a tensor, got list"):
        Mask({"w": [True]})  # type: ignore[dict-item]


def test_validate_against_names_the_first_problem() -> None:
    model = nn.Linear(3, 2)
    Mask({"weight": torch.ones(2, 3, dtype=torch.bool)}).validate_against(model)
    Mask({"bias": torch.ones(2, dtype=torch.bool)}).validate_against(dict(model.named_parameters()))
    with pytest.raises(ValueError, match="'kernel', which the model does not have"):
        Mask({"kernel": torch.ones(2, dtype=torch.bool)}).validate_against(model)
    with pytest.raises(ValueError, match=r"has shape \(3, 2\), the model's parameter has \(2, 3\)"):
        Mask({"weight": torch.ones(3, 2, dtype=torch.bool)}).validate_against(model)


def test_apply_zeroes_pruned_positions_only() -> None:
    model = nn.Linear(3, 2)  # parameters require grad: apply_ must work without autograd
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]]))
        model.bias.copy_(torch.tensor([7.0, 8.0]))
    Mask({"weight": torch.tensor([[T, F, T], [F, T, F]])}).apply_(model)
    assert torch.equal(model.weight, torch.tensor([[1.0, 0.0, 3.0], [0.0, 5.0, 0.0]]))
    assert torch.equal(model.bias, torch.tensor([7.0, 8.0]))  # not in the mask: dense
    assert model.weight.requires_grad and model.weight.dtype == torch.float32


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    mask = _reversed_mask()
    path = tmp_path / "mask.pt"
    mask.save(path)
    assert Mask.load(path) == mask
    assert list(Mask.load(path)) == ["a.weight", "b.weight", "c.weight"]
    # saving again replaces the file in one rename, leaving nothing else behind
    Mask({"w": torch.tensor([F])}).save(path)
    assert Mask.load(path) == Mask({"w": torch.tensor([F])})
    assert os.listdir(tmp_path) == ["mask.pt"]


class _Trap:
    """Unpickling this runs code (it opens a file for writing): a safe load must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def test_load_refuses_pickled_code(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"w": _Trap(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        Mask.load(path)
    assert not marker.exists()


def test_state_dict_is_a_copy_of_the_mapping() -> None:
    mask = _reversed_mask()
    state = mask.state_dict()
    state.pop("a.weight")
    assert list(mask) == ["a.weight", "b.weight", "c.weight"]


def test_figures_are_plain_python_numbers_for_json() -> None:
    mask = _reversed_mask()
    report = mask.report()
    assert json.loads(json.dumps(report)) == report
    assert all(type(d) is float for d in mask.layer_density().values())
    assert type(mask.density) is float and type(mask.num_total) is int


def test_a_missing_name_lists_the_first_eight_known_ones() -> None:
    params = {f"p{i}": torch.zeros(1) for i in range(10)}
    with pytest.raises(ValueError) as info:
        Mask({"q": torch.ones(1, dtype=torch.bool)}).validate_against(params)
    assert str(info.value) == (
        "mask names 'q', which the model does not have (has: p0, p1, p2, p3, p4, p5, p6, p7...)"
    )
