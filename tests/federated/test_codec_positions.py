"""Position codings (mask, top-k indices): Rice gaps worked by hand, round trips, the entropy
bound, and refusal of corrupt codings."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_lightning.federated.codecs.header import PayloadError
from fl_lightning.federated.codecs.positions import (
    decode_positions,
    decode_rice,
    encode_positions,
    encode_rice,
    rice_bits,
    rice_parameter,
    rice_size,
)


def bits_at(n: int, *where: int) -> np.ndarray:
    bits = np.zeros(n, dtype=bool)
    bits[list(where)] = True
    return bits


def test_rice_worked_by_hand() -> None:
    """Ones at 3 and 10 of 16: gaps 3 and 6. Bits per b: b=0 11, b=1 8, b=2 7, b=3 8 -> b=2.
    Unary: q = 0, 1 -> "0" "10" -> 0, 1, 0 (0x02); remainders 3 -> 1 1, 2 -> 0 1 (0x0b)."""
    data = encode_rice(bits_at(16, 3, 10))
    assert data == struct.pack("<BBQQ", 2, 1, 2, 3) + bytes([0x02, 0x0B])
    assert decode_rice(data, 16).tolist() == bits_at(16, 3, 10).tolist()


def test_rice_codes_the_minority_value() -> None:
    """Mostly ones: the zeros are coded (one gap of 1 at position 1, b = 0: "10" + nothing)."""
    bits = ~bits_at(8, 1)
    data = encode_rice(bits)
    assert data == struct.pack("<BBQQ", 0, 0, 1, 2) + bytes([0b01])
    assert decode_rice(data, 8).tolist() == bits.tolist()


def test_smaller_coding_is_chosen() -> None:
    assert encode_positions(bits_at(16, 3, 10))[0] == "bitmap"  # 2 bytes < 20
    assert encode_positions(bits_at(4096, 5))[0] == "rice"  # 20 bytes < 512
    assert encode_positions(np.ones(4096, dtype=bool))[0] == "rice"  # no zero: 18 bytes


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), max_size=300))
def test_round_trip_any_vector(values: list[bool]) -> None:
    bits = np.array(values, dtype=bool)
    for coding, data in (encode_positions(bits), ("rice", encode_rice(bits))):
        assert decode_positions(data, coding, bits.size).tolist() == values


@pytest.mark.parametrize("density", [0.01, 0.1, 0.3, 0.5, 0.9])
def test_within_15_percent_of_the_entropy_bound(density: float) -> None:
    """n * H(density) bits: no coding of random positions can do better on average."""
    n = 200_000
    bits = np.random.default_rng(0).random(n) < density
    p = bits.mean()
    bound = n * -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    coding, data = encode_positions(bits)
    assert 8 * len(data) <= 1.15 * bound
    assert decode_positions(data, coding, n).tolist() == bits.tolist()


def test_corrupt_codings_are_refused() -> None:
    data = encode_rice(bits_at(16, 3, 10))
    with pytest.raises(PayloadError, match="rice coding is 19 bytes, its prefix says 20"):
        decode_rice(data[:-1], 16)
    with pytest.raises(PayloadError, match="beyond 8 positions"):
        decode_rice(data, 8)
    more = struct.pack("<BBQQ", 2, 1, 3, 3) + bytes([0x02, 0x0B])  # count 3, 2 codewords
    with pytest.raises(PayloadError, match="holds 2 codewords, the prefix says 3"):
        decode_rice(more, 16)
    unended = struct.pack("<BBQQ", 2, 1, 2, 4) + bytes([0x0A, 0x0B])  # last unary bit is a 1
    with pytest.raises(PayloadError, match="holds 2 codewords"):
        decode_rice(unended, 16)
    padded = data[:-1] + bytes([data[-1] | 0x10])
    with pytest.raises(PayloadError, match="rice remainders has non-zero padding bits"):
        decode_rice(padded, 16)
    with pytest.raises(PayloadError, match="parameter 40"):
        decode_rice(struct.pack("<BBQQ", 40, 1, 0, 0), 16)
    with pytest.raises(PayloadError, match="bitmap is 1 bytes, 16 positions need 2"):
        decode_positions(b"\x00", "bitmap", 16)
    with pytest.raises(PayloadError, match="bitmap has non-zero padding bits"):
        decode_positions(b"\x80", "bitmap", 7)
    with pytest.raises(PayloadError, match="unknown position coding 'gzip'"):
        decode_positions(b"", "gzip", 0)


def test_truncated_rice_prefix_is_refused_with_its_size() -> None:
    with pytest.raises(PayloadError, match=r"^rice coding truncated: 10 bytes, prefix needs 18$"):
        decode_rice(bytes(10), 16)
    with pytest.raises(PayloadError, match=r"^rice coding truncated: 17 bytes"):
        rice_size(bytes(17))


def test_parameter_and_minority_flag_are_bounded() -> None:
    with pytest.raises(PayloadError, match=r"parameter 32 / minority flag 1"):
        decode_rice(struct.pack("<BBQQ", 32, 1, 0, 0), 16)
    with pytest.raises(PayloadError, match=r"parameter 0 / minority flag 2"):
        decode_rice(struct.pack("<BBQQ", 0, 2, 0, 0), 16)


def test_the_largest_parameter_decodes() -> None:
    """b = 31 by hand: one codeword, quotient 0 ("0"), remainder 5 in 31 bits (0x05 00 00 00)."""
    data = struct.pack("<BBQQ", 31, 1, 1, 1) + bytes([0x00]) + bytes([0x05, 0, 0, 0])
    assert rice_size(data) == 23
    assert decode_rice(data, 10).tolist() == bits_at(10, 5).tolist()


def test_a_position_equal_to_the_count_is_refused() -> None:
    data = encode_rice(bits_at(16, 3, 10, 12))
    with pytest.raises(PayloadError, match=r"names position 12, beyond 12 positions"):
        decode_rice(data, 12)


@pytest.mark.parametrize(
    ("n", "set_at", "flag"),
    [(4, (0, 2), 1), (5, (0, 2), 1), (5, (0, 2, 4), 0), (6, (1, 2, 3), 1)],
)
def test_the_set_positions_are_coded_up_to_half(n: int, set_at: tuple[int, ...], flag: int) -> None:
    """Exactly half set (or fewer) codes the set positions; more than half, the unset ones."""
    data = encode_rice(bits_at(n, *set_at))
    assert data[1] == flag
    assert decode_rice(data, n).tolist() == bits_at(n, *set_at).tolist()


def test_no_minority_position_is_the_bare_prefix_and_a_tie_keeps_the_bitmap() -> None:
    """144 unset positions: no gap, b = 0, 18 bytes of prefix, as many as the bitmap's 144 / 8."""
    nothing = np.zeros(144, dtype=bool)
    assert encode_rice(nothing) == struct.pack("<BBQQ", 0, 1, 0, 0)
    assert encode_positions(nothing) == ("bitmap", bytes(18))
    assert encode_positions(np.zeros(145, dtype=bool))[0] == "rice"  # 18 < 19 bytes


@pytest.mark.parametrize(
    "grid",
    [np.array([[0, 1, 0], [1, 0, 0]]), np.array([[1, 1, 0], [1, 0, 1]])],  # minority set, unset
)
def test_any_shape_of_zeros_and_ones_is_read_as_a_flat_bool_vector(grid: np.ndarray) -> None:
    flat = grid.reshape(-1).astype(bool)
    assert encode_rice(grid) == encode_rice(flat)
    assert encode_positions(grid) == encode_positions(flat)


def test_any_non_zero_value_is_a_set_position() -> None:
    assert encode_positions(np.array([0.5, 0.0, 0.0])) == ("bitmap", bytes([0b001]))


def test_rice_bits_by_hand() -> None:
    """Gaps 3 and 6 (the hand-worked example), sum(g >> b) + 2 * (1 + b) bits:
    b=0 9+2=11, b=1 4+4=8, b=2 1+6=7, b=3 0+8=8."""
    gaps = np.array([3, 6])
    assert [rice_bits(gaps, b) for b in range(4)] == [11, 8, 7, 8]


def test_the_parameter_is_the_cheapest_and_capped_at_31() -> None:
    gaps = np.random.default_rng(1).geometric(0.01, size=2000) - 1  # density 1 %: b near 6
    costs = [sum(int(g) >> b for g in gaps) + len(gaps) * (1 + b) for b in range(32)]
    assert rice_parameter(gaps) == costs.index(min(costs))
    assert 4 <= rice_parameter(gaps) <= 8
    assert encode_rice(np.isin(np.arange(gaps.sum() + 2000), np.cumsum(gaps + 1) - 1))[0] == (
        costs.index(min(costs))
    )
    assert rice_parameter(np.array([], dtype=np.int64)) == 0
    # one gap of 2**33: b=32 would cost 35 bits against b=31's 36, but 31 is the largest b a
    # decoder accepts
    assert rice_parameter(np.array([2**33])) == 31
