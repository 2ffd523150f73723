"""The one cache of the pre-check and the fast reader: its size policy, `clear()` and
`stats()`, content ids, and that nothing it remembers changes a result."""

from __future__ import annotations

import pytest

from nianbao.check import check_bytes
from nianbao.read.cache import LIMITS, Memo, ReadCache, default_cache
from nianbao.read.fast_reader import read_fast
from nianbao.read.precheck import precheck_bytes
from tests.conftest import ROOT

RETURNS = sorted((ROOT / "samples" / "returns").glob("*.xlsx"))


def test_memo_is_emptied_before_it_would_pass_its_limit() -> None:
    memo = Memo(3)
    for key in "abc":
        memo.keep(key, key.upper())
    assert dict(memo) == {"a": "A", "b": "B", "c": "C"}
    memo.keep("d", "D")  # a fourth entry: emptied first
    assert dict(memo) == {"d": "D"}
    assert memo.find("d") == "D" and memo.find("a") is None
    assert (memo.hits, memo.misses) == (1, 1)
    by_bytes = Memo(10, by_bytes=True)
    by_bytes.keep(b"x", 1, size=6)
    by_bytes.keep(b"y", 2, size=5)  # 11 bytes in all: emptied first
    assert dict(by_bytes) == {b"y": 2} and by_bytes.held == 5
    by_bytes.keep(b"z", 3, size=11)  # larger than the whole limit: not kept
    assert dict(by_bytes) == {b"y": 2}
    off = Memo(0)
    off.keep("a", 1)
    assert not off


def test_cache_stats_and_clear() -> None:
    cache = ReadCache()
    assert set(cache.stats()) == set(LIMITS)
    assert all(s["entries"] == 0 for s in cache.stats().values())
    data = RETURNS[0].read_bytes()
    for _ in range(2):
        pre = precheck_bytes(data, "a.xlsx", cache=cache)
        read_fast(data, pre.unpacked, cache=cache)
    stats = cache.stats()
    assert stats["scanned"]["hits"] and stats["scanned"]["bytes"] > 0
    assert stats["frames"]["hits"] and stats["parts"]["hits"] and stats["coords"]["entries"]
    cache.clear()
    assert all(s["entries"] == s["hits"] == s["misses"] == 0 for s in cache.stats().values())
    with pytest.raises(ValueError, match="unknown"):
        ReadCache({"no such memo": 1})
    assert default_cache() is default_cache()


def test_content_ids_name_the_same_content() -> None:
    """The pre-check gives a member met again (same compressed bytes, size, CRC) the id it
    gave the first time; another content gets another id, and so does the same content
    pre-checked with another cache (ids are never reused)."""
    cache = ReadCache()
    first = precheck_bytes(RETURNS[0].read_bytes(), "a.xlsx", cache=cache)
    again = precheck_bytes(RETURNS[0].read_bytes(), "a.xlsx", cache=cache)
    other = precheck_bytes(RETURNS[1].read_bytes(), "b.xlsx", cache=cache)
    elsewhere = precheck_bytes(RETURNS[0].read_bytes(), "a.xlsx", cache=ReadCache())
    assert first.content_ids and set(first.content_ids) == set(first.inflated)
    assert again.content_ids == first.content_ids
    for name, content_id in other.content_ids.items():
        same = other.inflated[name] == first.inflated.get(name)
        assert (content_id == first.content_ids.get(name)) == same, name
    assert not set(elsewhere.content_ids.values()) & set(first.content_ids.values())
    assert first.unpacked.members is first.inflated and set(first.unpacked.names or ()) == \
        set(first.members)


def test_memos_do_not_change_results() -> None:
    """Every sample return checked three times with every memo on gives what it gives with
    every memo off, and what a first reading gives."""
    warm = ReadCache()
    off = ReadCache(dict.fromkeys(LIMITS, 0))
    for _ in range(3):
        for path in RETURNS:
            data = path.read_bytes()
            assert (check_bytes(data, path.name, cache=warm).to_dict()
                    == check_bytes(data, path.name, cache=off).to_dict()), path.name
    assert all(s["entries"] == 0 for s in off.stats().values())
    assert warm.stats()["rows"]["hits"] and warm.stats()["sheets"]["hits"]
    assert len(RETURNS) >= 10, "samples/returns is part of the repository"


def test_the_fast_reader_needs_no_precheck() -> None:
    """Without what the pre-check has, the reader inflates the members itself and remembers
    no worksheet whole (it has no content ids): the same workbook either way."""
    data = RETURNS[0].read_bytes()
    cache = ReadCache()
    alone = [read_fast(data, cache=cache) for _ in range(2)]
    assert not cache.sheets_seen and not cache.sheets
    pre = precheck_bytes(data, "a.xlsx", cache=cache)
    assert read_fast(data, pre.unpacked, cache=cache) == alone[0] == alone[1]
    assert cache.sheets_seen
