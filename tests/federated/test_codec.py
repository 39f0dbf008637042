"""The wire format: sizes by hand, golden bytes, exact round trips, refusal of bad payloads."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np
import pytest
import torch

from fl_lightning.federated.codec import (
    HEADER_FORMAT,
    HEADER_SIZE,
    PayloadError,
    decode,
    encode,
    encode_flat,
    payload_size,
    read_header,
    topk_count,
)
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.mask import Mask


def tiny_state() -> tuple[dict[str, torch.Tensor], Mask]:
    """A 2x3 masked weight with 4 kept entries and a dense bias of 2: 6 values sent.

    Positions in payload order (sorted keys: bias first): 0.5, -0.25, 1.5, 3.25, 4.0, -6.0.
    """
    state = {
        "layer.weight": torch.tensor([[1.5, -2.0, 3.25], [4.0, 5.5, -6.0]]),
        "layer.bias": torch.tensor([0.5, -0.25]),
    }
    mask = Mask({"layer.weight": torch.tensor([[True, False, True], [True, False, True]])})
    return state, mask


def test_header_size_is_fixed() -> None:
    # magic, version, codec, flags, mask coding, index coding, reserved, chunk, mask bits,
    # positions, values, mask bytes, index bytes, body bytes, CRC32
    assert HEADER_SIZE == 4 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 8 + 8 + 8 + 4 + 4 + 8 + 4 == 56


@pytest.mark.parametrize(
    ("with_mask", "codec", "expected"),
    [
        (False, "float32", 56 + 6 * 4),
        (False, "float16", 56 + 6 * 2),
        (False, "int8", 56 + 4 + 6),  # one float32 scale (6 values < 256) + 6 bytes
        (False, "int4", 56 + 4 + 3),  # one scale + 6 nibbles
        # mask: 1 selector byte (2 keys) + a 1-byte bitmap of the 6 mask bits
        (True, "float32", 56 + 2 + 6 * 4),
        (True, "float16", 56 + 2 + 6 * 2),
        (True, "int8", 56 + 2 + 4 + 6),
        (True, "int4", 56 + 2 + 4 + 3),
    ],
)
def test_size_worked_by_hand(with_mask: bool, codec: str, expected: int) -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=with_mask, codec=codec)  # type: ignore[arg-type]
    assert len(payload) == expected
    assert payload_size(state, mask, with_mask=with_mask, codec=codec) == expected  # type: ignore[arg-type]


def test_selector_spills_into_a_second_byte() -> None:
    state = {f"k{i}": torch.ones(1) for i in range(9)}
    # 9 keys -> 2 selector bytes, an empty mask -> a 0-byte bitmap; 9 float32 values
    assert len(encode(state, Mask({}), with_mask=True)) == 56 + 2 + 0 + 9 * 4


def _golden_header(
    codec: int, flags: int, mask_coding: int, index_coding: int, chunk: int,
    mask_bits: int, positions: int, values: int, mask_bytes: int, index_bytes: int, body: bytes,
) -> bytes:  # fmt: skip
    """The header written field by field with literal widths (not the module's format)."""
    head = (
        b"FLL1"
        + bytes([2, codec, flags, mask_coding, index_coding, 0])
        + chunk.to_bytes(2, "little")
        + mask_bits.to_bytes(8, "little")
        + positions.to_bytes(8, "little")
        + values.to_bytes(8, "little")
        + mask_bytes.to_bytes(4, "little")
        + index_bytes.to_bytes(4, "little")
        + len(body).to_bytes(8, "little")
    )
    return head + zlib.crc32(head + body).to_bytes(4, "little")


VALUES_F32 = struct.pack("<6f", 0.5, -0.25, 1.5, 3.25, 4.0, -6.0)
VALUES_F16 = np.array([0.5, -0.25, 1.5, 3.25, 4.0, -6.0], dtype="<f2").tobytes()
# int8: scale 6/127 (float32 bytes 06 83 41 3d); levels rint(x / scale) = 11 -5 32 69 85 -127
VALUES_I8 = bytes.fromhex("0683413d") + struct.pack("<6b", 11, -5, 32, 69, 85, -127)
# int4: scale 6/7 (b7 6d 5b 3f); levels 1 0 2 4 5 -7 -> nibbles 1 0 | 2 4 | 5 9 (low first)
VALUES_I4 = bytes.fromhex("b76d5b3f") + bytes([0x01, 0x42, 0x95])
# selector: keys sorted (layer.bias, layer.weight): only the second masked -> 0b10;
# mask bits row-major 1 0 1 1 0 1 -> bits 0, 2, 3, 5 -> 0x2d
MASK_SECTION = bytes([0x02, 0x2D])


def test_golden_bytes_values_only_float32() -> None:
    state, mask = tiny_state()
    expected = _golden_header(1, 0x00, 0, 0, 0, 0, 6, 6, 0, 0, VALUES_F32) + VALUES_F32
    assert encode(state, mask, with_mask=False) == expected


def test_golden_bytes_first_download_float16() -> None:
    state, mask = tiny_state()
    body = MASK_SECTION + VALUES_F16
    expected = _golden_header(2, 0x01, 1, 0, 0, 6, 6, 6, 2, 0, body) + body
    assert encode(state, mask, with_mask=True, codec="float16") == expected


def test_golden_bytes_int8_delta() -> None:
    state, mask = tiny_state()
    flat = torch.tensor([0.5, -0.25, 1.5, 3.25, 4.0, -6.0])
    payload, _ = encode_flat(flat, state, mask, with_mask=False, codec="int8", delta=True)
    expected = _golden_header(3, 0x02, 0, 0, 256, 0, 6, 6, 0, 0, VALUES_I8) + VALUES_I8
    assert payload == expected


def test_golden_bytes_int4_first_download() -> None:
    state, mask = tiny_state()
    body = MASK_SECTION + VALUES_I4
    expected = _golden_header(4, 0x01, 1, 0, 256, 6, 6, 6, 2, 0, body) + body
    assert encode(state, mask, with_mask=True, codec="int4") == expected


def test_golden_bytes_topk_delta() -> None:
    state, mask = tiny_state()
    flat = torch.tensor([0.5, -0.25, 1.5, 3.25, 4.0, -6.0])
    payload, sent = encode_flat(flat, state, mask, with_mask=False, delta=True, topk=0.5)
    # ceil(0.5 * 6) = 3 largest magnitudes: positions 3, 4, 5 -> bitmap 0b111000 = 0x38
    values = struct.pack("<3f", 3.25, 4.0, -6.0)
    body = bytes([0x38]) + values
    assert payload == _golden_header(1, 0x06, 0, 1, 0, 0, 6, 3, 0, 1, body) + body
    assert sent.tolist() == [0.0, 0.0, 0.0, 3.25, 4.0, -6.0]


# sign: scale mean |x| = 15.5 / 6 (float32 bytes 55 55 25 40); negatives at 1 and 5 -> 0x22
VALUES_SIGN = bytes.fromhex("55552540") + bytes([0x22])


def test_golden_bytes_sign_delta() -> None:
    state, mask = tiny_state()
    flat = torch.tensor([0.5, -0.25, 1.5, 3.25, 4.0, -6.0])
    payload, sent = encode_flat(flat, state, mask, with_mask=False, codec="sign", delta=True)
    expected = _golden_header(5, 0x02, 0, 0, 256, 0, 6, 6, 0, 0, VALUES_SIGN) + VALUES_SIGN
    assert payload == expected
    scale = torch.tensor(15.5) / 6
    assert torch.equal(sent, torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0, -1.0]) * scale)
    update, _ = decode(payload, state, mask)
    assert update["layer.weight"].tolist() == [[scale, 0.0, scale], [scale, 0.0, -scale]]


@pytest.mark.parametrize(
    ("with_mask", "topk", "expected"),
    [
        (False, None, 56 + 4 + 1),  # one float32 scale + 6 sign bits in one byte
        (True, None, 56 + 2 + 4 + 1),  # the mask section (selector + bitmap) before them
        (False, 0.5, 56 + 1 + 4 + 1),  # a 1-byte index bitmap, 3 values: one scale, one byte
    ],
)
def test_sign_size_worked_by_hand(with_mask: bool, topk: float | None, expected: int) -> None:
    state, mask = tiny_state()
    flat = torch.tensor([0.5, -0.25, 1.5, 3.25, 4.0, -6.0])
    payload, _ = encode_flat(
        flat, state, mask, with_mask=with_mask, codec="sign", delta=True, topk=topk
    )
    assert len(payload) == expected
    if topk is None:
        assert payload_size(state, mask, with_mask=with_mask, codec="sign") == expected


def test_sign_payload_of_a_classifier_is_1_125_bits_a_value() -> None:
    """A dense MLP's update: 4 bytes a 256-value chunk + 1 bit a value, plus the header."""
    torch.manual_seed(0)
    state = Classifier(model="mlp").state_dict()
    n = sum(t.numel() for t in state.values())
    flat = torch.randn(n)
    payload, _ = encode_flat(flat, state, Mask({}), with_mask=False, codec="sign", delta=True)
    assert len(payload) == HEADER_SIZE + 4 * -(-n // 256) + -(-n // 8)
    assert len(payload) == payload_size(state, Mask({}), with_mask=False, codec="sign")
    assert 8 * (len(payload) - HEADER_SIZE) / n == pytest.approx(1.125, abs=0.001)


def test_sign_carries_updates_only() -> None:
    """Weights sent as +-scale would lose the model: encoding them is refused, and a sign
    payload that claims to carry weights is refused when read."""
    state, mask = tiny_state()
    with pytest.raises(ValueError, match="codec 'sign' carries updates"):
        encode(state, mask, with_mask=False, codec="sign")
    flat = torch.tensor([0.5, -0.25, 1.5, 3.25, 4.0, -6.0])
    with pytest.raises(ValueError, match="codec 'sign' carries updates"):
        encode_flat(flat, state, mask, with_mask=False, codec="sign")
    weights = _golden_header(5, 0x00, 0, 0, 256, 0, 6, 6, 0, 0, VALUES_SIGN) + VALUES_SIGN
    with pytest.raises(PayloadError, match="a sign payload must carry an update"):
        decode(weights, state, mask)


def test_golden_bytes_rice_mask() -> None:
    """A 1-in-1024 mask is cheaper as Rice-coded gaps (20 bytes) than as a bitmap (128)."""
    state = {"w": torch.zeros(1024)}
    keep = torch.zeros(1024, dtype=torch.bool)
    keep[10] = True
    payload = encode(state, Mask({"w": keep}), with_mask=True)
    # one gap of 10: b = 2, 3 and 4 all take 5 bits; the smallest b wins: quotient 2 in unary
    # "110" (packed low bit first: 0b011), remainder 10 & 3 = 2 as bits 0, 1 (0b10)
    rice = struct.pack("<BBQQ", 2, 1, 1, 3) + bytes([0b011]) + bytes([0b10])
    body = bytes([0x01]) + rice + struct.pack("<f", 0.0)
    assert payload == _golden_header(1, 0x01, 2, 0, 0, 1024, 1, 1, 1 + len(rice), 0, body) + body
    _, got = decode(payload, state)
    assert got == Mask({"w": keep})


def test_header_fields() -> None:
    state, mask = tiny_state()
    header = read_header(encode(state, mask, with_mask=True, codec="int4"))
    assert (header.codec, header.with_mask, header.delta, header.topk) == (
        "int4",
        True,
        False,
        False,
    )
    assert (header.mask_bits, header.positions, header.values, header.chunk) == (6, 6, 6, 256)
    assert (header.mask_bytes, header.index_bytes, header.body_length) == (2, 0, 2 + 7)


def test_a_header_only_payload_is_complete_and_its_header_immutable() -> None:
    """An empty state's payload is exactly the 56-byte header (no body), and it reads back."""
    payload = encode({}, Mask({}), with_mask=False)
    assert len(payload) == HEADER_SIZE == 56
    header = read_header(payload)
    assert (header.positions, header.values, header.body_length) == (0, 0, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        header.values = 1  # type: ignore[misc]


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


def test_delta_is_added_to_the_reference() -> None:
    state, mask = tiny_state()
    flat = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    payload, _ = encode_flat(flat, state, mask, with_mask=False, delta=True)
    reference = {k: v * mask[k] if k in mask else v for k, v in state.items()}
    decoded, _ = decode(payload, state, mask, reference=reference)
    assert decoded["layer.bias"].tolist() == [1.5, 1.75]
    assert decoded["layer.weight"].tolist() == [[4.5, 0.0, 7.25], [9.0, 0.0, 0.0]]
    raw, _ = decode(payload, state, mask)  # no reference: the update itself
    assert raw["layer.weight"].tolist() == [[3.0, 0.0, 4.0], [5.0, 0.0, 6.0]]


def test_require_delta_refuses_weights_and_reads_an_update() -> None:
    state, mask = tiny_state()
    with pytest.raises(PayloadError, match=r"upload carries weights, not an update \(delta\)"):
        decode(encode(state, mask, with_mask=False), state, mask, require_delta=True)
    update, _ = encode_flat(torch.ones(6), state, mask, with_mask=False, delta=True)
    decoded, _ = decode(update, state, mask, require_delta=True)
    assert decoded["layer.bias"].tolist() == [1.0, 1.0]


def test_round_trip_classifier_float16_within_precision() -> None:
    torch.manual_seed(0)
    model = Classifier(model="mlp")
    state = model.state_dict()
    mask = Mask(
        {n: torch.rand_like(state[n]) > 0.7 for n in ("encoder.fc1.weight", "encoder.fc2.weight")}
    )
    payload = encode(state, mask, with_mask=True, codec="float16")
    assert read_header(payload).mask_coding == "rice"  # density 0.3: gaps beat the bitmap
    assert len(payload) == payload_size(state, mask, with_mask=True, codec="float16")
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


def test_mask_from_reverse_ordered_keys_round_trips() -> None:
    state = {"a.weight": torch.ones(2, 2), "b.weight": torch.ones(3)}
    reverse = Mask(
        {
            "b.weight": torch.tensor([True, False, False]),
            "a.weight": torch.tensor([[False, True], [True, True]]),
        }
    )
    _, got = decode(encode(state, reverse, with_mask=True), state)
    assert got == reverse


def test_empty_mask_is_dense() -> None:
    state, _ = tiny_state()
    payload = encode(state, Mask({}), with_mask=True)
    assert len(payload) == 56 + 1 + 8 * 4  # selector byte, no mask bits, 8 values
    decoded, got_mask = decode(payload, state)
    assert len(got_mask) == 0
    assert torch.equal(decoded["layer.weight"], state["layer.weight"])


@pytest.mark.parametrize("offset", [5, 6, 7, 8, 10, 12, 20, 28, 36, 40, HEADER_SIZE + 5])
def test_flipped_header_or_body_byte_is_refused_by_the_crc(offset: int) -> None:
    """Codec (5), flags (6), codings (7, 8), chunk (10), counts (12-40) and body: all covered."""
    state, mask = tiny_state()
    payload = bytearray(encode(state, mask, with_mask=True))
    payload[offset] ^= 0x01
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
    with pytest.raises(PayloadError, match="1 trailing bytes"):
        decode(encode(state, mask, with_mask=True) + b"\0", state)


NAMES = [
    "magic", "version", "codec", "flags", "mask_coding", "index_coding", "reserved", "chunk",
    "mask_bits", "positions", "values", "mask_bytes", "index_bytes", "length", "crc",
]  # fmt: skip


def _rewrite_header(payload: bytes, body: bytes | None = None, **changes: object) -> bytes:
    """The payload with header fields changed and the CRC recomputed (so later checks run)."""
    fields = list(struct.unpack_from(HEADER_FORMAT, payload))
    body = payload[HEADER_SIZE:] if body is None else body
    fields[NAMES.index("length")] = len(body)
    for key, value in changes.items():
        fields[NAMES.index(key)] = value
    head = struct.pack(HEADER_FORMAT, *fields)[:-4]
    return head + struct.pack("<I", zlib.crc32(head + body)) + body


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"magic": b"NOPE"}, "magic"),
        ({"version": 7}, "format version 7 is not supported"),
        ({"codec": 9}, "unknown value codec code 9"),
        ({"flags": 0x80}, "unknown payload flags 0x80"),
        ({"reserved": 1}, "reserved header byte is 1"),
        ({"mask_coding": 3}, "unknown mask coding code 3"),
        ({"mask_coding": 0}, "mask flag and mask coding disagree"),
        ({"index_coding": 1}, "top-k flag and index coding disagree"),
        ({"chunk": 256}, "chunk size 256 is not float32's"),
    ],
)
def test_bad_header_is_refused(changes: dict[str, object], message: str) -> None:
    state, mask = tiny_state()
    with pytest.raises(PayloadError, match=message):
        decode(_rewrite_header(encode(state, mask, with_mask=True), **changes), state)


def test_old_format_version_is_refused_with_a_clear_message() -> None:
    """A version-1 payload (36-byte header, CRC over the body only) is named as such."""
    body = struct.pack("<2f", 1.0, 2.0)
    old = struct.pack("<4sBBBBQQIQ", b"FLL1", 1, 1, 0, 0, 0, 2, zlib.crc32(body), len(body))
    old += body + bytes(HEADER_SIZE)  # long enough for the new header
    with pytest.raises(PayloadError, match=r"version 1 \(an older fl_lightning's.*version 2"):
        read_header(old)


def test_value_count_must_match_mask() -> None:
    state, mask = tiny_state()
    other = Mask({"layer.weight": torch.ones(2, 3, dtype=torch.bool)})
    payload = encode(state, mask, with_mask=False)
    with pytest.raises(PayloadError, match="payload has 6 positions, the mask and template need 8"):
        decode(payload, state, other)


def test_header_counts_must_match_body() -> None:
    """Counts that claim fewer values than the body holds, with a valid CRC."""
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=False)
    rewritten = _rewrite_header(payload, values=5, positions=5)
    with pytest.raises(PayloadError, match=r"body is 24 bytes.*5 float32 values\) need 20"):
        decode(rewritten, state, mask)


def test_values_without_topk_must_cover_every_position() -> None:
    state, mask = tiny_state()
    rewritten = _rewrite_header(encode(state, mask, with_mask=False), values=5)
    with pytest.raises(PayloadError, match="sends 5 values for 6 positions without top-k"):
        decode(rewritten, state, mask)


def test_topk_index_must_match_value_count() -> None:
    state, mask = tiny_state()
    flat = torch.arange(6, dtype=torch.float32)
    payload, _ = encode_flat(flat, state, mask, with_mask=False, delta=True, topk=0.5)
    body = bytes([0x30]) + payload[HEADER_SIZE + 1 :]  # 2 positions marked, 3 values sent
    with pytest.raises(PayloadError, match="index section marks 2 positions, it sends 3"):
        decode(_rewrite_header(payload, body=body), state, mask)


def test_topk_payload_must_be_a_delta() -> None:
    state, mask = tiny_state()
    payload, _ = encode_flat(torch.ones(6), state, mask, with_mask=False, delta=True, topk=0.5)
    with pytest.raises(PayloadError, match="must carry an update"):
        decode(_rewrite_header(payload, flags=0x04), state, mask)


def test_mask_padding_bits_must_be_zero() -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=True)
    body = bytearray(payload[HEADER_SIZE:])
    body[1] |= 0x40  # bit 6 of the 6-bit bitmap's byte is padding
    with pytest.raises(PayloadError, match="bitmap has non-zero padding bits"):
        decode(_rewrite_header(payload, body=bytes(body)), state)
    body = bytearray(payload[HEADER_SIZE:])
    body[0] |= 0x04  # selector bit 2 of 2 keys is padding
    with pytest.raises(PayloadError, match="selector has non-zero padding bits"):
        decode(_rewrite_header(payload, body=bytes(body)), state)


def test_values_only_without_known_mask_is_refused() -> None:
    state, mask = tiny_state()
    with pytest.raises(PayloadError, match="no mask is known"):
        decode(encode(state, mask, with_mask=False), state)


def test_mask_bits_must_match_template() -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=True)
    bigger = {"layer.weight": torch.zeros(2, 4), "layer.bias": torch.zeros(2)}
    with pytest.raises(PayloadError, match=r"payload has 6 mask bits.*have 8 entries"):
        decode(payload, bigger)


def test_non_float_tensors_are_refused() -> None:
    state, mask = tiny_state()
    state["bn.num_batches_tracked"] = torch.tensor(3)
    with pytest.raises(ValueError, match="floating-point"):
        encode(state, mask, with_mask=True)
    with pytest.raises(ValueError, match="floating-point"):
        decode(encode(tiny_state()[0], mask, with_mask=True), state)


def test_arguments_are_checked() -> None:
    state, mask = tiny_state()
    with pytest.raises(ValueError, match="codec='int2' is not known"):
        encode(state, mask, with_mask=True, codec="int2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="codec='int2' is not known"):
        payload_size(state, mask, with_mask=True, codec="int2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="5 values given, the template and mask have 6"):
        encode_flat(torch.ones(5), state, mask, with_mask=False)
    with pytest.raises(ValueError, match=r"top-k fraction 0 must be in \(0, 1\]"):
        encode_flat(torch.ones(6), state, mask, with_mask=False, delta=True, topk=0)


def test_mask_must_fit_state() -> None:
    state, _ = tiny_state()
    with pytest.raises(ValueError, match="shape"):
        encode(state, Mask({"layer.weight": torch.ones(3, 2, dtype=torch.bool)}), with_mask=True)
    with pytest.raises(ValueError, match="does not have"):
        encode(state, Mask({"nope.weight": torch.ones(1, dtype=torch.bool)}), with_mask=True)
    with pytest.raises(ValueError, match="shape"):
        payload_size(
            state, Mask({"layer.weight": torch.ones(3, 2, dtype=torch.bool)}), with_mask=False
        )


def test_the_facade_exports_every_name_it_lists() -> None:
    from fl_lightning.federated import codec

    assert {"encode", "decode", "encode_flat", "payload_size", "read_header"} <= set(codec.__all__)
    assert all(hasattr(codec, name) for name in codec.__all__)


def test_encode_flat_checks_its_own_arguments() -> None:
    state, mask = tiny_state()
    with pytest.raises(ValueError, match=r"^codec='int2' is not known"):
        encode_flat(torch.ones(6), state, mask, with_mask=False, codec="int2")  # type: ignore[arg-type]
    wrong = Mask({"layer.weight": torch.ones(3, 2, dtype=torch.bool)})
    with pytest.raises(
        ValueError, match=r"^mask for 'layer.weight' has shape \(3, 2\), the template"
    ):
        encode_flat(torch.ones(6), state, wrong, with_mask=False)


def test_encode_flat_takes_any_float_vector_shape() -> None:
    """A float64 column of the 6 positions is sent as the float32 vector."""
    state, mask = tiny_state()
    column = torch.arange(6, dtype=torch.float64).reshape(6, 1)
    flat32 = torch.arange(6, dtype=torch.float32)
    plain = encode_flat(flat32, state, mask, with_mask=False)[0]
    assert encode_flat(column, state, mask, with_mask=False)[0] == plain
    top = encode_flat(flat32, state, mask, with_mask=False, delta=True, topk=0.5)[0]
    assert encode_flat(column, state, mask, with_mask=False, delta=True, topk=0.5)[0] == top


def test_topk_payload_decodes_to_the_sent_values_and_zeros() -> None:
    """Positions 0..5 (bias 0, 1; kept weights 2..5) carry -1, 4, 0.5, -3, 2, 0.25; top half
    by magnitude: 4 (position 1), -3 (3), 2 (4)."""
    state, mask = tiny_state()
    flat = torch.tensor([-1.0, 4.0, 0.5, -3.0, 2.0, 0.25])
    payload, sent = encode_flat(flat, state, mask, with_mask=False, delta=True, topk=0.5)
    assert sent.tolist() == [0.0, 4.0, 0.0, -3.0, 2.0, 0.0]
    got, _ = decode(payload, state, mask)
    assert got["layer.bias"].tolist() == [0.0, 4.0]
    # kept weight positions (row-major): (0,0) (0,2) (1,0) (1,2) <- 0.5, -3, 2, 0.25 -> 0, -3, 2, 0
    assert got["layer.weight"].tolist() == [[0.0, 0.0, -3.0], [2.0, 0.0, 0.0]]


@pytest.mark.parametrize(
    ("fraction", "positions", "count"),
    [(1.0, 10, 10), (0.01, 10, 1), (0.25, 10, 3), (0.5, 0, 0), (1e-9, 1000, 1)],
)
def test_topk_count_by_hand(fraction: float, positions: int, count: int) -> None:
    assert topk_count(fraction, positions) == count


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5, 2.0])
def test_topk_fraction_outside_0_1_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        topk_count(fraction, 10)


def test_a_topk_payload_cannot_send_more_values_than_positions() -> None:
    state, mask = tiny_state()
    payload, _ = encode_flat(torch.ones(6), state, mask, with_mask=False, delta=True, topk=0.5)
    with pytest.raises(PayloadError, match=r"^payload sends 7 values for 6 positions$"):
        decode(_rewrite_header(payload, values=7), state, mask)


def test_a_mask_section_shorter_than_its_selector_is_refused() -> None:
    """9 keys need a 2-byte selector; a payload whose mask section is its first byte only."""
    state = {f"k{i}": torch.ones(1) for i in range(9)}
    payload = encode(state, Mask({}), with_mask=True)  # selector 2 bytes + 0-byte bitmap
    body = payload[HEADER_SIZE:]
    short = _rewrite_header(payload, body=body[:1] + body[2:], mask_bytes=1)
    with pytest.raises(PayloadError, match=r"^mask section is 1 bytes, its selector needs 2$"):
        decode(short, state)


def test_nine_keys_round_trip_through_a_two_byte_selector() -> None:
    state = {f"k{i}": torch.full((2,), float(i)) for i in range(9)}
    mask = Mask({"k8": torch.tensor([True, False])})  # the ninth key: the second selector byte
    got, got_mask = decode(encode(state, mask, with_mask=True), state)
    assert got_mask == mask
    assert got["k8"].tolist() == [8.0, 0.0] and got["k0"].tolist() == [0.0, 0.0]


def test_a_mask_bit_count_without_masked_tensors_says_none() -> None:
    state, _ = tiny_state()
    payload = encode(state, Mask({}), with_mask=True)
    with pytest.raises(PayloadError, match=r"masked tensors \(none\) have 0 entries"):
        decode(_rewrite_header(payload, mask_bits=5), state)


def test_a_known_mask_that_does_not_fit_the_template_is_refused() -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=False)
    wrong = Mask({"layer.weight": torch.ones(3, 2, dtype=torch.bool)})
    with pytest.raises(ValueError, match=r"^mask for 'layer.weight' has shape \(3, 2\)"):
        decode(payload, state, wrong)


def test_decoded_tensors_are_writable_and_share_no_memory() -> None:
    state, mask = tiny_state()
    payload = encode(state, mask, with_mask=False)
    got, _ = decode(payload, state, mask)
    got["layer.bias"].add_(100.0)  # no warning, no effect on the weight or a second decode
    assert got["layer.weight"].tolist() == [[1.5, 0.0, 3.25], [4.0, 0.0, -6.0]]
    assert decode(payload, state, mask)[0]["layer.bias"].tolist() == [0.5, -0.25]
