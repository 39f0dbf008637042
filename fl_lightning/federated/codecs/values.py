"""Value codecs: float32, float16, int8 / int4 uniform quantisation with a scale per chunk, and
`sign` (one bit a value, for updates only).

Integer codecs are symmetric: each chunk of `CHUNK` consecutive values gets one float32 scale
``max|x| / qmax`` (qmax 127 for int8, 7 for int4) and every value becomes ``q = round(x / scale)``
in ``[-qmax, qmax]``; the receiver reads ``q * scale``. Why 256 values per chunk: a float32
scale then costs 32 / 256 = 0.125 bits per value (1.5 % of int8's bytes, 3 % of int4's), while a
large value coarsens only the 255 values beside it, not a whole tensor.

Rounding: `nearest` (error at most scale / 2) or `stochastic` (``floor(x / scale + u)`` with
``u ~ U[0, 1)`` from the caller's generator: unbiased, error below one scale step).

Sign (the 1-bit baseline of signSGD with error feedback, Karimireddy et al. 2019): each value is
sent as its sign bit (1 = negative; 0.0 counts as positive), with one float32 scale per chunk of
256 values, the chunk's *mean* absolute value; the receiver reads ``+-scale``. With the mean,
not the max, a chunk's decoded values have the same L1 norm as its true ones, and the sender's
error feedback (`federated/upload.py`) carries the rest into the next round, so over rounds the
sum of what was sent tracks the sum of the true updates. It is for updates only: weights sent
as ``+-scale`` would lose the model (`DOWN_CODECS` leaves it out).

Bytes (`values_size`): float32 ``4 n``, float16 ``2 n``, int8 ``4 ceil(n / 256) + n``,
int4 ``4 ceil(n / 256) + ceil(n / 2)`` (two values a byte, the first in the low nibble, a zero
high nibble padding an odd count), sign ``4 ceil(n / 256) + ceil(n / 8)`` (eight values a byte,
the first in the lowest bit, zero bits padding the last byte): 1 + 32 / 256 = 1.125 bits a value.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from fl_lightning.federated.codecs.header import PayloadError

ValueCodec = Literal["float32", "float16", "int8", "int4", "sign"]
#: The value codecs that can carry weights (downloads): every one but `sign`.
DownCodec = Literal["float32", "float16", "int8", "int4"]
#: The value codecs that keep floats (what `federation.dtype` may be).
FloatCodec = Literal["float32", "float16"]
Rounding = Literal["nearest", "stochastic"]
VALUE_CODECS: tuple[ValueCodec, ...] = ("float32", "float16", "int8", "int4", "sign")
DOWN_CODECS: tuple[DownCodec, ...] = ("float32", "float16", "int8", "int4")
#: The value codecs that carry updates only (their decoded values are not weights).
UPDATE_ONLY_CODECS: tuple[ValueCodec, ...] = ("sign",)
ROUNDINGS: tuple[Rounding, ...] = ("nearest", "stochastic")
CHUNK = 256
QMAX: dict[str, int] = {"int8": 127, "int4": 7}
_FLOATS: dict[str, np.dtype] = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}


#: The words of `NonFiniteValues`' message (a Flower client's error reply carries text only).
NON_FINITE_REASON = "cannot carry non-finite values"


class NonFiniteValues(ValueError):
    """Values an integer codec cannot carry (NaN or infinite): a diverged update, not a fault
    of the payload or the network, so the engine reports it as divergence."""


def chunk_of(codec: str) -> int:
    """Values per scale for `codec` (0 for the float codecs, which have no scales)."""
    return CHUNK if codec in QMAX or codec == "sign" else 0


def values_size(codec: str, n: int) -> int:
    """Bytes of `n` values under `codec` (see the module docstring)."""
    if codec == "float32":
        return 4 * n
    if codec == "float16":
        return 2 * n
    scales = 4 * math.ceil(n / CHUNK)
    if codec == "sign":
        return scales + math.ceil(n / 8)
    return scales + (n if codec == "int8" else math.ceil(n / 2))


def _quantise(
    x: np.ndarray, codec: str, rounding: Rounding, generator: torch.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """Integer levels (int8 array, length n) and float32 scales (one per chunk) of `x` under the
    integer `codec`; `NonFiniteValues` for a NaN or infinity."""
    qmax = QMAX[codec]
    n = x.size
    chunks = math.ceil(n / CHUNK)
    padded = np.zeros(chunks * CHUNK, dtype=np.float32)
    padded[:n] = x
    blocks = padded.reshape(chunks, CHUNK)
    peaks = np.abs(blocks).max(axis=1)
    # a NaN or infinity anywhere shows in its chunk's peak (max propagates NaN): checking the
    # peaks spares a pass over every value (`torch.aminmax` per chunk measured slower here)
    if not np.isfinite(peaks).all():
        raise NonFiniteValues(f"{codec} {NON_FINITE_REASON}")
    scales = (peaks / np.float32(qmax)).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1.0))
    levels = blocks / safe[:, None]
    if rounding == "stochastic":
        if generator is None:
            raise ValueError("stochastic rounding needs a seeded generator")
        u = torch.rand(levels.shape, generator=generator, dtype=torch.float32).numpy()
        q = np.floor(levels + u)
    else:
        q = np.rint(levels)
    q = np.clip(q, -qmax, qmax).astype(np.int8)
    return q.reshape(-1)[:n], scales


def _signs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sign bits (packed, lowest bit first; 1 = negative) and float32 scales (each chunk's mean
    absolute value, over its own values: the last chunk's padding does not count) of `x`."""
    n = x.size
    chunks = math.ceil(n / CHUNK)
    padded = np.zeros(chunks * CHUNK, dtype=np.float32)
    padded[:n] = np.abs(x)
    counts = np.full(chunks, CHUNK, dtype=np.float32)
    if chunks:
        counts[-1] = n - (chunks - 1) * CHUNK
    scales = (padded.reshape(chunks, CHUNK).sum(axis=1) / counts).astype(np.float32)
    bits = np.packbits((x < 0).astype(np.uint8), bitorder="little")
    return bits, scales


def encode_values(
    x: torch.Tensor,
    codec: ValueCodec,
    *,
    rounding: Rounding = "nearest",
    generator: torch.Generator | None = None,
) -> bytes:
    """The bytes of the float vector `x` under `codec`; length `values_size(codec, x.numel())`.

    Raises `ValueError` for an unknown codec or rounding, and `NonFiniteValues` for non-finite
    values under an integer or sign codec (they have no level). `sign` has one rounding (the
    sign itself): `rounding` and `generator` do not change its bytes.
    """
    if codec not in VALUE_CODECS:
        raise ValueError(f"unknown value codec {codec!r}; known: {', '.join(VALUE_CODECS)}")
    if rounding not in ROUNDINGS:
        raise ValueError(f"unknown rounding {rounding!r}; known: {', '.join(ROUNDINGS)}")
    flat = x.detach().to("cpu", torch.float32).reshape(-1).numpy()
    if codec in _FLOATS:
        return flat.astype(_FLOATS[codec], copy=False).tobytes()
    if codec == "sign":
        if not np.isfinite(flat).all():
            raise NonFiniteValues(f"{codec} {NON_FINITE_REASON}")
        bits, scales = _signs(flat)
        return scales.astype("<f4").tobytes() + bits.tobytes()
    q, scales = _quantise(flat, codec, rounding, generator)
    if codec == "int8":
        data = q.tobytes()
    else:
        nibbles = (q.astype(np.uint8) & 0x0F).astype(np.uint8)
        if nibbles.size % 2:
            nibbles = np.append(nibbles, np.uint8(0))
        data = (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes()
    return scales.astype("<f4").tobytes() + data


def decode_values(data: bytes | memoryview, codec: str, n: int) -> torch.Tensor:
    """The float32 vector of `n` values in `data` (inverse of `encode_values`).

    Raises `PayloadError` when `data` has the wrong length for `n` values, a scale is negative
    or not finite, an int8 level is -128, or int4's padding nibble or sign's padding bits are
    not zero.
    """
    if len(data) != values_size(codec, n):
        raise PayloadError(
            f"{codec} values section is {len(data)} bytes, {n} values need {values_size(codec, n)}"
        )
    if codec in _FLOATS:
        flat = np.frombuffer(data, dtype=_FLOATS[codec]).astype(np.float32)
        return torch.from_numpy(flat)
    chunks = math.ceil(n / CHUNK)
    scales = np.frombuffer(data, dtype="<f4", count=chunks)
    if not (np.isfinite(scales).all() and (scales >= 0).all()):
        raise PayloadError(f"{codec} values have a negative or non-finite scale")
    raw = np.frombuffer(data, dtype=np.uint8, offset=4 * chunks)
    per_value = np.repeat(scales, CHUNK)[:n]
    if codec == "sign":
        bits = np.unpackbits(raw, bitorder="little")
        if bits[n:].any():
            raise PayloadError("sign values have non-zero padding bits")
        signs = np.where(bits[:n] == 1, np.float32(-1.0), np.float32(1.0))
        return torch.from_numpy((signs * per_value).astype(np.float32))
    if codec == "int8":
        q = raw.view(np.int8).astype(np.int16)
        if (q < -QMAX["int8"]).any():
            raise PayloadError("int8 values hold level -128, which the encoder never writes")
    else:
        low = (raw & 0x0F).astype(np.int16)
        high = (raw >> 4).astype(np.int16)
        both = np.empty(2 * raw.size, dtype=np.int16)
        both[0::2], both[1::2] = low, high
        if both.size > n and both[n]:
            raise PayloadError("int4 values have a non-zero padding nibble")
        q = both[:n]
        q = np.where(q >= 8, q - 16, q)
        if (q < -QMAX["int4"]).any():
            raise PayloadError("int4 values hold level -8, which the encoder never writes")
    return torch.from_numpy((q.astype(np.float32) * per_value).astype(np.float32))
