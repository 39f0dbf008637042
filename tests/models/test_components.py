"""Model components: McMahan's CNN size, encoder/decoder shapes, the LightningModules' contracts."""

from __future__ import annotations

import pytest
import torch

from fl_lightning.errors import UsageError
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.components import (
    ImageShape,
    available_models,
    build_decoder,
    build_encoder,
    build_head,
)
from fl_lightning.models.dae import DAEPretrainer

MNIST = ImageShape(1, 28, 28)
CIFAR = ImageShape(3, 32, 32)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_cnn_has_mcmahans_parameter_count() -> None:
    """conv 1->32 (5x5) + conv 32->64 (5x5) + fc 3136->512 + fc 512->10, biases included."""
    by_hand = (25 * 32 + 32) + (25 * 32 * 64 + 64) + (3136 * 512 + 512) + (512 * 10 + 10)
    assert by_hand == 1_663_370
    encoder = build_encoder("cnn", MNIST)
    head = build_head(encoder.out_features, 10)  # type: ignore[arg-type]
    assert count(encoder) + count(head) == by_hand
    assert count(Classifier("cnn", "fashion_mnist")) == by_hand


@pytest.mark.parametrize("model", available_models())
@pytest.mark.parametrize("shape", [MNIST, CIFAR], ids=["1x28x28", "3x32x32"])
def test_encoder_and_mirrored_decoder_shapes(model: str, shape: ImageShape) -> None:
    encoder, decoder = build_encoder(model, shape), build_decoder(model, shape)
    x = torch.randn(4, shape.channels, shape.height, shape.width)
    z = encoder(x)
    assert z.shape == (4, encoder.out_features)
    assert decoder(z).shape == x.shape


def test_cnn_for_cifar_sizes_its_fc_layer() -> None:
    encoder = build_encoder("cnn", CIFAR)
    assert encoder.fc.in_features == 64 * 8 * 8  # type: ignore[union-attr]


def test_unknown_model_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="resnet"):
        build_encoder("resnet", MNIST)


def test_dae_and_classifier_share_encoder_names() -> None:
    """Masks and tickets address `encoder.*` in both modules without renaming."""
    dae_names = {n for n, _ in DAEPretrainer("cnn").named_parameters() if n.startswith("encoder.")}
    clf_names = {n for n, _ in Classifier("cnn").named_parameters() if n.startswith("encoder.")}
    assert dae_names == clf_names == {
        "encoder.conv1.weight", "encoder.conv1.bias", "encoder.conv2.weight",
        "encoder.conv2.bias", "encoder.fc.weight", "encoder.fc.bias",
    }  # fmt: skip


@pytest.mark.parametrize("noise", ["gaussian", "masking"])
def test_dae_corruption_changes_the_input(noise: str) -> None:
    torch.manual_seed(0)
    dae = DAEPretrainer("mlp", noise=noise, noise_std=0.5, mask_prob=0.5)  # type: ignore[arg-type]
    x = torch.randn(8, 1, 28, 28)
    noisy = dae.corrupt(x)
    changed = (noisy != x).float().mean().item()
    assert noisy.shape == x.shape
    if noise == "masking":  # about half the pixels are set to black, the rest untouched
        assert 0.35 < changed < 0.65
        black = dae.black.view(-1)[0]
        assert torch.all((noisy == x) | (noisy == black))
    else:
        assert changed == 1.0


def test_dae_mask_prob_must_be_below_one() -> None:
    with pytest.raises(UsageError, match="mask_prob"):
        DAEPretrainer("mlp", noise="masking", mask_prob=1.0)


def test_classifier_evaluate_counts_correct_predictions() -> None:
    torch.manual_seed(0)
    model = Classifier("mlp", "fashion_mnist")
    x, y = torch.randn(20, 1, 28, 28), torch.randint(0, 10, (20,))
    with torch.no_grad():
        expected = (model(x).argmax(1) == y).float().mean().item()
    acc, loss = model.evaluate([(x[:7], y[:7]), (x[7:], y[7:])])
    assert acc == pytest.approx(expected)
    assert loss > 0
