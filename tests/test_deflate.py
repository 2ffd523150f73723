"""The faster codecs (nianbao.deflate) give what the standard zlib gives: the same bytes
from every member of every sample, the same refusal of a broken stream, and streams that
zlib itself reads back."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nianbao import deflate

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
RETURNS = sorted((SAMPLES / "returns").glob("*.xlsx"))


def _streams(path: Path) -> list[tuple[bytes, zipfile.ZipInfo]]:
    """Every deflated member's raw stream, as it lies in the file."""
    data = path.read_bytes()
    out = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_DEFLATED:
                continue
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:
                                                        info.header_offset + 30])
            start = info.header_offset + 30 + name_len + extra_len
            out.append((data[start:start + info.compress_size], info))
    return out


STREAMS = [s for p in RETURNS for s in _streams(p)]


def test_the_faster_codecs_are_in_use() -> None:
    """Both are dependencies: the standard zlib is only the fallback."""
    assert (deflate.INFLATER, deflate.DEFLATER) == ("zlib_ng.zlib_ng", "isal.isal_zlib")


def test_every_member_of_every_sample_inflates_as_zlib_inflates_it() -> None:
    assert len(RETURNS) >= 10 and len(STREAMS) >= 100
    for stream, info in STREAMS:
        ours = deflate.inflater().decompress(stream, info.file_size)
        assert ours == zlib.decompressobj(-zlib.MAX_WBITS).decompress(stream, info.file_size)
        assert deflate.crc32(ours) == zlib.crc32(ours) == info.CRC


def _inflate(decompressor: object, data: bytes, size: int) -> tuple[str, bytes]:
    try:
        return "ok", decompressor.decompress(data, size)  # type: ignore[attr-defined]
    except deflate.ERRORS:
        return "error", b""


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(range(len(STREAMS))), st.lists(
    st.tuples(st.integers(0, 1 << 20), st.integers(1, 255)), min_size=1, max_size=4),
    st.integers(0, 64))
def test_a_broken_stream_fails_as_zlib_fails_it(which: int, flips: list[tuple[int, int]],
                                                  cut: int) -> None:
    """Bytes flipped and the end cut off: either both refuse it, or both give the same
    bytes (which the CRC-32 then judges)."""
    stream, info = STREAMS[which]
    broken = bytearray(stream)
    for at, mask in flips:
        broken[at % len(broken)] ^= mask
    data = bytes(broken[:len(broken) - min(cut, len(broken) - 1)])
    assert _inflate(deflate.inflater(), data, info.file_size) == _inflate(
        zlib.decompressobj(-zlib.MAX_WBITS), data, info.file_size)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=5000) | st.text(max_size=3000).map(str.encode),
       st.integers(1, 9))
def test_what_we_deflate_zlib_reads_back(raw: bytes, level: int) -> None:
    assert zlib.decompress(deflate.deflated(raw, level), -zlib.MAX_WBITS) == raw
    assert zlib.decompress(deflate.compress(raw, level)) == raw
    assert deflate.decompress(deflate.compress(raw)) == raw


@pytest.mark.parametrize("size", [0, 1, 70_000])
def test_crc32_runs_on(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    half = len(data) // 2
    assert deflate.crc32(data[half:], deflate.crc32(data[:half])) == zlib.crc32(data)
