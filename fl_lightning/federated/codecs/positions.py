"""Which of `n` positions are set: a packed bitmap or Rice-coded gaps, whichever is smaller.

Used for the first download's mask and for the positions a top-k upload sends.

- `bitmap`: one bit per position, `numpy.packbits(bitorder="little")`, zero padding bits.
- `rice`: the positions of the *minority* value (the set ones, or the unset ones when more than
  half are set), as gaps ``g = position - previous position - 1`` (the first from -1), each
  Rice-coded with parameter b: the quotient ``g >> b`` in unary (that many 1 bits, then a 0) and
  the low b bits of g. The unary parts and the remainders go to two streams, so that decoding
  is vectorised::

      b u8 | minority u8 (1: set positions, 0: unset ones) | count u64 | unary bits u64 |
      unary stream (packed, little bit order) | remainders (count x b bits, packed)

  b is the one of 0..31 that gives the fewest bits. For positions drawn independently with
  density p, Golomb-Rice codes of geometric gaps are within a few per cent of the entropy
  bound n * H(p) (the test checks 15 %).
"""

from __future__ import annotations

import math
import struct

import numpy as np

from fl_lightning.federated.codecs.header import PayloadError

_RICE_PREFIX = "<BBQQ"
_RICE_PREFIX_SIZE = struct.calcsize(_RICE_PREFIX)  # 18
_MAX_B = 31


def _packed(bits: np.ndarray) -> bytes:
    return np.packbits(bits.astype(np.uint8), bitorder="little").tobytes()


def _unpacked(data: bytes | memoryview, nbits: int, what: str) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    if bits[nbits:].any():
        raise PayloadError(f"{what} has non-zero padding bits")
    return bits[:nbits]


def rice_bits(gaps: np.ndarray, b: int) -> int:
    """Bits of the Rice codewords of `gaps` with parameter `b`: per gap, the quotient in unary
    (quotient + 1 bits) and `b` remainder bits."""
    return int((gaps >> b).sum()) + gaps.size * (1 + b)


def rice_parameter(gaps: np.ndarray) -> int:
    """The b in 0.._MAX_B that codes `gaps` in the fewest bits, the smallest on a tie (so 0 for
    no gap, where every b costs nothing). Capped at 31, which the decoder accepts."""
    return min(range(_MAX_B + 1), key=lambda k: rice_bits(gaps, k))


def encode_rice(bits: np.ndarray) -> bytes:
    """The Rice coding of the bool vector `bits` (see the module docstring)."""
    bits = np.asarray(bits, dtype=bool).reshape(-1)
    minority = int(np.count_nonzero(bits)) * 2 <= bits.size
    where = np.flatnonzero(bits if minority else ~bits).astype(np.int64)
    gaps = np.diff(where, prepend=-1) - 1
    b = rice_parameter(gaps)
    quotients = gaps >> b
    unary_bits = int(quotients.sum()) + gaps.size
    unary = np.ones(unary_bits, dtype=np.uint8)
    unary[np.cumsum(quotients + 1) - 1] = 0  # each codeword's terminating 0
    rem = ((gaps[:, None] >> np.arange(b)) & 1).astype(np.uint8).reshape(-1)
    prefix = struct.pack(_RICE_PREFIX, b, int(minority), gaps.size, unary_bits)
    return prefix + _packed(unary) + _packed(rem)


def rice_size(data: bytes | memoryview) -> int:
    """Bytes the Rice coding at the start of `data` occupies (from its prefix)."""
    if len(data) < _RICE_PREFIX_SIZE:
        raise PayloadError(f"rice coding truncated: {len(data)} bytes, prefix needs 18")
    b, _, count, unary_bits = struct.unpack_from(_RICE_PREFIX, data)
    return int(_RICE_PREFIX_SIZE + math.ceil(unary_bits / 8) + math.ceil(count * b / 8))


def decode_rice(data: bytes | memoryview, n: int) -> np.ndarray:
    """The bool vector of length `n` in `data` (inverse of `encode_rice`).

    Raises `PayloadError` for a wrong length, bad padding, a count that does not match the
    unary stream, or a position outside ``[0, n)``.
    """
    if rice_size(data) != len(data):
        raise PayloadError(f"rice coding is {len(data)} bytes, its prefix says {rice_size(data)}")
    b, minority, count, unary_bits = struct.unpack_from(_RICE_PREFIX, data)
    if b > _MAX_B or minority > 1:
        raise PayloadError(f"rice coding has parameter {b} / minority flag {minority}")
    unary_end = _RICE_PREFIX_SIZE + math.ceil(unary_bits / 8)
    unary = _unpacked(data[_RICE_PREFIX_SIZE:unary_end], unary_bits, "rice unary stream")
    ends = np.flatnonzero(unary == 0)
    if ends.size != count or (count and ends[-1] != unary_bits - 1):
        raise PayloadError(
            f"rice unary stream holds {ends.size} codewords, the prefix says {count}"
        )
    quotients = np.diff(ends, prepend=-1) - 1
    rem_bits = _unpacked(data[unary_end:], count * b, "rice remainders").reshape(count, b)
    remainders = (rem_bits.astype(np.int64) << np.arange(b)).sum(axis=1)
    where = np.cumsum((quotients << b) + remainders + 1) - 1
    if count and where[-1] >= n:
        raise PayloadError(f"rice coding names position {int(where[-1])}, beyond {n} positions")
    out = np.zeros(n, dtype=bool) if minority else np.ones(n, dtype=bool)
    out[where] = bool(minority)
    return out


def bitmap_size(n: int) -> int:
    """Bytes of the bitmap of `n` positions."""
    return math.ceil(n / 8)


def encode_positions(bits: np.ndarray) -> tuple[str, bytes]:
    """(`bitmap` or `rice`, bytes): the smaller coding of `bits` (the bitmap on a tie)."""
    bits = np.asarray(bits, dtype=bool).reshape(-1)
    rice = encode_rice(bits)
    if len(rice) < bitmap_size(bits.size):
        return "rice", rice
    return "bitmap", _packed(bits)


def decode_positions(data: bytes | memoryview, coding: str | None, n: int) -> np.ndarray:
    """The bool vector of `n` positions in `data`, coded as `coding` says."""
    if coding == "rice":
        return decode_rice(data, n)
    if coding != "bitmap":
        raise PayloadError(f"unknown position coding {coding!r}")
    if len(data) != bitmap_size(n):
        raise PayloadError(f"bitmap is {len(data)} bytes, {n} positions need {bitmap_size(n)}")
    return _unpacked(data, n, "bitmap").astype(bool)
