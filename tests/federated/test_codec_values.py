"""Value codecs: hand-worked levels, error bounds (hand example + property), unbiased rounding,
byte counts by formula, refusal of bad sections."""

from __future__ import annotations

import math
from typing import get_args

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_lightning.federated.codecs.header import PayloadError
from fl_lightning.federated.codecs.values import (
    CHUNK,
    VALUE_CODECS,
    FloatCodec,
    NonFiniteValues,
    decode_values,
    encode_values,
    values_size,
)

X = torch.tensor([0.5, -0.25, 1.5, 3.25, 4.0, -6.0])


def test_int8_hand_worked() -> None:
    # scale 6/127; levels rint(x * 127 / 6) = 11 -5 32 69 85 -127
    scale = torch.tensor(6.0) / 127
    got = decode_values(encode_values(X, "int8"), "int8", 6)
    assert torch.equal(got, torch.tensor([11, -5, 32, 69, 85, -127]) * scale)


def test_int4_hand_worked() -> None:
    # scale 6/7; levels rint(x * 7 / 6) = 1 0 2 4 5 -7 (0.58, -0.29, 1.75, 3.79, 4.67, -7)
    scale = torch.tensor(6.0) / 7
    got = decode_values(encode_values(X, "int4"), "int4", 6)
    assert torch.equal(got, torch.tensor([1, 0, 2, 4, 5, -7]) * scale)


@pytest.mark.parametrize(
    ("codec", "n", "expected"),
    [
        ("float32", 300, 1200),
        ("float16", 300, 600),
        ("int8", 300, 2 * 4 + 300),  # two chunks of <= 256 values, a float32 scale each
        ("int4", 300, 2 * 4 + 150),
        ("int4", 301, 2 * 4 + 151),  # an odd count pads one nibble
        ("int8", 256, 4 + 256),
        ("int8", 0, 0),
    ],
)
def test_byte_counts_by_formula(codec: str, n: int, expected: int) -> None:
    assert values_size(codec, n) == expected
    assert len(encode_values(torch.linspace(-1, 1, n), codec)) == expected  # type: ignore[arg-type]


def test_float_codecs_hand_worked() -> None:
    assert torch.equal(decode_values(encode_values(X, "float32"), "float32", 6), X)
    # 1/3 in float16 is 0.333251953125 (10 mantissa bits)
    third = decode_values(encode_values(torch.tensor([1 / 3]), "float16"), "float16", 1)
    assert third.item() == 0.333251953125


def test_chunks_have_their_own_scale() -> None:
    """A large value coarsens only its own chunk: the small chunk stays exact-ish."""
    x = torch.cat([torch.full((CHUNK,), 1000.0), torch.full((CHUNK,), 0.01)])
    got = decode_values(encode_values(x, "int8"), "int8", x.numel())
    assert torch.allclose(got[CHUNK:], torch.full((CHUNK,), 0.01))


# No subnormals: a chunk whose largest value is below 127 x the smallest float32 (~2e-43) has a
# scale that underflows to 0, so it decodes to zeros; no model update is that small.
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False, width=32)


@settings(max_examples=30, deadline=None)
@given(st.lists(finite, min_size=1, max_size=600), st.sampled_from(["int8", "int4"]))
def test_nearest_error_within_half_a_step(values: list[float], codec: str) -> None:
    x = torch.tensor(values, dtype=torch.float32)
    got = decode_values(encode_values(x, codec), codec, x.numel())  # type: ignore[arg-type]
    qmax = 127 if codec == "int8" else 7
    for start in range(0, x.numel(), CHUNK):
        chunk = x[start : start + CHUNK]
        step = float(chunk.abs().max()) / qmax
        err = (got[start : start + CHUNK] - chunk).abs().max().item()
        assert err <= step / 2 * (1 + 1e-5) + 1e-30


@settings(max_examples=25, deadline=None)
@given(st.lists(finite, min_size=1, max_size=300), st.sampled_from(["int8", "int4"]))
def test_stochastic_error_below_one_step(values: list[float], codec: str) -> None:
    x = torch.tensor(values, dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    payload = encode_values(x, codec, rounding="stochastic", generator=gen)  # type: ignore[arg-type]
    got = decode_values(payload, codec, x.numel())
    step = float(x.abs().max()) / (127 if codec == "int8" else 7)
    assert (got - x).abs().max().item() <= step * (1 + 1e-5)


@settings(max_examples=25, deadline=None)
@given(st.lists(finite, min_size=1, max_size=300))
def test_float16_relative_error(values: list[float]) -> None:
    x = torch.tensor(values, dtype=torch.float32)
    got = decode_values(encode_values(x, "float16"), "float16", x.numel())
    assert torch.allclose(got, x, rtol=2**-11, atol=2**-24)


@pytest.mark.parametrize("codec", ["int8", "int4"])
def test_stochastic_rounding_is_unbiased(codec: str) -> None:
    """The mean of many draws approaches x; round-to-nearest keeps a bias of up to half a step."""
    x = torch.tensor([7.0, 0.3, -0.55, 2.6, -1.15])  # chunk max 7: int4 step 1, int8 step 7/127
    reps = 4000  # every 256-value chunk holds a 7.0, so every chunk has the same scale
    tiled = x.repeat(reps)
    gen = torch.Generator().manual_seed(1)
    payload = encode_values(tiled, codec, rounding="stochastic", generator=gen)  # type: ignore[arg-type]
    draws = decode_values(payload, codec, tiled.numel()).reshape(reps, 5)
    step = 7.0 / (127 if codec == "int8" else 7)
    # std of one draw <= step / 2; of the mean of 4000 <= step / 126: 5 sigma is 0.04 steps
    assert (draws.mean(0) - x).abs().max().item() < 0.04 * step
    nearest = decode_values(encode_values(x, codec), codec, 5)
    if codec == "int4":
        assert (nearest - x).abs().max().item() > 0.3  # e.g. 0.3 -> 0: the bias it avoids


def test_stochastic_rounding_is_reproducible_from_its_seed() -> None:
    x = torch.linspace(-1, 1, 500)
    a = encode_values(x, "int4", rounding="stochastic", generator=torch.Generator().manual_seed(5))
    b = encode_values(x, "int4", rounding="stochastic", generator=torch.Generator().manual_seed(5))
    c = encode_values(x, "int4", rounding="stochastic", generator=torch.Generator().manual_seed(6))
    assert a == b and a != c


@pytest.mark.parametrize("codec", ["int8", "int4"])
def test_each_chunk_draws_its_own_rounding_noise(codec: str) -> None:
    """Two chunks of the same values round differently: one shared vector of draws would make
    every chunk's errors equal, adding up coherently across a layer instead of cancelling."""
    chunk = torch.linspace(-1.0, 1.0, CHUNK)  # max 1 in each: both chunks have the same scale
    x = torch.cat([chunk, chunk])
    gen = torch.Generator().manual_seed(0)
    got = decode_values(
        encode_values(x, codec, rounding="stochastic", generator=gen),  # type: ignore[arg-type]
        codec,
        2 * CHUNK,
    )
    first, second = got[:CHUNK], got[CHUNK:]
    assert not torch.equal(first, second)
    # independent draws: the values that are not on a level round apart about half the time
    assert (first != second).float().mean().item() > 0.2


def test_a_chunk_max_one_ulp_above_qmax_levels_is_clipped_not_wrapped() -> None:
    """In float32, 269.78745 / fl(269.78745 / 127) is 127.00001: stochastic rounding then
    reaches level 128 (about 8 draws in 2**20), which an int8 cast wraps to -128 unless the
    levels are clipped to [-127, 127] first."""
    value = 269.78745
    x = torch.full((2**20,), value)
    assert (x[:1] / (x[:1] / 127)).item() > 127  # the float32 round trip overshoots
    gen = torch.Generator().manual_seed(0)
    got = decode_values(
        encode_values(x, "int8", rounding="stochastic", generator=gen), "int8", x.numel()
    )
    step = value / 127
    assert got.min().item() >= value - step * (1 + 1e-5)  # no value wrapped to the far end
    assert got.max().item() <= value * (1 + 1e-6)


def test_all_zero_chunk_decodes_to_zero() -> None:
    got = decode_values(encode_values(torch.zeros(10), "int8"), "int8", 10)
    assert torch.equal(got, torch.zeros(10))


@pytest.mark.filterwarnings("error")  # numpy's "invalid value" warning of a 0 / 0 fails it
@pytest.mark.parametrize("codec", ["int8", "int4"])
def test_a_zero_chunk_is_quantised_without_dividing_by_its_zero_scale(codec: str) -> None:
    """An all-zero chunk (scale 0) beside a live one: levels 0 from a defined division, not a
    NaN cast to an integer (which happens to give 0 on x86, with a warning)."""
    x = torch.cat([torch.zeros(CHUNK), torch.ones(3)])
    got = decode_values(encode_values(x, codec), codec, CHUNK + 3)
    assert torch.equal(got, x)


def test_float_codecs_are_the_value_codecs_that_keep_floats() -> None:
    assert get_args(FloatCodec) == ("float32", "float16")
    assert set(get_args(FloatCodec)) <= set(VALUE_CODECS)


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown value codec 'int2'"):
        encode_values(X, "int2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown rounding 'up'"):
        encode_values(X, "int8", rounding="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stochastic rounding needs a seeded generator"):
        encode_values(X, "int8", rounding="stochastic")
    with pytest.raises(ValueError, match="int4 cannot carry non-finite values"):
        encode_values(torch.tensor([1.0, math.nan]), "int4")


@pytest.mark.parametrize("codec", ["int8", "int4"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", [0, 255, 256, 700])  # first and last of a chunk, the padded one
def test_any_non_finite_value_in_any_chunk_is_refused(codec: str, bad: float, where: int) -> None:
    x = torch.linspace(-2.0, 2.0, 701)
    x[where] = bad
    with pytest.raises(NonFiniteValues, match=f"{codec} cannot carry non-finite values"):
        encode_values(x, codec)  # type: ignore[arg-type]
    with pytest.raises(NonFiniteValues):  # whatever the rounding
        encode_values(x, codec, rounding="stochastic", generator=torch.Generator())  # type: ignore[arg-type]


def test_a_scale_is_the_largest_magnitude_of_its_chunk_over_qmax() -> None:
    """Worked by hand: chunk 1 peaks at -5.08 (negative side), chunk 2 at +2.54."""
    x = torch.zeros(300)
    x[3], x[10] = 1.0, -5.08
    x[256], x[299] = 2.54, -1.0
    data = encode_values(x, "int8")
    scales = np.frombuffer(data[:8], dtype="<f4")
    assert scales.tolist() == [np.float32(-5.08) / np.float32(-127), np.float32(2.54) / 127]


def test_bad_sections_are_refused() -> None:
    data = encode_values(X, "int4")
    with pytest.raises(PayloadError, match="int4 values section is 6 bytes, 6 values need 7"):
        decode_values(data[:-1], "int4", 6)
    odd = encode_values(X[:5], "int4")
    with pytest.raises(PayloadError, match="non-zero padding nibble"):
        decode_values(odd[:-1] + bytes([odd[-1] | 0x10]), "int4", 5)
    with pytest.raises(PayloadError, match="level -128"):
        decode_values(bytes(4) + bytes([0x80]), "int8", 1)
    with pytest.raises(PayloadError, match="level -8"):
        decode_values(bytes(4) + bytes([0x08]), "int4", 1)
    negative = (-1.0 * torch.ones(1)).numpy().astype("<f4").tobytes()
    with pytest.raises(PayloadError, match="negative or non-finite scale"):
        decode_values(negative + bytes([1]), "int8", 1)


# -- sign: one bit a value, a mean-|x| scale per chunk ------------------------------------------


def test_sign_hand_worked() -> None:
    # mean |x| = (0.5 + 0.25 + 1.5 + 3.25 + 4 + 6) / 6 = 15.5 / 6; negatives at 1 and 5
    scale = torch.tensor(15.5) / 6
    data = encode_values(X, "sign")
    assert data == scale.numpy().astype("<f4").tobytes() + bytes([0b0010_0010])
    got = decode_values(data, "sign", 6)
    assert torch.equal(got, torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0, -1.0]) * scale)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (6, 4 + 1),
        (256, 4 + 32),  # 36 bytes for 256 values: 1.125 bits a value
        (2560, 10 * 4 + 320),  # 360 bytes = 2560 * 1.125 / 8
        (257, 2 * 4 + 33),  # a second chunk (one scale) and a 33rd byte of bits
        (0, 0),
    ],
)
def test_sign_byte_counts_by_formula(n: int, expected: int) -> None:
    assert values_size("sign", n) == expected
    assert len(encode_values(torch.linspace(-1, 1, n), "sign")) == expected


def test_sign_scale_is_the_mean_over_the_chunks_own_values() -> None:
    """The last chunk's scale averages its 2 values, not the 254 padding zeros beside them."""
    x = torch.cat([torch.full((CHUNK,), -0.5), torch.tensor([2.0, -4.0])])
    got = decode_values(encode_values(x, "sign"), "sign", CHUNK + 2)
    assert torch.equal(got[:CHUNK], torch.full((CHUNK,), -0.5))
    assert got[CHUNK:].tolist() == [3.0, -3.0]


def test_sign_keeps_each_chunks_l1_norm() -> None:
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    got = decode_values(encode_values(x, "sign"), "sign", x.numel())
    for start in range(0, x.numel(), CHUNK):
        torch.testing.assert_close(
            got[start : start + CHUNK].abs().sum(), x[start : start + CHUNK].abs().sum()
        )
        assert bool((torch.sign(got[start : start + CHUNK]) * x[start : start + CHUNK] >= 0).all())


def test_sign_of_zero_is_plus_and_a_zero_chunk_decodes_to_zero() -> None:
    assert decode_values(encode_values(torch.tensor([0.0, -2.0]), "sign"), "sign", 2).tolist() == [
        1.0,
        -1.0,
    ]
    assert torch.equal(
        decode_values(encode_values(torch.zeros(10), "sign"), "sign", 10), torch.zeros(10)
    )


def test_sign_has_no_rounding_to_choose() -> None:
    gen = torch.Generator().manual_seed(0)
    assert encode_values(X, "sign", rounding="stochastic", generator=gen) == encode_values(
        X, "sign"
    )


def test_bad_sign_sections_are_refused() -> None:
    with pytest.raises(ValueError, match="sign cannot carry non-finite values"):
        encode_values(torch.tensor([1.0, math.inf]), "sign")
    data = encode_values(X, "sign")  # 6 values: bits 6 and 7 of the one byte are padding
    with pytest.raises(PayloadError, match="sign values have non-zero padding bits"):
        decode_values(data[:-1] + bytes([data[-1] | 0x80]), "sign", 6)
    with pytest.raises(PayloadError, match="sign values section is 4 bytes, 6 values need 5"):
        decode_values(data[:-1], "sign", 6)
    negative = (-1.0 * torch.ones(1)).numpy().astype("<f4").tobytes()
    with pytest.raises(PayloadError, match="negative or non-finite scale"):
        decode_values(negative + bytes([1]), "sign", 1)
