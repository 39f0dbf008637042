"""Model surgery: exact copies of kept units, the function preserved, and the small model's
parameters and FLOPs counted by hand."""

from __future__ import annotations

import torch

from fl_lightning.models.classifier import Classifier
from fl_lightning.models.components import ImageShape
from fl_lightning.models.cost import forward_flops, parameter_count
from fl_lightning.models.surgery import (
    input_columns,
    narrow_encoder,
    narrow_encoder_state,
    narrow_state,
)
from fl_lightning.models.units import Unit, chain_units, narrow_units

FULL = {"conv1": 32, "conv2": 64, "fc": 512}


def _classifier(seed: int, widths: dict[str, int] | None = None) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(model="cnn", widths=widths).eval()


def _random_kept(seed: int, widths: dict[str, int]) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randperm(FULL[n], generator=g)[:w].sort().values for n, w in widths.items()}


def test_narrow_state_by_hand() -> None:
    state = {
        "a.weight": torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
        "a.bias": torch.tensor([0.1, 0.2, 0.3]),
        "head.weight": torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        "head.bias": torch.tensor([7.0, 8.0]),
    }
    out = narrow_state(state, ["a"], {"a": torch.tensor([0, 2])}, consumer="head")
    assert out["a.weight"].tolist() == [[1.0, 2.0], [5.0, 6.0]]
    assert torch.equal(out["a.bias"], torch.tensor([0.1, 0.3]))
    assert out["head.weight"].tolist() == [[1.0, 3.0], [4.0, 6.0]]  # every class kept
    assert out["head.bias"].tolist() == [7.0, 8.0]


def test_narrow_state_is_a_copy() -> None:
    """Writing into every tensor of the narrow state leaves the input state as it was, the
    consumer's and the untouched entries included."""
    state = {
        "a.weight": torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
        "a.bias": torch.tensor([0.1, 0.2, 0.3]),
        "head.weight": torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        "head.bias": torch.tensor([7.0, 8.0]),
        "other": torch.tensor([9.0]),
    }
    before = {name: t.clone() for name, t in state.items()}
    for kept in (torch.tensor([0, 2]), torch.tensor([0, 1, 2])):  # some or all units kept
        out = narrow_state(state, ["a"], {"a": kept}, consumer="head")
        for tensor in out.values():
            tensor.fill_(-1.0)
        for name, tensor in state.items():
            assert torch.equal(tensor, before[name]), name


def test_a_flattened_conv_channel_owns_a_block_of_columns() -> None:
    # channel c of a conv with a 2x2 map is read by columns 4c .. 4c + 3 after flatten
    assert input_columns(torch.tensor([1, 3]), 4).tolist() == [4, 5, 6, 7, 12, 13, 14, 15]


def test_surgery_with_nothing_pruned_is_the_identity() -> None:
    full = _classifier(0)
    kept = {n: torch.arange(w) for n, w in FULL.items()}
    state, widths = narrow_encoder_state("cnn", full.state_dict(), kept)
    assert widths == FULL
    encoder_state = {k: v for k, v in full.state_dict().items() if k.startswith("encoder.")}
    assert state.keys() == encoder_state.keys()
    for name, tensor in encoder_state.items():
        assert torch.equal(state[name], tensor), name
    x = torch.randn(3, 1, 28, 28)
    encoder = narrow_encoder("cnn", ImageShape(1, 28, 28), full.state_dict(), kept)
    assert torch.equal(encoder(x), full.encoder(x))


def test_kept_channels_of_the_first_layer_give_the_same_outputs() -> None:
    full = _classifier(1)
    kept = _random_kept(0, {"conv1": 10, "conv2": 20, "fc": 164})
    small = narrow_encoder("cnn", ImageShape(1, 28, 28), full.state_dict(), kept)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(small.conv1(x), full.encoder.conv1(x)[:, kept["conv1"]])


def test_surgery_keeps_the_function_when_the_dropped_units_are_silent() -> None:
    """Zero the dropped units' weights and biases in the full network (their ReLU outputs are
    then 0 and feed nothing): the narrow network computes the very same logits."""
    widths = {"conv1": 10, "conv2": 20, "fc": 164}
    kept = _random_kept(2, widths)
    full = _classifier(3)
    with torch.no_grad():
        for name in widths:
            layer = getattr(full.encoder, name)
            dropped = torch.ones(FULL[name], dtype=torch.bool)
            dropped[kept[name]] = False
            layer.weight[dropped] = 0.0
            layer.bias[dropped] = 0.0
    state, built_widths = narrow_encoder_state("cnn", full.state_dict(), kept)
    small = _classifier(4, built_widths)
    small.load_encoder_state(state)
    small.head.load_state_dict({"weight": full.head.weight[:, kept["fc"]], "bias": full.head.bias})
    x = torch.randn(4, 1, 28, 28)
    assert torch.allclose(small(x), full(x), atol=1e-5, rtol=0)
    assert small(x).shape == (4, 10)


def test_small_cnn_parameters_and_flops_by_hand() -> None:
    small = _classifier(0, {"conv1": 10, "conv2": 20, "fc": 164})
    # conv1 10x1x5x5 + 10; conv2 20x10x5x5 + 20; fc 164 x (20 x 7 x 7) + 164; head 10 x 164 + 10
    assert parameter_count(small) == 260 + 5_020 + 160_884 + 1_650
    # 2 FLOPs per multiply-add: conv1 250 MACs x 28 x 28 outputs; conv2 5,000 x 14 x 14;
    # fc 980 x 164; head 164 x 10
    expected = 2 * (250 * 784 + 5_000 * 196 + 980 * 164 + 164 * 10)
    assert forward_flops(small, (1, 28, 28)) == expected == 2_676_720
    full = _classifier(0)
    assert parameter_count(full) == 832 + 51_264 + 1_606_144 + 5_130
    assert forward_flops(full, (1, 28, 28)) == 2 * (800 * 784 + 51_200 * 196 + 3_136 * 512 + 5_120)


def test_narrow_units_cuts_rows_followers_and_reader_columns_by_hand() -> None:
    """A layer `a` of 3 units, a per-channel `n` after it, a conv `b` reading it; keep 0 and 2."""
    state = {
        "e.a.weight": torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
        "e.a.bias": torch.tensor([7.0, 8.0, 9.0]),
        "e.n.weight": torch.tensor([10.0, 11.0, 12.0]),
        "e.n.bias": torch.tensor([13.0, 14.0, 15.0]),
        "e.b.weight": torch.arange(6.0).reshape(2, 3, 1, 1),
        "e.other.weight": torch.ones(2),
    }
    unit = Unit(width="a", layer="a", follows=("n",), readers=("b",))
    out = narrow_units(state, [unit], {"a": torch.tensor([0, 2])}, prefix="e.")
    assert out["e.a.weight"].tolist() == [[1.0, 2.0], [5.0, 6.0]]
    assert out["e.a.bias"].tolist() == [7.0, 9.0]
    assert out["e.n.weight"].tolist() == [10.0, 12.0]
    assert out["e.n.bias"].tolist() == [13.0, 15.0]
    assert out["e.b.weight"].reshape(2, 2).tolist() == [[0.0, 2.0], [3.0, 5.0]]
    assert torch.equal(out["e.other.weight"], state["e.other.weight"])
    assert state["e.a.bias"].tolist() == [7.0, 8.0, 9.0]  # the input is not changed


def test_chain_units_are_each_layer_read_by_the_next() -> None:
    assert chain_units(("conv1", "conv2", "fc")) == (
        Unit("conv1", "conv1", readers=("conv2",)),
        Unit("conv2", "conv2", readers=("fc",)),
        Unit("fc", "fc", readers=()),
    )
