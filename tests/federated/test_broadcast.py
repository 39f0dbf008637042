"""The server's broadcast: error feedback worked by hand, one target per round, pruned positions,
the residual in the engine's checkpoint (resume bit-identical), and the options' refusals."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from fl_lightning.errors import UsageError
from fl_lightning.federated.broadcast import Broadcast
from fl_lightning.federated.codec import decode, encode, flatten
from fl_lightning.federated.config import FederationConfig
from fl_lightning.pruning.mask import Mask
from tests.reliability.runs import tiny_engine

# int4, one chunk whose largest |value| is 7: the scale is 1, levels are rint(value)
GLOBAL = {"w": torch.tensor([7.0, 0.4, -0.3, 2.6])}
NO_MASK = Mask({})


def _received(payload: bytes, template: dict[str, torch.Tensor], mask: Mask) -> torch.Tensor:
    return flatten(decode(payload, template, mask)[0], mask)


def test_without_error_feedback_the_download_is_plain_encode() -> None:
    broadcast = Broadcast("int4")
    for r in (1, 2):
        assert broadcast.encode(r, GLOBAL, NO_MASK, with_mask=False) == encode(
            GLOBAL, NO_MASK, with_mask=False, codec="int4"
        )
    assert broadcast.residual is None


def test_error_feedback_worked_by_hand() -> None:
    """The same global model twice under int4 (scale 1):

    round  target                  sent           residual
    1      (7, 0.4, -0.3, 2.6)     (7, 0, 0, 3)   (0, 0.4, -0.3, -0.4)
    2      (7, 0.8, -0.6, 2.2)     (7, 1, -1, 2)  (0, -0.2, 0.4, 0.2)
    Without it round 2 sends (7, 0, 0, 3) again: the same error every round.
    """
    broadcast = Broadcast("int4", error_feedback=True)
    first = _received(broadcast.encode(1, GLOBAL, NO_MASK, with_mask=False), GLOBAL, NO_MASK)
    assert first.tolist() == [7.0, 0.0, 0.0, 3.0]
    assert broadcast.residual is not None
    torch.testing.assert_close(broadcast.residual, torch.tensor([0.0, 0.4, -0.3, -0.4]))
    second = _received(broadcast.encode(2, GLOBAL, NO_MASK, with_mask=False), GLOBAL, NO_MASK)
    assert second.tolist() == [7.0, 1.0, -1.0, 2.0]
    torch.testing.assert_close(broadcast.residual, torch.tensor([0.0, -0.2, 0.4, 0.2]))


def test_over_rounds_the_received_model_tracks_the_global_one() -> None:
    """sum(sent) = T * global - residual, so the mean received model is within |residual| / T
    (here <= 0.5 / 20) of the global one; without feedback it stays (0, -0.4, 0.3, 0.4) off."""
    broadcast = Broadcast("int4", error_feedback=True)
    rounds = 20
    total = torch.zeros(4)
    for r in range(1, rounds + 1):
        total += _received(broadcast.encode(r, GLOBAL, NO_MASK, with_mask=False), GLOBAL, NO_MASK)
    assert broadcast.residual is not None
    torch.testing.assert_close(total + broadcast.residual, rounds * GLOBAL["w"])
    assert (total / rounds - GLOBAL["w"]).abs().max().item() <= 0.5 / rounds + 1e-6


def test_a_round_is_broadcast_once() -> None:
    """The round's mask-carrying and values-only downloads (and a retry's) carry the same
    values; the residual moves on once, at the round's first download."""
    broadcast = Broadcast("int4", error_feedback=True)
    broadcast.encode(1, GLOBAL, NO_MASK, with_mask=False)
    with_mask = broadcast.encode(2, GLOBAL, NO_MASK, with_mask=True)
    residual = broadcast.residual
    values_only = broadcast.encode(2, GLOBAL, NO_MASK, with_mask=False)
    assert broadcast.residual is residual
    assert torch.equal(
        _received(with_mask, GLOBAL, NO_MASK), _received(values_only, GLOBAL, NO_MASK)
    )
    assert _received(values_only, GLOBAL, NO_MASK).tolist() == [7.0, 1.0, -1.0, 2.0]


def test_pruned_positions_stay_zero_and_hold_no_residual() -> None:
    mask = Mask({"w": torch.tensor([[True, False], [False, True]])})
    state = {"w": torch.tensor([[0.3, 0.0], [0.0, -7.0]]), "b": torch.tensor([1.1])}
    broadcast = Broadcast("int4", error_feedback=True)
    for r in (1, 2, 3):
        got, _ = decode(broadcast.encode(r, state, mask, with_mask=True), state)
        assert got["w"][0, 1].item() == 0.0 and got["w"][1, 0].item() == 0.0
    assert broadcast.residual is not None and broadcast.residual.numel() == 3  # b, w00, w11


def test_state_dict_round_trip_continues_identically() -> None:
    broadcast = Broadcast("int4", error_feedback=True)
    broadcast.encode(1, GLOBAL, NO_MASK, with_mask=False)
    buffer = io.BytesIO()
    torch.save(broadcast.state_dict(), buffer)
    buffer.seek(0)
    resumed = Broadcast("int4", error_feedback=True)
    resumed.load_state_dict(torch.load(buffer))
    assert resumed.encode(2, GLOBAL, NO_MASK, with_mask=False) == broadcast.encode(
        2, GLOBAL, NO_MASK, with_mask=False
    )


def test_a_residual_of_another_size_is_refused() -> None:
    broadcast = Broadcast("int8", error_feedback=True)
    broadcast.load_state_dict({"residual": torch.zeros(3)})
    with pytest.raises(ValueError, match="residual has 3 entries, the model's payload has 4"):
        broadcast.encode(1, GLOBAL, NO_MASK, with_mask=False)


@pytest.mark.parametrize(
    ("federation", "message"),
    [
        (
            FederationConfig(down_codec="sign"),  # type: ignore[arg-type]
            r"^federation.down_codec='sign': downloads carry weights.*allowed: float32, "
            r"float16, int8, int4 or null",
        ),
        (
            FederationConfig(down_error_feedback=True),
            r"^federation.down_error_feedback=true needs a lossy download codec",
        ),
        (
            FederationConfig(down_codec="float32", dtype="float16", down_error_feedback=True),
            r"^federation.down_error_feedback=true needs a lossy download codec",
        ),
    ],
)
def test_bad_download_settings_are_usage_errors(federation: FederationConfig, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        federation.validate(10)


def test_lossy_downloads_take_error_feedback() -> None:
    for federation in (
        FederationConfig(down_codec="int4", down_error_feedback=True),
        FederationConfig(dtype="float16", down_error_feedback=True),
        FederationConfig(up_codec="sign", error_feedback=True),
        FederationConfig(up_codec="sign"),
    ):
        federation.validate(10)


DOWN_EF = FederationConfig(
    rounds=3, clients_per_round=3, down_codec="int4", down_error_feedback=True, up_codec="sign"
)


def _mask() -> Mask:
    torch.manual_seed(1)
    return Mask({"encoder.fc1.weight": torch.rand(200, 784) < 0.1})


def test_the_engine_keeps_what_its_first_broadcast_dropped(tiny_fashion_root: Path) -> None:
    engine = tiny_engine(tiny_fashion_root, federation=DOWN_EF, mask=_mask(), num_clients=4)
    start = {k: v.clone() for k, v in engine.global_state.items()}
    engine.run_round(1)
    sent = decode(encode(start, engine.mask, with_mask=False, codec="int4"), start, engine.mask)[0]
    residual = engine.state_dict()["broadcast"]["residual"]
    assert torch.equal(residual, flatten(start, engine.mask) - flatten(sent, engine.mask))
    assert residual.abs().max() > 0


def test_resume_with_down_error_feedback_equals_uninterrupted(tiny_fashion_root: Path) -> None:
    whole = tiny_engine(tiny_fashion_root, federation=DOWN_EF, mask=_mask(), num_clients=4)
    for r in (1, 2, 3):
        whole.run_round(r)
    first = tiny_engine(tiny_fashion_root, federation=DOWN_EF, mask=_mask(), num_clients=4)
    first.run_round(1)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = tiny_engine(tiny_fashion_root, federation=DOWN_EF, mask=_mask(), num_clients=4)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    for r in (2, 3):
        resumed.run_round(r)
    for name, value in whole.global_state.items():
        assert torch.equal(resumed.global_state[name], value), name
        if name in whole.mask:
            assert bool((value[~whole.mask[name]] == 0).all()), name
    assert whole.broadcast.residual is not None and resumed.broadcast.residual is not None
    assert torch.equal(resumed.broadcast.residual, whole.broadcast.residual)
    clockless = [{k: v for k, v in row.items() if "seconds" not in k} for row in whole.history]
    assert [{k: v for k, v in row.items() if "seconds" not in k} for row in resumed.history] == (
        clockless
    )
