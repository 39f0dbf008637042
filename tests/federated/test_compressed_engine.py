"""The local engine with compressed payloads: real byte counts, resume with error-feedback state."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.codec import HEADER_SIZE, encode, read_header
from fl_lightning.federated.codecs.values import Rounding
from fl_lightning.federated.config import FederationConfig
from fl_lightning.federated.engine import RoundEngine
from fl_lightning.pruning.mask import Mask
from tests.reliability.runs import tiny_engine

EF = FederationConfig(
    rounds=3,
    clients_per_round=3,
    down_codec="int8",
    up_codec="int4",
    up_topk=0.3,
    error_feedback=True,
    up_rounding="stochastic",
)


def _mask() -> Mask:
    torch.manual_seed(1)
    return Mask({"encoder.fc1.weight": torch.rand(200, 784) < 0.1})


def test_resume_with_error_feedback_equals_uninterrupted(tiny_fashion_root: Path) -> None:
    whole = tiny_engine(tiny_fashion_root, federation=EF, mask=_mask(), num_clients=4)
    for r in (1, 2, 3):
        whole.run_round(r)
    first = tiny_engine(tiny_fashion_root, federation=EF, mask=_mask(), num_clients=4)
    first.run_round(1)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = tiny_engine(tiny_fashion_root, federation=EF, mask=_mask(), num_clients=4)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    assert resumed.residuals.keys() == first.residuals.keys() and len(first.residuals) == 3
    for r in (2, 3):
        resumed.run_round(r)
    for name, value in whole.global_state.items():
        assert torch.equal(resumed.global_state[name], value), name
    assert resumed.residuals.keys() == whole.residuals.keys()
    for cid, residual in whole.residuals.items():
        assert torch.equal(resumed.residuals[cid], residual), cid
    clockless = [{k: v for k, v in row.items() if "seconds" not in k} for row in whole.history]
    assert [{k: v for k, v in row.items() if "seconds" not in k} for row in resumed.history] == (
        clockless
    )


def _first_round(engine: RoundEngine) -> dict[str, int]:
    row = engine.run_round(1)
    return {"down": row["comm/down_bytes"], "up": row["comm/up_bytes"]}


def test_int8_uploads_are_a_quarter_of_float32(tiny_fashion_root: Path) -> None:
    """Same mask, 3 clients: upload bytes follow 4 * n vs 4 * ceil(n / 256) + n per client."""
    mask = _mask()
    f32 = tiny_engine(
        tiny_fashion_root, federation=FederationConfig(rounds=1, clients_per_round=3), mask=mask
    )
    i8 = tiny_engine(
        tiny_fashion_root,
        federation=FederationConfig(rounds=1, clients_per_round=3, up_codec="int8"),
        mask=mask,
    )
    n = mask.num_kept + sum(t.numel() for k, t in f32.global_state.items() if k not in mask)
    assert _first_round(f32)["up"] == 3 * (HEADER_SIZE + 4 * n)
    assert _first_round(i8)["up"] == 3 * (HEADER_SIZE + 4 * -(-n // 256) + n)
    assert i8.summary()["up_bits_per_param"] < 0.27 * f32.summary()["up_bits_per_param"]


def test_first_download_mask_is_compact(tiny_fashion_root: Path) -> None:
    """A 10 % random mask travels Rice-coded: well under the bitmap's one bit per weight."""
    mask = _mask()
    engine = tiny_engine(
        tiny_fashion_root, federation=FederationConfig(rounds=1, clients_per_round=3), mask=mask
    )
    row = engine.run_round(1)  # 3 first downloads, each with the mask
    header = read_header(encode(engine.global_state, mask, with_mask=True))
    assert header.mask_coding == "rice"
    assert 8 * header.mask_bytes < 0.55 * mask.num_total  # H(0.1) = 0.469 bits per weight
    values_only = len(encode(engine.global_state, mask, with_mask=False))
    assert row["comm/down_bytes"] == 3 * (values_only + header.mask_bytes)


def test_up_rounding_reaches_the_clients_encoder(tiny_fashion_root: Path) -> None:
    """`federation.up_rounding` decides the upload's bytes: the same client, round and download
    (so the same trained update) uploads other int8 levels under `stochastic` than under
    `nearest`, and the same ones again under the same setting."""

    def upload(rounding: Rounding) -> bytes:
        federation = FederationConfig(
            rounds=1, clients_per_round=1, up_codec="int8", up_rounding=rounding
        )
        engine = tiny_engine(tiny_fashion_root, federation=federation)
        download = encode(engine.global_state, engine.mask, with_mask=False)
        return engine.train_here(1, ClientJob(2, download, None)).payload

    nearest, stochastic = upload("nearest"), upload("stochastic")
    assert len(nearest) == len(stochastic)  # the same codec: only the levels differ
    assert stochastic != nearest
    assert upload("nearest") == nearest and upload("stochastic") == stochastic
