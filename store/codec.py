"""Encoding of one chunk of one series: timestamps and values into a small blob, and back.

Why this shape: scrapes are regular, so timestamps (int64 milliseconds) become delta-of-delta values
that are almost all zero; counters and most gauges hold integers, so their first differences are tiny;
other floats are XORed with their predecessor so unchanged high bits cancel. Each int64 is zigzagged,
then the arrays are byte-shuffled (all first bytes, then all second bytes...) so that the mostly-zero
byte planes can be dropped or deflate to nothing. Decoding is a handful of vectorised numpy calls,
which is what keeps loading a million samples well under the 200 ms goal.

Layout: ``<BBBBBIqQ`` header (format version, value mode, timestamp plane mask, value plane mask,
reserved, sample count, first timestamp, first value's 64 bits) then zlib of the kept byte planes,
timestamps first. The first sample sits in the header so its large magnitude does not keep every
high byte plane alive.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["encode_chunk", "decode_chunk", "chunk_count", "CodecError", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_HEADER = struct.Struct("<BBBBBIqQ")
_MODE_INT = 0  # integer-valued floats: zigzag(first difference of int64)
_MODE_XOR = 1  # anything else: float64 bits XOR previous bits
_EXACT_INT_LIMIT = float(2**53)
_ZLIB_LEVEL = 6


class CodecError(ValueError):
    """A blob that is not a chunk this codec wrote (damaged or from an unknown format version)."""


def _zigzag(x: np.ndarray) -> np.ndarray:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(z: np.ndarray) -> np.ndarray:
    return (z >> np.uint64(1)).view(np.int64) ^ -(z & np.uint64(1)).view(np.int64)


def _planes(words: np.ndarray) -> tuple[int, bytes]:
    """Byte-shuffle 64-bit words; return (mask of the non-zero byte planes, those planes' bytes)."""
    present = int(np.bitwise_or.reduce(words)) if words.size else 0
    mask = 0
    parts = []
    for k in range(8):
        if (present >> (8 * k)) & 0xFF:
            mask |= 1 << k
            parts.append((words >> np.uint64(8 * k)).astype(np.uint8).tobytes())
    return mask, b"".join(parts)


def _unplanes(mask: int, raw: memoryview, offset: int, n: int) -> tuple[np.ndarray, int]:
    words = np.zeros(n, dtype=np.uint64)
    for k in range(8):
        if mask & (1 << k):
            end = offset + n
            if end > len(raw):
                raise CodecError("chunk payload is shorter than its header says")
            plane = np.frombuffer(raw[offset:end], dtype=np.uint8).astype(np.uint64)
            words |= plane << np.uint64(8 * k) if k else plane
            offset = end
    return words, offset


def _is_exact_int(values: np.ndarray) -> bool:
    if not values.size:
        return True
    ok = np.isfinite(values) & (np.abs(values) < _EXACT_INT_LIMIT) & (values == np.trunc(values))
    if not ok.all():
        return False
    return not bool(np.any(np.signbit(values) & (values == 0)))  # -0.0 must survive


def encode_chunk(ts_ms: np.ndarray, values: np.ndarray) -> bytes:
    """Encode int64 millisecond timestamps (any order) and float64 values; lossless for both."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    if ts.shape != vals.shape or ts.ndim != 1:
        raise ValueError("timestamps and values must be 1-d arrays of the same length")
    n = ts.shape[0]
    # int64 array arithmetic wraps silently on overflow, and cumsum unwraps it exactly
    d1 = np.diff(ts, prepend=np.int64(0))
    dod = d1.copy()
    dod[2:] = d1[2:] - d1[1:-1]
    ts0 = int(ts[0]) if n else 0
    if n:
        dod[0] = 0
    ts_words = _zigzag(dod)
    if _is_exact_int(vals):
        mode = _MODE_INT
        ints = vals.astype(np.int64)
        v0 = int(ints[0]) & 0xFFFFFFFFFFFFFFFF if n else 0
        v_words = _zigzag(np.diff(ints, prepend=ints[:1]))
    else:
        mode = _MODE_XOR
        bits = vals.view(np.uint64)
        v0 = int(bits[0])
        v_words = bits ^ np.concatenate((bits[:1], bits[:-1]))
    ts_mask, ts_bytes = _planes(ts_words)
    v_mask, v_bytes = _planes(v_words)
    header = _HEADER.pack(FORMAT_VERSION, mode, ts_mask, v_mask, 0, n, ts0, v0)
    return header + zlib.compress(ts_bytes + v_bytes, _ZLIB_LEVEL)


def chunk_count(blob: bytes) -> int:
    """Number of samples in a chunk, read from its header alone."""
    if len(blob) < _HEADER.size:
        raise CodecError("chunk is shorter than its header")
    return int(_HEADER.unpack_from(blob)[5])


def decode_chunk(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_chunk`: (int64 ms timestamps, float64 values), bit for bit."""
    if len(blob) < _HEADER.size:
        raise CodecError("chunk is shorter than its header")
    version, mode, ts_mask, v_mask, _reserved, n, ts0, v0 = _HEADER.unpack_from(blob)
    if version != FORMAT_VERSION or mode not in (_MODE_INT, _MODE_XOR):
        raise CodecError(f"unknown chunk format {version}/{mode}")
    try:
        raw = memoryview(zlib.decompress(blob[_HEADER.size :]))
    except zlib.error as exc:
        raise CodecError(f"chunk payload does not inflate: {exc}") from exc
    ts_words, offset = _unplanes(ts_mask, raw, 0, n)
    v_words, offset = _unplanes(v_mask, raw, offset, n)
    if offset != len(raw):
        raise CodecError("chunk payload is longer than its header says")
    d1 = _unzigzag(ts_words)
    if n:
        d1[0] = ts0
    if n > 1:
        d1[1:] = np.cumsum(d1[1:])
    ts = np.cumsum(d1)
    if mode == _MODE_INT:
        deltas = _unzigzag(v_words)
        if n:
            deltas[0] = v0 - (1 << 64) if v0 >= 1 << 63 else v0
        values = np.cumsum(deltas).astype(np.float64)
    else:
        if n:
            v_words[0] = v0
        values = np.bitwise_xor.accumulate(v_words).view(np.float64)
    return ts.astype(np.int64, copy=False), values
