"""The wire format: sizes worked by hand, exact round trips, and refusal of bad payloads."""

from __future__ import annotations

import struct
import zlib

import pytest
import torch

from fl_lightning.federated.codec import (
    HEADER_FORMAT,
    HEADER_SIZE,
    PayloadError,
    decode,
    encode,
    payload_size,
    read_header,
)
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.mask import Mask


def tiny_state() -> tuple[dict[str, torch.Tensor], Mask]:
    """A 2x3 masked weight with 4 kept entries and a dense bias of 2: 6 values sent."""
    state = {
        "layer.weight": torch.tensor([[1.5, -2.0, 3.25], [4.0, 5.5, -6.0]]),
        "layer.bias": torch.tensor([0.5, -0.25]),
    }
    mask = Mask({"layer.weight": torch.tensor([[True, False, True], [True, False, True]])})
    return state, mask


def test_header_size_is_fixed() -> None:
    assert HEADER_SIZE == 4 + 1 + 1 + 1 + 1 + 8 + 8 + 4 + 8 == 36


@pytest.mark.parametrize(
    ("with_mask", "dtype", "expected"),
    [
        (False, "float32", 36 + 6 * 4),
        (False, "float16", 36 + 6 * 2),
        # bitmap: 2 selector bits (one per key) + 6 mask bits = 8 bits = 1 byte
        (True, "float32", 36 + 1 + 6 * 4),
        (True, "float16", 36 + 1 + 6 * 2),
    ],
)
def test_size_worked_by_hand(with_mask: bool, dtype: str, expected: int) -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=with_mask, dtype=dtype)  # type: ignore[arg-type]
    assert len(payload) == expected
    assert payload_size(state, mask, with_mask=with_mask, dtype=dtype) == expected  # type: ignore[arg-type]


def test_bitmap_spills_into_a_second_byte() -> None:
    state, _ = tiny_state()
    full = Mask.ones_like({"layer.weight": state["layer.weight"]})
    state["other.weight"] = torch.ones(3, 1)
    both = Mask({**full.state_dict(), "other.weight": torch.tensor([[True], [False], [True]])})
    # 3 selector bits + 6 + 3 mask bits = 12 bits -> 2 bytes; values 6 + 2 (bias) + 2 kept = 10
    assert len(encode(state, both, with_mask=True)) == 36 + 2 + 10 * 4
    assert payload_size(state, both, with_mask=True) == 36 + 2 + 10 * 4


def test_header_fields() -> None:
    state, mask = tiny_state()
    header = read_header(encode(state, mask, with_mask=True, dtype="float16"))
    assert header.dtype == "float16"
    assert header.with_mask
    assert header.mask_bits == 6
    assert header.num_values == 6
    assert header.body_length == 1 + 12


def test_round_trip_exact_in_float32_with_mask() -> None:
    state, mask = tiny_state()
    state["layer.weight"][0, 1] = 99.0  # pruned: must not travel
    decoded, got_mask = decode(encode(state, mask, with_mask=True), state)
    assert got_mask == mask
    expected_w = torch.tensor([[1.5, 0.0, 3.25], [4.0, 0.0, -6.0]])
    assert torch.equal(decoded["layer.weight"], expected_w)
    assert torch.equal(decoded["layer.bias"], state["layer.bias"])
    assert decoded["layer.weight"].dtype == torch.float32


def test_values_only_payload_uses_known_mask() -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=False)
    decoded, got_mask = decode(payload, state, mask)
    assert got_mask is mask
    assert decoded["layer.weight"][0, 1].item() == 0.0
    assert decoded["layer.weight"][1, 2].item() == -6.0


def test_round_trip_classifier_float16_within_precision() -> None:
    torch.manual_seed(0)
    model = Classifier(model="mlp")
    state = model.state_dict()
    mask = Mask(
        {n: torch.rand_like(state[n]) > 0.7 for n in ("encoder.fc1.weight", "encoder.fc2.weight")}
    )
    payload = encode(state, mask, with_mask=True, dtype="float16")
    assert len(payload) == payload_size(state, mask, with_mask=True, dtype="float16")
    decoded, got_mask = decode(payload, state)
    assert got_mask == mask
    for name, t in state.items():
        expected = t * mask[name] if name in mask else t
        torch.testing.assert_close(decoded[name], expected, rtol=1e-3, atol=1e-4)
        if name in mask:
            assert bool((decoded[name][~mask[name]] == 0).all())
    decoded32, _ = decode(encode(state, mask, with_mask=False), state, mask)
    for name, t in state.items():
        assert torch.equal(decoded32[name], t * mask[name] if name in mask else t)


def test_empty_mask_is_dense() -> None:
    state, _ = tiny_state()
    empty = Mask({})
    payload = encode(state, empty, with_mask=True)
    assert len(payload) == 36 + 1 + 8 * 4
    decoded, got_mask = decode(payload, state)
    assert len(got_mask) == 0
    assert torch.equal(decoded["layer.weight"], state["layer.weight"])


def test_flipped_body_byte_is_refused() -> None:
    state, mask = tiny_state()
    payload = bytearray(encode(state, mask, with_mask=True))
    payload[HEADER_SIZE + 5] ^= 0x01
    with pytest.raises(PayloadError, match="CRC32"):
        decode(bytes(payload), state)


@pytest.mark.parametrize("cut", [1, 10, 30])
def test_truncated_payload_is_refused(cut: int) -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=True)
    with pytest.raises(PayloadError, match="truncated"):
        decode(payload[:-cut], state)


def test_trailing_bytes_are_refused() -> None:
    state, mask = tiny_state()
    with pytest.raises(PayloadError, match="trailing"):
        decode(encode(state, mask, with_mask=True) + b"\0", state)


def _rewrite_header(payload: bytes, **changes: object) -> bytes:
    fields = list(struct.unpack_from(HEADER_FORMAT, payload))
    names = ["magic", "version", "dtype", "flags", "reserved", "bits", "values", "crc", "length"]
    for key, value in changes.items():
        fields[names.index(key)] = value
    return struct.pack(HEADER_FORMAT, *fields) + payload[HEADER_SIZE:]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"magic": b"NOPE"}, "magic"),
        ({"version": 7}, "version"),
        ({"dtype": 9}, "dtype"),
        ({"flags": 0x80}, "flags"),
    ],
)
def test_bad_header_is_refused(changes: dict[str, object], message: str) -> None:
    state, mask = tiny_state()
    with pytest.raises(PayloadError, match=message):
        decode(_rewrite_header(encode(state, mask, with_mask=True), **changes), state)


def test_value_count_must_match_mask() -> None:
    state, mask = tiny_state()
    other = Mask({"layer.weight": torch.ones(2, 3, dtype=torch.bool)})
    payload = encode(state, mask, with_mask=False)
    with pytest.raises(PayloadError, match="values"):
        decode(payload, state, other)


def test_header_counts_must_match_body() -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=False)
    with pytest.raises(PayloadError, match="need"):
        decode(_rewrite_header(payload, values=5), state, mask)


def test_values_only_without_known_mask_is_refused() -> None:
    state, mask = tiny_state()
    with pytest.raises(PayloadError, match="no mask is known"):
        decode(encode(state, mask, with_mask=False), state)


def test_mask_bits_must_match_template() -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=True)
    bigger = {"layer.weight": torch.zeros(2, 4), "layer.bias": torch.zeros(2)}
    with pytest.raises(PayloadError, match="mask bits"):
        decode(payload, bigger)


def test_non_float_tensors_are_refused() -> None:
    state, mask = tiny_state()
    state["bn.num_batches_tracked"] = torch.tensor(3)
    with pytest.raises(ValueError, match="floating-point"):
        encode(state, mask, with_mask=True)


def test_mask_must_fit_state() -> None:
    state, _ = tiny_state()
    with pytest.raises(ValueError, match="shape"):
        encode(state, Mask({"layer.weight": torch.ones(3, 2, dtype=torch.bool)}), with_mask=True)
    with pytest.raises(ValueError, match="does not have"):
        encode(state, Mask({"nope.weight": torch.ones(1, dtype=torch.bool)}), with_mask=True)


def test_crc_is_of_the_body() -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=True)
    assert read_header(payload).crc32 == zlib.crc32(payload[HEADER_SIZE:])
