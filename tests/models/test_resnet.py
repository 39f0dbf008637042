"""ResNet-8 (GroupNorm): shapes, parameter count, DAE, unstructured pruning round trip, and the
one-line refusal of channel tickets (its residual additions break the chain rule)."""

from __future__ import annotations

import pytest
import torch

from fl_lightning.data.shape import ImageShape
from fl_lightning.errors import UsageError
from fl_lightning.federated.codec import decode, encode
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.components import build_decoder, build_encoder
from fl_lightning.models.dae import DAEPretrainer
from fl_lightning.pruning.channel_ticket import channel_widths
from fl_lightning.pruning.magnitude import magnitude_prune, prunable_names


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


def test_channel_tickets_are_refused_with_one_line() -> None:
    with pytest.raises(UsageError, match=r"needs a model with unit structure, and model "
                       r"'resnet8' declares none"):  # fmt: skip
        channel_widths("resnet8", "fashion_mnist", 0.5)
