"""ResNet-8 (GroupNorm): shapes, parameter count, DAE, unstructured pruning round trip, and
channel tickets of its block-internal channels (widths and cuts checked by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fl_lightning.data.shape import ImageShape
from fl_lightning.federated.codec import decode, encode
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.components import build_decoder, build_encoder
from fl_lightning.models.dae import DAEPretrainer, load_dae_checkpoint
from fl_lightning.pruning.channel_ticket import channel_widths, cost_report, make_channel_ticket
from fl_lightning.pruning.magnitude import magnitude_prune, prunable_names
from tests.pruning.test_ticket import write_dae_checkpoint


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_count_by_hand() -> None:
    """Stem conv 1->16 (3x3, no bias) + GN; blocks 16->16, 16->32, 32->64 (two 3x3 convs, two
    GNs, a 1x1 conv + GN shortcut where the shape changes); linear head 64->10."""
    gn = lambda c: 2 * c  # noqa: E731  (weight and bias per channel)
    stem = 9 * 1 * 16 + gn(16)
    block1 = 2 * (9 * 16 * 16 + gn(16))
    block2 = 9 * 16 * 32 + gn(32) + 9 * 32 * 32 + gn(32) + 16 * 32 + gn(32)
    block3 = 9 * 32 * 64 + gn(64) + 9 * 64 * 64 + gn(64) + 32 * 64 + gn(64)
    head = 64 * 10 + 10
    by_hand = stem + block1 + block2 + block3 + head
    assert by_hand == 77_754
    model = Classifier("resnet8", "fashion_mnist")
    assert count(model) == by_hand
    assert count(Classifier("cnn", "fashion_mnist")) / by_hand > 20  # ~20x fewer than the CNN
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._NormBase)]
    assert not norms and any(isinstance(m, torch.nn.GroupNorm) for m in model.modules())


@pytest.mark.parametrize("shape", [ImageShape(1, 28, 28), ImageShape(3, 32, 32)])
def test_encoder_features_and_the_dae_reconstruction_shape(shape: ImageShape) -> None:
    encoder, decoder = build_encoder("resnet8", shape), build_decoder("resnet8", shape)
    x = torch.randn(3, shape.channels, shape.height, shape.width)
    assert encoder(x).shape == (3, 64)
    assert decoder(encoder(x)).shape == x.shape
    dae = DAEPretrainer("resnet8", "fashion_mnist")
    assert type(dae.decoder).__name__ == "ResNet8Decoder"
    assert dae(torch.randn(2, 1, 28, 28)).shape == (2, 1, 28, 28)


def test_an_unstructured_ticket_round_trips_through_a_sparse_payload() -> None:
    torch.manual_seed(0)
    model = Classifier("resnet8", "fashion_mnist")
    names = prunable_names(model)
    assert "encoder.block2.shortcut.0.weight" in names  # every conv, the 1x1 shortcuts too
    assert not any("norm" in n for n in names)  # GroupNorm's per-channel vectors stay dense
    mask = magnitude_prune(model, 0.9)
    mask.apply_(model)
    assert mask.density == pytest.approx(0.1, abs=0.005)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    received, received_mask = decode(encode(state, mask, with_mask=True), state)
    assert received_mask == mask
    assert all(torch.equal(received[k], state[k].float()) for k in state)
    x = torch.randn(4, 1, 28, 28)
    model.load_state_dict(received)
    assert model(x).shape == (4, 10)


def _weights_by_hand(block1: int, block2: int, block3: int) -> int:
    """3x3 convs and 1x1 shortcuts of the encoder; the stages' own channels stay 16/32/64."""
    stem = 9 * 1 * 16
    b1 = 9 * 16 * block1 + 9 * block1 * 16
    b2 = 9 * 16 * block2 + 9 * block2 * 32 + 16 * 32
    b3 = 9 * 32 * block3 + 9 * block3 * 64 + 32 * 64
    return stem + b1 + b2 + b3


def test_channel_widths_narrow_the_inside_of_each_block() -> None:
    assert _weights_by_hand(16, 32, 64) == 76_432
    widths = channel_widths("resnet8", "fashion_mnist", 0.9)
    # one kept fraction, even widths (GroupNorm's 2 groups): 7,600 of 76,432 (0.6% from 7,643)
    assert widths == {"block1": 2, "block2": 2, "block3": 4}
    assert _weights_by_hand(2, 2, 4) == 7_600
    report = cost_report("resnet8", "fashion_mnist", widths)
    assert report["weights"] == {"before": 76_432, "after": 7_600}
    assert [row["name"] for row in report["layers"]] == [
        f"encoder.block{i}.conv1.weight" for i in (1, 2, 3)
    ]
    assert report["layers"][2]["shape"] == [4, 32, 3, 3]
    assert report["forward_flops"]["after"] < 0.15 * report["forward_flops"]["before"]
    encoder = build_encoder("resnet8", ImageShape(1, 28, 28), widths)
    assert encoder(torch.randn(2, 1, 28, 28)).shape == (2, 64)  # the residual path stays 64
    with pytest.raises(ValueError, match="multiple of 2"):
        build_encoder("resnet8", ImageShape(1, 28, 28), {"block1": 3})


def test_a_channel_ticket_cuts_conv1_rows_its_norm_and_conv2_columns(tmp_path: Path) -> None:
    ckpt_path = write_dae_checkpoint(tmp_path / "dae.ckpt", model="resnet8")
    source = load_dae_checkpoint(ckpt_path).encoder_state
    ticket = make_channel_ticket(ckpt_path, 0.9)
    assert ticket.widths == {"block1": 2, "block2": 2, "block3": 4}
    state = ticket.encoder_state
    for i, width in ((1, 2), (2, 2), (3, 4)):
        conv1 = source[f"encoder.block{i}.conv1.weight"]
        kept = conv1.abs().sum(dim=(1, 2, 3)).argsort(descending=True)[:width].sort().values
        assert ticket.provenance["kept_units"][f"block{i}"] == kept.tolist()
        assert torch.equal(state[f"encoder.block{i}.conv1.weight"], conv1[kept])
        for part in ("weight", "bias"):
            key = f"encoder.block{i}.norm1.{part}"
            assert torch.equal(state[key], source[key][kept])
        key = f"encoder.block{i}.conv2.weight"
        assert torch.equal(state[key], source[key][:, kept])
        # what is outside the block's inside is whole and unchanged
        key = f"encoder.block{i}.norm2.weight"
        assert torch.equal(state[key], source[key])
    assert torch.equal(state["encoder.stem.weight"], source["encoder.stem.weight"])
    model = Classifier("resnet8", "fashion_mnist", widths=ticket.widths)
    model.encoder.load_state_dict({k.removeprefix("encoder."): v for k, v in state.items()})
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
