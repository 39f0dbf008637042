"""Masked model state <-> bytes: the wire format, and the only place payload sizes come from.

What is counted is what is sent: the engine counts `len(encode(...))`, clients train from
`decode(...)` of the very bytes, and `payload_size` gives the same number from a formula.

Layout (all integers little-endian, `struct` format `HEADER_FORMAT`, `HEADER_SIZE` bytes)::

    magic b"FLL1" | version u8 | value dtype code u8 | flags u8 (bit0: mask included) |
    reserved u8 (0) | mask bits u64 | values u64 | CRC32 of the body u32 | body length u64

The body is ``[mask bitmap] + values``:

- mask bitmap (only with ``with_mask``): one *selector* bit per key of the state in sorted order
  (1 = the tensor is masked), then one bit per entry of the masked tensors, in sorted-name order
  and row-major within a tensor (1 = kept); `numpy.packbits(bitorder="little")`, zero-padded to
  whole bytes. The selector tells the receiver which tensors the mask covers, so the first
  download alone defines the mask. "mask bits" in the header counts the per-entry bits only.
- values: for every key of the state in sorted order, the kept entries of a masked tensor
  (`tensor[mask]`, row-major) or every entry of an unmasked tensor, concatenated, little-endian
  float32 or float16.

Pruned positions are not sent; they decode to exactly 0.0.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from fl_lightning.errors import check_choice
from fl_lightning.pruning.mask import Mask

ValueDType = Literal["float32", "float16"]

MAGIC = b"FLL1"
FORMAT_VERSION = 1
HEADER_FORMAT = "<4sBBBBQQIQ"
HEADER_SIZE = struct.calcsize(HEADER_FORMAT)  # 36
FLAG_MASK = 0x01

_DTYPE_CODES: dict[str, int] = {"float32": 1, "float16": 2}
_CODE_DTYPES: dict[int, str] = {code: name for name, code in _DTYPE_CODES.items()}
_NUMPY_DTYPES: dict[str, np.dtype] = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}
BYTES_PER_VALUE: dict[str, int] = {"float32": 4, "float16": 2}


class PayloadError(ValueError):
    """A payload that cannot be decoded: corrupt, truncated, or not matching the model/mask."""


@dataclass(frozen=True)
class PayloadHeader:
    """The parsed fixed header of a payload."""

    version: int
    dtype: str
    with_mask: bool
    mask_bits: int
    num_values: int
    crc32: int
    body_length: int


def _check_float_tensors(tensors: Mapping[str, torch.Tensor], what: str) -> None:
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            kind = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(
                f"{what} entry {name!r} is {kind}; the codec carries floating-point tensors only "
                "(integer buffers such as BatchNorm's num_batches_tracked are not supported)"
            )


def _check_mask_fits(mask: Mask, tensors: Mapping[str, torch.Tensor], what: str) -> None:
    for name, m in mask.items():
        if name not in tensors:
            raise ValueError(f"mask covers {name!r}, which the {what} does not have")
        if tuple(m.shape) != tuple(tensors[name].shape):
            raise ValueError(
                f"mask for {name!r} has shape {tuple(m.shape)}, "
                f"the {what} has {tuple(tensors[name].shape)}"
            )


def _num_values(template: Mapping[str, torch.Tensor], mask: Mask) -> int:
    """Kept entries of masked tensors plus every entry of the unmasked ones."""
    dense = sum(t.numel() for name, t in template.items() if name not in mask)
    return mask.num_kept + dense


def _bitmap_bits(template: Mapping[str, torch.Tensor], mask: Mask) -> int:
    return len(template) + mask.num_total


def payload_size(
    template: Mapping[str, torch.Tensor],
    mask: Mask,
    *,
    with_mask: bool,
    dtype: ValueDType = "float32",
) -> int:
    """Bytes of `encode(state, mask, with_mask=..., dtype=...)` for a state shaped like `template`.

    ``HEADER_SIZE + [ceil((num keys + mask bits) / 8) if with_mask]
    + bytes_per_value * (kept + dense entries)``.
    """
    check_choice("dtype", dtype, tuple(_DTYPE_CODES))
    _check_mask_fits(mask, template, "template")
    bitmap = math.ceil(_bitmap_bits(template, mask) / 8) if with_mask else 0
    return HEADER_SIZE + bitmap + BYTES_PER_VALUE[dtype] * _num_values(template, mask)


def encode(
    state: Mapping[str, torch.Tensor],
    mask: Mask,
    *,
    with_mask: bool,
    dtype: ValueDType = "float32",
) -> bytes:
    """The payload for `state` under `mask` (see the module docstring for the layout).

    Values at pruned positions are dropped, not sent. `with_mask` adds the bitmap (the first
    download); later payloads carry values only. The length equals `payload_size(...)`.
    """
    check_choice("dtype", dtype, tuple(_DTYPE_CODES))
    _check_float_tensors(state, "state")
    _check_mask_fits(mask, state, "state")
    names = sorted(state)

    pieces: list[torch.Tensor] = []
    for name in names:
        t = state[name].detach().to("cpu", torch.float32)
        pieces.append(t[mask[name]] if name in mask else t.reshape(-1))
    flat = torch.cat(pieces) if pieces else torch.zeros(0)
    values = flat.numpy().astype(_NUMPY_DTYPES[dtype], copy=False).tobytes()

    bitmap = b""
    mask_bits = 0
    if with_mask:
        selector = torch.tensor([name in mask for name in names], dtype=torch.bool)
        bits = torch.cat([selector, *(mask[name].reshape(-1) for name in mask)])
        bitmap = np.packbits(bits.numpy(), bitorder="little").tobytes()
        mask_bits = mask.num_total

    body = bitmap + values
    header = struct.pack(
        HEADER_FORMAT,
        MAGIC,
        FORMAT_VERSION,
        _DTYPE_CODES[dtype],
        FLAG_MASK if with_mask else 0,
        0,
        mask_bits,
        flat.numel(),
        zlib.crc32(body),
        len(body),
    )
    return header + body


def read_header(payload: bytes) -> PayloadHeader:
    """Parse and check the fixed header; `PayloadError` for anything that is not ours."""
    if len(payload) < HEADER_SIZE:
        raise PayloadError(
            f"payload truncated: {len(payload)} bytes, shorter than the {HEADER_SIZE}-byte header"
        )
    magic, version, code, flags, _reserved, mask_bits, num_values, crc, body_length = (
        struct.unpack_from(HEADER_FORMAT, payload)
    )
    if magic != MAGIC:
        raise PayloadError(f"not an fl_lightning payload: magic {magic!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise PayloadError(f"unknown payload format version {version}; this build reads 1")
    if code not in _CODE_DTYPES:
        raise PayloadError(f"unknown value dtype code {code}; known: {_CODE_DTYPES}")
    if flags & ~FLAG_MASK:
        raise PayloadError(f"unknown payload flags 0x{flags:02x}")
    return PayloadHeader(
        version=version,
        dtype=_CODE_DTYPES[code],
        with_mask=bool(flags & FLAG_MASK),
        mask_bits=mask_bits,
        num_values=num_values,
        crc32=crc,
        body_length=body_length,
    )


def _read_mask(
    bitmap: bytes, header: PayloadHeader, template: Mapping[str, torch.Tensor], names: list[str]
) -> Mask:
    nbits = len(names) + header.mask_bits
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    if bits[nbits:].any():
        raise PayloadError("mask bitmap has non-zero padding bits")
    selector = bits[: len(names)].astype(bool)
    masked = [name for name, sel in zip(names, selector, strict=True) if sel]
    expected_bits = sum(template[name].numel() for name in masked)
    if expected_bits != header.mask_bits:
        raise PayloadError(
            f"payload has {header.mask_bits} mask bits, the template's masked tensors "
            f"({', '.join(masked) or 'none'}) have {expected_bits} entries"
        )
    masks: dict[str, torch.Tensor] = {}
    offset = len(names)
    for name in masked:
        shape = template[name].shape
        n = template[name].numel()
        chunk = torch.from_numpy(bits[offset : offset + n].astype(bool)).reshape(shape)
        masks[name] = chunk
        offset += n
    return Mask(masks)


def decode(
    payload: bytes,
    template: Mapping[str, torch.Tensor],
    mask: Mask | None = None,
) -> tuple[dict[str, torch.Tensor], Mask]:
    """The state and mask carried by `payload`.

    `template` gives the names and shapes (any floating dtype; the result is float32 on CPU).
    `mask` is the one known from the first download, needed when the payload carries values
    only; a payload with a bitmap yields its own mask. Pruned positions are exactly 0.0.
    Raises `PayloadError` for a corrupt, truncated or mismatching payload.
    """
    _check_float_tensors(template, "template")
    header = read_header(payload)
    body_have = len(payload) - HEADER_SIZE
    if body_have < header.body_length:
        raise PayloadError(
            f"payload truncated: body has {body_have} bytes, the header says {header.body_length}"
        )
    if body_have > header.body_length:
        raise PayloadError(
            f"payload has {body_have - header.body_length} trailing bytes after the "
            f"{header.body_length}-byte body"
        )
    body = memoryview(payload)[HEADER_SIZE:]
    if zlib.crc32(body) != header.crc32:
        raise PayloadError("payload body fails its CRC32 check (corrupted in transit?)")

    names = sorted(template)
    bitmap_len = math.ceil((len(names) + header.mask_bits) / 8) if header.with_mask else 0
    bpv = BYTES_PER_VALUE[header.dtype]
    expected_body = bitmap_len + bpv * header.num_values
    if expected_body != header.body_length:
        raise PayloadError(
            f"payload body is {header.body_length} bytes; the header's counts "
            f"({header.mask_bits} mask bits, {header.num_values} values) need {expected_body}"
        )
    if header.with_mask:
        mask = _read_mask(bytes(body[:bitmap_len]), header, template, names)
    elif mask is None:
        raise PayloadError("payload carries values only and no mask is known to decode it with")
    else:
        _check_mask_fits(mask, template, "template")

    expected_values = _num_values(template, mask)
    if header.num_values != expected_values:
        raise PayloadError(
            f"payload has {header.num_values} values, the mask and template need {expected_values}"
        )
    flat = np.frombuffer(body[bitmap_len:], dtype=_NUMPY_DTYPES[header.dtype])
    values = torch.from_numpy(flat.astype(np.float32))

    state: dict[str, torch.Tensor] = {}
    offset = 0
    for name in names:
        shape = template[name].shape
        if name in mask:
            m = mask[name]
            n = mask.kept(name)
            t = torch.zeros(shape, dtype=torch.float32)
            t.masked_scatter_(m, values[offset : offset + n])
        else:
            n = template[name].numel()
            t = values[offset : offset + n].reshape(shape).clone()
        state[name] = t
        offset += n
    return state, mask
