"""Masked model state <-> bytes: the wire format, and the only place payload sizes come from.

What is counted is what is sent: the engine counts `len(encode(...))`, clients train from
`decode(...)` of the very bytes, and `payload_size` gives the same number from a formula.

A payload is the fixed header (`codecs.header`: codec, flags, counts, CRC32 over header and
body) followed by three sections, each present only when the header says so::

    [mask section] [index section] values section

- mask section (a first download, flag `mask`): one *selector* bit per key of the state in
  sorted order (1 = the tensor is masked; packed, zero-padded to whole bytes), then the mask's
  bits -- one per entry of the masked tensors, in sorted-name order and row-major within a
  tensor (1 = kept) -- as a bitmap or Rice-coded gaps, whichever is smaller
  (`codecs.positions`). "mask bits" in the header counts the per-entry bits.
- index section (flag `topk`): which of the payload's positions carry a value, coded the same
  way. Without it every position does.
- values: the *positions* are, for every key in sorted order, the kept entries of a masked
  tensor (row-major) or every entry of an unmasked one; the values of those positions (or of
  the top-k subset) under the header's value codec (`codecs.values`: float32, float16, int8,
  int4 with a float32 scale per 256 values, or sign: one bit a value and a float32 scale per
  256 values, for updates only).

Flag `delta` marks an update (local - global) rather than weights: `decode` adds it to the
`reference` it is given. Pruned positions are not sent; they decode to exactly 0.0, as do
positions a top-k payload leaves out of a delta.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from fl_lightning.errors import check_choice
from fl_lightning.federated.codecs.header import (
    FORMAT_VERSION,
    HEADER_FORMAT,
    HEADER_SIZE,
    MAGIC,
    PayloadError,
    PayloadHeader,
    pack_header,
    read_header,
)
from fl_lightning.federated.codecs.positions import decode_positions, encode_positions
from fl_lightning.federated.codecs.values import (
    UPDATE_ONLY_CODECS,
    VALUE_CODECS,
    Rounding,
    ValueCodec,
    chunk_of,
    decode_values,
    encode_values,
    values_size,
)
from fl_lightning.pruning.mask import Mask

__all__ = [
    "FORMAT_VERSION",
    "HEADER_FORMAT",
    "HEADER_SIZE",
    "MAGIC",
    "VALUE_CODECS",
    "PayloadError",
    "PayloadHeader",
    "Rounding",
    "ValueCodec",
    "decode",
    "encode",
    "encode_flat",
    "flatten",
    "payload_size",
    "read_header",
    "topk_count",
]


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


def _num_positions(template: Mapping[str, torch.Tensor], mask: Mask) -> int:
    """Kept entries of masked tensors plus every entry of the unmasked ones."""
    dense = sum(t.numel() for name, t in template.items() if name not in mask)
    return mask.num_kept + dense


def flatten(state: Mapping[str, torch.Tensor], mask: Mask) -> torch.Tensor:
    """The payload's positions of `state` as one float32 vector (sorted keys, kept entries)."""
    pieces = []
    for name in sorted(state):
        t = state[name].detach().to("cpu", torch.float32)
        pieces.append(t[mask[name]] if name in mask else t.reshape(-1))
    return torch.cat(pieces) if pieces else torch.zeros(0)


def _unflatten(
    flat: torch.Tensor, template: Mapping[str, torch.Tensor], mask: Mask
) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    offset = 0
    for name in sorted(template):
        shape = template[name].shape
        if name in mask:
            n = mask.kept(name)
            t = torch.zeros(shape, dtype=torch.float32)
            t.masked_scatter_(mask[name], flat[offset : offset + n])
        else:
            n = template[name].numel()
            # a view of `flat`, which decoding made fresh: no two names share memory
            t = flat[offset : offset + n].reshape(shape)
        state[name] = t
        offset += n
    return state


def _mask_section(template: Mapping[str, torch.Tensor], mask: Mask) -> tuple[str, bytes]:
    names = sorted(template)
    selector = np.packbits(np.array([n in mask for n in names], dtype=np.uint8), bitorder="little")
    bits = [mask[name].reshape(-1).numpy() for name in names if name in mask]
    coding, data = encode_positions(np.concatenate(bits) if bits else np.zeros(0, dtype=bool))
    return coding, selector.tobytes() + data


def topk_count(fraction: float, positions: int) -> int:
    """Values a top-k payload sends: ``ceil(fraction * positions)``, at least 1 (if any)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"top-k fraction {fraction!r} must be in (0, 1]")
    return min(positions, max(1, math.ceil(fraction * positions)))


def payload_size(
    template: Mapping[str, torch.Tensor],
    mask: Mask,
    *,
    with_mask: bool,
    codec: ValueCodec = "float32",
) -> int:
    """Bytes of `encode(state, mask, with_mask=..., codec=...)` for a state shaped like `template`.

    ``HEADER_SIZE + [ceil(num keys / 8) + mask coding bytes if with_mask]
    + values_size(codec, kept + dense entries)``. (A top-k payload's size depends on which
    positions it sends; `len()` of it is what is counted.) For `sign`, which carries updates
    only, it is the size of `encode_flat(..., delta=True)`.
    """
    check_choice("codec", codec, VALUE_CODECS)
    _check_mask_fits(mask, template, "template")
    section = len(_mask_section(template, mask)[1]) if with_mask else 0
    return HEADER_SIZE + section + values_size(codec, _num_positions(template, mask))


def encode_flat(
    flat: torch.Tensor,
    template: Mapping[str, torch.Tensor],
    mask: Mask,
    *,
    with_mask: bool,
    codec: ValueCodec = "float32",
    delta: bool = False,
    topk: float | None = None,
    rounding: Rounding = "nearest",
    generator: torch.Generator | None = None,
) -> tuple[bytes, torch.Tensor]:
    """The payload of the position vector `flat` (see `flatten`), and what the receiver decodes.

    Returns ``(payload, sent)``: `sent` is the float32 vector the payload decodes to (the
    quantised values; 0.0 where top-k left a position out), for error feedback.
    `topk`: send only the largest ``topk_count(topk, n)`` magnitudes. `rounding` and `generator`
    choose the integer codecs' rounding. Raises `ValueError` for `sign` without `delta` (its
    decoded values are ``+-scale``: an update's direction, never weights).
    """
    check_choice("codec", codec, VALUE_CODECS)
    if codec in UPDATE_ONLY_CODECS and not delta:
        raise ValueError(f"codec {codec!r} carries updates (delta=True) only, never weights")
    _check_mask_fits(mask, template, "template")
    n = _num_positions(template, mask)
    flat = flat.detach().to("cpu", torch.float32).reshape(-1)
    if flat.numel() != n:
        raise ValueError(f"{flat.numel()} values given, the template and mask have {n} positions")
    mask_coding, mask_section = _mask_section(template, mask) if with_mask else (None, b"")
    index_coding, index_section = None, b""
    chosen = flat
    where: torch.Tensor | None = None
    if topk is not None:
        k = topk_count(topk, n)
        where = torch.topk(flat.abs(), k, sorted=False).indices.sort().values
        chosen = flat[where]
        bits = np.zeros(n, dtype=bool)
        bits[where.numpy()] = True
        index_coding, index_section = encode_positions(bits)
    values = encode_values(chosen, codec, rounding=rounding, generator=generator)
    decoded = decode_values(values, codec, chosen.numel())
    if where is None:
        sent = decoded
    else:
        sent = torch.zeros(n, dtype=torch.float32)
        sent[where] = decoded
    body = mask_section + index_section + values
    header = PayloadHeader(
        version=FORMAT_VERSION,
        codec=codec,
        with_mask=with_mask,
        delta=delta,
        topk=topk is not None,
        mask_coding=mask_coding,
        index_coding=index_coding,
        chunk=chunk_of(codec),
        mask_bits=mask.num_total if with_mask else 0,
        positions=n,
        values=chosen.numel(),
        mask_bytes=len(mask_section),
        index_bytes=len(index_section),
        body_length=len(body),
        crc32=0,
    )
    return pack_header(header, body) + body, sent


def encode(
    state: Mapping[str, torch.Tensor],
    mask: Mask,
    *,
    with_mask: bool,
    codec: ValueCodec = "float32",
) -> bytes:
    """The payload of the weights `state` under `mask` (round-to-nearest, every position).

    Values at pruned positions are dropped, not sent. `with_mask` adds the mask (the first
    download); later payloads carry values only. The length equals `payload_size(...)`.
    """
    _check_float_tensors(state, "state")
    _check_mask_fits(mask, state, "state")
    return encode_flat(flatten(state, mask), state, mask, with_mask=with_mask, codec=codec)[0]


def _read_mask(
    section: memoryview,
    header: PayloadHeader,
    names: list[str],
    template: Mapping[str, torch.Tensor],
) -> Mask:
    selector_len = math.ceil(len(names) / 8)
    if len(section) < selector_len:
        raise PayloadError(
            f"mask section is {len(section)} bytes, its selector needs {selector_len}"
        )
    bits = np.unpackbits(np.frombuffer(section[:selector_len], dtype=np.uint8), bitorder="little")
    if bits[len(names) :].any():
        raise PayloadError("mask selector has non-zero padding bits")
    masked = [name for name, sel in zip(names, bits[: len(names)], strict=True) if sel]
    expected_bits = sum(template[name].numel() for name in masked)
    if expected_bits != header.mask_bits:
        raise PayloadError(
            f"payload has {header.mask_bits} mask bits, the template's masked tensors "
            f"({', '.join(masked) or 'none'}) have {expected_bits} entries"
        )
    flat = decode_positions(section[selector_len:], header.mask_coding, header.mask_bits)
    masks: dict[str, torch.Tensor] = {}
    offset = 0
    for name in masked:
        size = template[name].numel()
        # Mask copies what it is given: a view of the decoded positions is enough here
        masks[name] = torch.from_numpy(flat[offset : offset + size]).reshape(template[name].shape)
        offset += size
    return Mask(masks)


def decode(
    payload: bytes,
    template: Mapping[str, torch.Tensor],
    mask: Mask | None = None,
    reference: Mapping[str, torch.Tensor] | None = None,
    *,
    require_delta: bool = False,
) -> tuple[dict[str, torch.Tensor], Mask]:
    """The state and mask carried by `payload`.

    `template` gives the names and shapes (any floating dtype; the result is float32 on CPU).
    `mask` is the one known from the first download, needed when the payload carries values
    only; a payload with a mask yields its own. A delta payload decodes to ``reference + delta``
    when `reference` is given, else to the delta itself. Pruned positions are exactly 0.0.
    `require_delta` (the server reading an upload): `PayloadError` for weights, checked right
    after the header, which is read (its CRC computed) once.
    Raises `PayloadError` for a corrupt, truncated or mismatching payload.
    """
    _check_float_tensors(template, "template")
    header = read_header(payload)
    if require_delta and not header.delta:
        raise PayloadError("upload carries weights, not an update (delta)")
    body = memoryview(payload)[HEADER_SIZE:]
    names = sorted(template)
    sections = header.mask_bytes + header.index_bytes
    values_len = values_size(header.codec, header.values)
    if header.chunk != chunk_of(header.codec):
        raise PayloadError(f"payload's chunk size {header.chunk} is not {header.codec}'s")
    if not header.topk and header.values != header.positions:
        raise PayloadError(
            f"payload sends {header.values} values for {header.positions} positions without top-k"
        )
    if header.values > header.positions:
        raise PayloadError(f"payload sends {header.values} values for {header.positions} positions")
    if header.codec in UPDATE_ONLY_CODECS and not header.delta:
        raise PayloadError(f"a {header.codec} payload must carry an update (delta), not weights")
    if sections + values_len != header.body_length:
        raise PayloadError(
            f"payload body is {header.body_length} bytes; the header's sections "
            f"({header.mask_bytes} mask, {header.index_bytes} index bytes, {header.values} "
            f"{header.codec} values) need {sections + values_len}"
        )
    if header.with_mask:
        mask = _read_mask(body[: header.mask_bytes], header, names, template)
    elif mask is None:
        raise PayloadError("payload carries values only and no mask is known to decode it with")
    else:
        _check_mask_fits(mask, template, "template")
    n = _num_positions(template, mask)
    if header.positions != n:
        raise PayloadError(
            f"payload has {header.positions} positions, the mask and template need {n}"
        )
    values = decode_values(body[sections:], header.codec, header.values)
    if header.topk:
        where = decode_positions(body[header.mask_bytes : sections], header.index_coding, n)
        if int(where.sum()) != header.values:
            raise PayloadError(
                f"payload's index section marks {int(where.sum())} positions, "
                f"it sends {header.values} values"
            )
        if not header.delta:
            raise PayloadError("a top-k payload must carry an update (delta), not weights")
        flat = torch.zeros(n, dtype=torch.float32)
        flat[torch.from_numpy(where)] = values
        values = flat
    state = _unflatten(values, template, mask)
    if header.delta and reference is not None:
        state = {
            name: reference[name].detach().to("cpu", torch.float32) + t for name, t in state.items()
        }
    return state, mask
