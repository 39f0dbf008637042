"""The payload's fixed header (format version 2), CRC-protected together with the body.

Layout (little-endian, `struct` format `HEADER_FORMAT`, `HEADER_SIZE` = 56 bytes)::

    magic b"FLL1" | version u8 (2) | value codec u8 | flags u8 | mask coding u8 |
    index coding u8 | reserved u8 (0) | chunk u16 | mask bits u64 | positions u64 |
    values sent u64 | mask section bytes u32 | index section bytes u32 | body bytes u64 |
    CRC32 u32

The CRC32 is taken over the 52 header bytes before it followed by the body, so a flipped codec,
flag or count byte is refused by the CRC itself, before any field is trusted. Version 1 (CRC over
the body only, float values only) is refused with a message that says so.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"FLL1"
FORMAT_VERSION = 2
HEADER_FORMAT = "<4sBBBBBBHQQQIIQI"
HEADER_SIZE = struct.calcsize(HEADER_FORMAT)  # 56
_CRC_OFFSET = HEADER_SIZE - 4

FLAG_MASK = 0x01  # the mask section is present (a first download)
FLAG_DELTA = 0x02  # the values are an update (local - global), not weights
FLAG_TOPK = 0x04  # only some positions carry a value; the index section says which
KNOWN_FLAGS = FLAG_MASK | FLAG_DELTA | FLAG_TOPK

#: Value codec <-> header code.
CODEC_CODES: dict[str, int] = {"float32": 1, "float16": 2, "int8": 3, "int4": 4, "sign": 5}
#: Position coding (mask and top-k indices) <-> header code; 0 means "section absent".
CODING_CODES: dict[str, int] = {"bitmap": 1, "rice": 2}


class PayloadError(ValueError):
    """A payload that cannot be decoded: corrupt, truncated, or not matching the model/mask."""


@dataclass(frozen=True)
class PayloadHeader:
    """The parsed fixed header of a payload.

    `positions` counts the entries the payload covers (kept entries of masked tensors plus every
    entry of unmasked ones); `values` counts those that carry a value (fewer under top-k).
    `mask_coding` / `index_coding` are None when that section is absent.
    """

    version: int
    codec: str
    with_mask: bool
    delta: bool
    topk: bool
    mask_coding: str | None
    index_coding: str | None
    chunk: int
    mask_bits: int
    positions: int
    values: int
    mask_bytes: int
    index_bytes: int
    body_length: int
    crc32: int


def pack_header(header: PayloadHeader, body: bytes) -> bytes:
    """The header bytes for `body` (its CRC32 computed here over header and body)."""
    flags = (
        (FLAG_MASK if header.with_mask else 0)
        | (FLAG_DELTA if header.delta else 0)
        | (FLAG_TOPK if header.topk else 0)
    )
    fields = (
        MAGIC,
        FORMAT_VERSION,
        CODEC_CODES[header.codec],
        flags,
        CODING_CODES[header.mask_coding] if header.mask_coding else 0,
        CODING_CODES[header.index_coding] if header.index_coding else 0,
        0,
        header.chunk,
        header.mask_bits,
        header.positions,
        header.values,
        header.mask_bytes,
        header.index_bytes,
        len(body),
        0,
    )
    packed = struct.pack(HEADER_FORMAT, *fields)[:_CRC_OFFSET]
    crc = zlib.crc32(body, zlib.crc32(packed))
    return packed + struct.pack("<I", crc)


def _name_of(codes: dict[str, int], code: int, what: str) -> str:
    for name, c in codes.items():
        if c == code:
            return name
    raise PayloadError(f"unknown {what} code {code}; known: {codes}")


def read_header(payload: bytes) -> PayloadHeader:
    """Parse and check the fixed header, its CRC included; `PayloadError` for anything else.

    The CRC covers the body too, so a payload whose body is truncated or corrupted is refused
    here as well.
    """
    if len(payload) < HEADER_SIZE:
        raise PayloadError(
            f"payload truncated: {len(payload)} bytes, shorter than the {HEADER_SIZE}-byte header"
        )
    magic, version = struct.unpack_from("<4sB", payload)
    if magic != MAGIC:
        raise PayloadError(f"not an fl_lightning payload: magic {magic!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        old = " (an older fl_lightning's, without a CRC over its header)" if version == 1 else ""
        raise PayloadError(
            f"payload format version {version}{old} is not supported; this build reads version "
            f"{FORMAT_VERSION} only: encode the payload again with this build"
        )
    fields = struct.unpack_from(HEADER_FORMAT, payload)
    (*_, codec, flags, mask_code, index_code, reserved, chunk) = fields[:8]
    mask_bits, positions, values, mask_bytes, index_bytes, body_length, crc = fields[8:]
    body_have = len(payload) - HEADER_SIZE
    if body_have < body_length:
        raise PayloadError(
            f"payload truncated: body has {body_have} bytes, the header says {body_length}"
        )
    if body_have > body_length:
        raise PayloadError(
            f"payload has {body_have - body_length} trailing bytes after the "
            f"{body_length}-byte body"
        )
    view = memoryview(payload)
    if zlib.crc32(view[HEADER_SIZE:], zlib.crc32(view[:_CRC_OFFSET])) != crc:
        raise PayloadError("payload fails its CRC32 check (header or body corrupted in transit?)")
    if flags & ~KNOWN_FLAGS:
        raise PayloadError(f"unknown payload flags 0x{flags:02x}")
    if reserved != 0:
        raise PayloadError(f"payload's reserved header byte is {reserved}, must be 0")
    with_mask, topk = bool(flags & FLAG_MASK), bool(flags & FLAG_TOPK)
    mask_coding = _name_of(CODING_CODES, mask_code, "mask coding") if mask_code else None
    index_coding = _name_of(CODING_CODES, index_code, "index coding") if index_code else None
    if with_mask != (mask_coding is not None):
        raise PayloadError("payload's mask flag and mask coding disagree")
    if topk != (index_coding is not None):
        raise PayloadError("payload's top-k flag and index coding disagree")
    return PayloadHeader(
        version=version,
        codec=_name_of(CODEC_CODES, codec, "value codec"),
        with_mask=with_mask,
        delta=bool(flags & FLAG_DELTA),
        topk=topk,
        mask_coding=mask_coding,
        index_coding=index_coding,
        chunk=chunk,
        mask_bits=mask_bits,
        positions=positions,
        values=values,
        mask_bytes=mask_bytes,
        index_bytes=index_bytes,
        body_length=body_length,
        crc32=crc,
    )
