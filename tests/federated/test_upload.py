"""Uploads: the update (local - reference) on kept positions, top-k, and error feedback."""

from __future__ import annotations

import pytest
import torch

from fl_lightning.errors import UsageError
from fl_lightning.federated.codec import decode, read_header
from fl_lightning.federated.upload import UploadCodec, encode_update, rounding_generator
from fl_lightning.pruning.mask import Mask

MASK = Mask({"w": torch.tensor([True, False, True, True])})


def state(*w: float, b: float = 0.0) -> dict[str, torch.Tensor]:
    return {"w": torch.tensor(w), "b": torch.tensor([b])}


def test_upload_carries_the_update_on_kept_positions() -> None:
    reference = state(1.0, 0.0, 2.0, 3.0, b=0.5)
    local = state(1.5, 9.0, 1.0, 3.25, b=0.25)  # 9.0 sits at a pruned position
    payload, residual = encode_update(local, reference, MASK, UploadCodec())
    assert residual is None and read_header(payload).delta
    delta, _ = decode(payload, reference, MASK)
    assert delta["w"].tolist() == [0.5, 0.0, -1.0, 0.25] and delta["b"].tolist() == [-0.25]
    rebuilt, _ = decode(payload, reference, MASK, reference=reference)
    assert rebuilt["w"].tolist() == [1.5, 0.0, 1.0, 3.25]


def test_topk_sends_the_largest_updates() -> None:
    reference = state(0.0, 0.0, 0.0, 0.0)
    local = state(0.1, 0.0, -2.0, 0.3, b=1.0)  # positions b, w0, w2, w3: 1.0, 0.1, -2.0, 0.3
    payload, _ = encode_update(local, reference, MASK, UploadCodec(topk=0.5))
    delta, _ = decode(payload, reference, MASK)
    assert delta["w"].tolist() == pytest.approx([0.0, 0.0, -2.0, 0.0])
    assert delta["b"].tolist() == [1.0]
    assert read_header(payload).values == 2


def test_error_feedback_conserves_the_total() -> None:
    """Over rounds, sum(sent) + residual == sum(true updates), under top-k and int4."""
    settings = UploadCodec(codec="int4", topk=0.5, error_feedback=True, rounding="stochastic")
    torch.manual_seed(0)
    reference = state(0.0, 0.0, 0.0, 0.0)
    residual = None
    sent_total = torch.zeros(4)
    true_total = torch.zeros(4)
    for r in range(6):
        local = state(*torch.randn(4).tolist(), b=float(torch.randn(1)))
        true_total += torch.cat([local["b"], local["w"][MASK["w"]]])
        payload, residual = encode_update(
            local,
            reference,
            MASK,
            settings,
            residual=residual,
            generator=rounding_generator(0, r, 1),
        )
        delta, _ = decode(payload, reference, MASK)
        sent_total += torch.cat([delta["b"], delta["w"][MASK["w"]]])
        assert residual is not None and residual.abs().sum() > 0  # something was held back
    assert residual is not None
    torch.testing.assert_close(sent_total + residual, true_total, rtol=0, atol=1e-5)


def test_sign_with_error_feedback_worked_by_hand() -> None:
    """A constant update u = (3, 1) under `sign` (one chunk: scale = mean |target|).

    round  target    scale  sent      residual
    1      (3, 1)    2      (2, 2)    (1, -1)
    2      (4, 0)    2      (2, 2)    (2, -2)    0 is sent as +scale
    3      (5, -1)   3      (3, -3)   (2, 2)
    4      (5, 3)    4      (4, 4)    (1, -1)
    5      (4, 0)    2      (2, 2)    (2, -2)    round 2 again: a cycle of 3 rounds
    Rounds 3-5 send (9, 3) = 3 u; without error feedback every round sends (2, 2): the second
    coordinate is sent twice too large for ever.
    """
    no_mask = Mask({})
    reference = {"w": torch.zeros(2)}
    local = {"w": torch.tensor([3.0, 1.0])}
    ef = UploadCodec(codec="sign", error_feedback=True)
    residual = None
    sent = []
    for _ in range(5):
        payload, residual = encode_update(local, reference, no_mask, ef, residual=residual)
        sent.append(decode(payload, reference, no_mask)[0]["w"].tolist())
    assert sent == [[2.0, 2.0], [2.0, 2.0], [3.0, -3.0], [4.0, 4.0], [2.0, 2.0]]
    assert residual is not None and residual.tolist() == [2.0, -2.0]
    plain, none = encode_update(local, reference, no_mask, UploadCodec(codec="sign"))
    assert none is None and decode(plain, reference, no_mask)[0]["w"].tolist() == [2.0, 2.0]


def test_without_error_feedback_the_dropped_part_is_lost() -> None:
    reference = state(0.0, 0.0, 0.0, 0.0)
    local = state(0.1, 0.0, -2.0, 0.3, b=1.0)
    _, residual = encode_update(local, reference, MASK, UploadCodec(topk=0.5))
    assert residual is None


def test_a_residual_without_error_feedback_is_ignored() -> None:
    """Without error feedback the upload is the update alone, whatever residual is passed."""
    reference = state(0.0, 0.0, 0.0, 0.0)
    local = state(0.1, 0.0, -2.0, 0.3, b=1.0)
    plain, _ = encode_update(local, reference, MASK, UploadCodec())
    stale = torch.tensor([5.0, -5.0, 5.0, -5.0])
    payload, residual = encode_update(local, reference, MASK, UploadCodec(), residual=stale)
    assert payload == plain and residual is None
    # not even its shape is checked: it is not used
    encode_update(local, reference, MASK, UploadCodec(), residual=torch.zeros(3))


def test_residual_must_fit() -> None:
    reference = state(0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="residual has 3 entries, the update has 4"):
        encode_update(
            reference, reference, MASK, UploadCodec(error_feedback=True), residual=torch.zeros(3)
        )


def test_rounding_generator_is_a_pure_function() -> None:
    a = torch.rand(3, generator=rounding_generator(1, 2, 3))
    assert torch.equal(a, torch.rand(3, generator=rounding_generator(1, 2, 3)))
    assert not torch.equal(a, torch.rand(3, generator=rounding_generator(1, 2, 4)))
    assert not torch.equal(a, torch.rand(3, generator=rounding_generator(1, 3, 3)))


def test_rounding_generator_takes_every_seed_and_keeps_small_ones() -> None:
    """The largest seed accepted works (a 64-bit seed, modulo 2**63); small seeds draw what
    they drew before the modulo."""
    torch.rand(1, generator=rounding_generator(2**32 - 1, 10**6, 10**6))
    old = torch.Generator().manual_seed((7 * 1_000_003 + 3) * 1_000_003 + 5)
    assert torch.equal(
        torch.rand(4, generator=rounding_generator(7, 3, 5)), torch.rand(4, generator=old)
    )


def test_rounding_generators_agree_on_seeds_equal_modulo_2_32() -> None:
    """What `rounding_generator`'s docstring says of PyTorch: its CPU generator uses only the
    low 32 bits of a seed, so the 2**63 modulo does not make distinct generators."""
    seed = (7 * 1_000_003 + 3) * 1_000_003 + 5
    low = torch.Generator().manual_seed(seed % 2**32)
    assert torch.equal(
        torch.rand(4, generator=rounding_generator(7, 3, 5)), torch.rand(4, generator=low)
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (UploadCodec(topk=0.0), r"federation.up_topk=0.0: allowed \(0, 1\]"),
        (UploadCodec(topk=1.5), r"federation.up_topk=1.5: allowed \(0, 1\]"),
        (UploadCodec(codec="int2"), "federation.up_codec='int2' is not known"),  # type: ignore[arg-type]
        (UploadCodec(rounding="up"), "federation.up_rounding='up' is not known"),  # type: ignore[arg-type]
        (
            UploadCodec(codec="sign", rounding="stochastic"),
            r"federation.up_rounding='stochastic' with federation.up_codec='sign'.*allowed: "
            "nearest",
        ),
    ],
)
def test_bad_settings_are_usage_errors(settings: UploadCodec, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        settings.validate()
    UploadCodec(topk=1.0).validate()  # the bound itself is allowed
    UploadCodec(codec="sign", error_feedback=True).validate()
    UploadCodec(codec="sign").validate()  # works without error feedback too (biased)
