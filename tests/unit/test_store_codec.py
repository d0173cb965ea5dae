"""Property tests of the chunk codec: lossless for any timestamps and any float64 bit pattern."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.codec import CodecError, chunk_count, decode_chunk, encode_chunk

MS_2000 = 946_684_800_000
MS_2100 = 4_102_444_800_000

timestamps = st.lists(st.integers(min_value=-(2**62), max_value=2**62), max_size=300)
floats = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True, width=64)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_round_trip_is_bit_exact(data) -> None:
    ts = np.array(data.draw(timestamps), dtype=np.int64)
    kind = data.draw(st.sampled_from(["floats", "bits", "ints"]))
    if kind == "floats":
        values = np.array(data.draw(st.lists(floats, min_size=len(ts), max_size=len(ts))), dtype=np.float64)
    elif kind == "bits":  # every bit pattern, NaN payloads included
        bits = data.draw(st.lists(st.integers(0, 2**64 - 1), min_size=len(ts), max_size=len(ts)))
        values = np.array(bits, dtype=np.uint64).view(np.float64)
    else:
        ints = data.draw(st.lists(st.integers(-(2**53) + 1, 2**53 - 1), min_size=len(ts), max_size=len(ts)))
        values = np.array(ints, dtype=np.float64)
    blob = encode_chunk(ts, values)
    got_ts, got_values = decode_chunk(blob)
    assert chunk_count(blob) == len(ts)
    assert got_ts.dtype == np.int64 and got_values.dtype == np.float64
    np.testing.assert_array_equal(got_ts, ts)
    np.testing.assert_array_equal(got_values.view(np.uint64), values.view(np.uint64))


@settings(max_examples=100, deadline=None)
@given(
    start=st.integers(MS_2000, MS_2100),
    steps=st.lists(st.integers(-5_000, 5_000), min_size=1, max_size=200),
    values=st.lists(floats, min_size=200, max_size=200),
)
def test_non_monotonic_scrape_times(start: int, steps: list[int], values: list[float]) -> None:
    ts = start + np.cumsum(np.array(steps, dtype=np.int64))
    vals = np.array(values[: len(ts)], dtype=np.float64)
    got_ts, got_values = decode_chunk(encode_chunk(ts, vals))
    np.testing.assert_array_equal(got_ts, ts)
    np.testing.assert_array_equal(got_values.view(np.uint64), vals.view(np.uint64))


def test_negative_zero_and_mixed_special_values() -> None:
    values = np.array([0.0, -0.0, 1.0, np.nan, -np.inf, 2.0**53, -(2.0**60)])
    ts = np.arange(len(values), dtype=np.int64)
    _, got = decode_chunk(encode_chunk(ts, values))
    assert got.view(np.uint64).tolist() == values.view(np.uint64).tolist()


def test_regular_counter_is_compact() -> None:
    rng = np.random.default_rng(0)
    ts = MS_2100 - 10**9 + np.arange(4096, dtype=np.int64) * 1000 + rng.integers(-5, 6, 4096)
    counter = np.cumsum(rng.poisson(50, 4096)).astype(np.float64)
    assert len(encode_chunk(ts, counter)) / 4096 < 2.5


@pytest.mark.parametrize("blob", [b"", b"\x01\x00", b"\x09" + b"\x00" * 30])
def test_damaged_blob_raises_codec_error(blob: bytes) -> None:
    with pytest.raises(CodecError):
        decode_chunk(blob)


def test_truncated_payload_raises_codec_error() -> None:
    blob = encode_chunk(np.arange(100, dtype=np.int64), np.random.default_rng(1).random(100))
    with pytest.raises(CodecError):
        decode_chunk(blob[:-10])
