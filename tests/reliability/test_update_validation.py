"""Update validation at the engine: each kind of bad upload is refused, counted, and explained.

One client of three (the second sampled) has its real upload tampered with on the way back; the
server must refuse it for the right reason, count it in `clients/failed`, and average the rest.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fl_lightning.federated.client import ClientResult
from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.codec import HEADER_SIZE, decode, encode, encode_flat, flatten
from fl_lightning.federated.engine import FederationConfig, RoundEngine
from fl_lightning.federated.sampling import ClientSampler
from fl_lightning.pruning.mask import Mask

from .runs import tiny_engine

ENGINE_LOG = "fl_lightning.federated.engine"
Tamper = Callable[[bytes, RoundEngine], bytes]


def half_mask() -> Mask:
    """Keeps every other entry of the first layer's weights (the rest of the model is dense)."""
    keep = torch.zeros(200, 784, dtype=torch.bool)
    keep.view(-1)[::2] = True
    return Mask({"encoder.fc1.weight": keep})


def encode_update_of(delta: dict[str, torch.Tensor], mask: Mask) -> bytes:
    """`delta` as an upload payload (uploads carry updates, not weights)."""
    return encode_flat(flatten(delta, mask), delta, mask, with_mask=False, delta=True)[0]


def other_version(payload: bytes, engine: RoundEngine) -> bytes:
    return payload[:4] + bytes([1]) + payload[5:]


def flipped_body_byte(payload: bytes, engine: RoundEngine) -> bytes:
    i = HEADER_SIZE + 1000
    return payload[:i] + bytes([payload[i] ^ 0x01]) + payload[i + 1 :]


def truncated(payload: bytes, engine: RoundEngine) -> bytes:
    return payload[:-4]


def trailing_bytes(payload: bytes, engine: RoundEngine) -> bytes:
    return payload + b"\x00\x00\x00\x00"


def with_infinity(payload: bytes, engine: RoundEngine) -> bytes:
    state, mask = decode(payload, engine.global_state, engine.mask)
    state["head.weight"][3, 7] = float("inf")
    return encode_update_of(state, mask)


def values_of_another_mask(payload: bytes, engine: RoundEngine) -> bytes:
    """A well-formed payload (right CRC and length) with the values of a denser mask."""
    state, _ = decode(payload, engine.global_state, engine.mask)
    return encode_update_of(state, Mask({}))


def far_from_global(payload: bytes, engine: RoundEngine) -> bytes:
    state, mask = decode(payload, engine.global_state, engine.mask)
    state["head.bias"][0] += 1000.0
    return encode_update_of(state, mask)


def weights_not_update(payload: bytes, engine: RoundEngine) -> bytes:
    """A well-formed payload of the client's weights instead of its update."""
    state, mask = decode(payload, engine.global_state, engine.mask, reference=engine.global_state)
    return encode(state, mask, with_mask=False)


CASES: dict[str, tuple[Tamper, str]] = {
    "weights": (weights_not_update, "PayloadError: upload carries weights, not an update (delta)"),
    "version": (
        other_version,
        "PayloadError: payload format version 1 (an older fl_lightning's",
    ),
    "crc": (flipped_body_byte, "PayloadError: payload fails its CRC32 check"),
    "length_short": (truncated, "PayloadError: payload truncated: body has"),
    "length_long": (trailing_bytes, "PayloadError: payload has 4 trailing bytes after the"),
    "non_finite": (with_infinity, "UpdateRejected: update's 'head.weight' has 1 non-finite values"),
    "values_for_mask": (
        values_of_another_mask,
        "PayloadError: payload has 199210 positions, the mask and template need 120810",
    ),
    "update_norm": (far_from_global, "UpdateRejected: update norm 1000"),  # 1000.0x > 50
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_upload_is_refused_counted_and_logged(
    case: str,
    tiny_fashion_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tamper, reason = CASES[case]
    federation = FederationConfig(rounds=1, clients_per_round=3, max_update_norm=50.0)
    engine = tiny_engine(tiny_fashion_root, federation=federation, mask=half_mask())
    victim = ClientSampler(engine.seeds.of("sampling")).sample(engine.data.num_clients, 3)[1]
    original = engine.train_here
    sent: list[int] = []

    def tampering(r: int, job: ClientJob) -> ClientResult:
        result = original(r, job)
        if job.client_id == victim:
            result.payload = tamper(result.payload, engine)
        sent.append(len(result.payload))
        return result

    monkeypatch.setattr(engine, "train_here", tampering)
    with caplog.at_level(logging.WARNING, logger=ENGINE_LOG):
        row = engine.run_round(1)
    assert row["clients/failed"] == 1 and row["clients/participated"] == 2
    assert row["comm/up_bytes"] == sum(sent)  # the refused upload crossed the wire too
    failed = [r.getMessage() for r in caplog.records if "failed:" in r.getMessage()]
    assert len(failed) == 1 and failed[0].startswith(f"round 1: client {victim} failed: ")
    assert reason in failed[0], failed[0]
    if case == "update_norm":
        assert failed[0].endswith("exceeds max_update_norm=50.0")
    for name, keep in engine.mask.items():  # the refused upload left no trace at pruned positions
        assert torch.all(engine.global_state[name][~keep] == 0)


def test_the_norm_bound_keeps_ordinary_updates(tiny_fashion_root: Path) -> None:
    """The bound used above refuses only the tampered update: ordinary ones are far below it."""
    federation = FederationConfig(rounds=1, clients_per_round=3, max_update_norm=50.0)
    row = tiny_engine(tiny_fashion_root, federation=federation).run_round(1)
    assert row["clients/failed"] == 0 and row["clients/participated"] == 3


def test_header_layout_assumed_by_the_version_case() -> None:
    """Byte 4 of a payload is its format version (after the 4-byte magic)."""
    payload = encode({"w": torch.ones(3)}, Mask({}), with_mask=False)
    assert payload[:4] == b"FLL1" and struct.unpack_from("<B", payload, 4) == (2,)
