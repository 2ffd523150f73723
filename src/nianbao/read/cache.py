"""Everything the pre-check and the fast reader remember between files, in one object.

Returns of one template share most of their bytes (labels, styles, frames around the cell
data, unfilled sheets): each step remembers what it derived from such bytes, keyed by the
bytes themselves (or what else the result depends on), so that the next return costs a
look-up. All of it lives in a `ReadCache`, passed to `precheck_bytes` and to the readers;
without one they use the process's own (`default_cache()`), so a test or a long-lived
service can start from a fresh one, look at `stats()`, or `clear()` it.

One size policy for every memo: a limit (entries, or bytes for the memos holding parts);
when an entry would take a memo past it, the memo is emptied first, and an entry larger
than the whole limit is not kept (a limit of 0 turns a memo off). What is remembered never
changes a result, only how soon it comes: every memo is keyed by all its result depends on.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

MB = 1024 * 1024

#: name -> (limit, unit, what it holds). "bytes": the memo counts the bytes of the parts it
#: holds; "sections": each entry is a memo of its own of `SECTION_LIMITS[name]` entries.
LIMITS: dict[str, tuple[int, str, str]] = {
    "scanned": (32 * MB, "bytes", "pre-check: small members by compressed bytes, size and CRC"),
    "parts": (256, "entries", "content types, workbook.xml, relationships, namespaces"),
    "styles": (64, "entries", "styles.xml -> the cell styles holding dates"),
    "frames": (16 * MB, "bytes", "the XML around a worksheet's cell data"),
    "coords": (50_000, "entries", "cell references -> positions"),
    "ranges": (50_000, "entries", "merged ranges -> bounds"),
    "covered": (64, "entries", "a sheet's merged ranges -> the cells they empty"),
    "attributes": (50_000, "entries", "attribute text of a start tag -> the attributes"),
    "runs": (50_000, "entries", "runs of empty cells -> their positions and styles"),
    "int_cells": (50_000, "entries", "whole numbers -> their (immutable) cells"),
    "str_cells": (50_000, "entries", "short strings -> their (immutable) cells"),
    "formula_cells": (50_000, "entries", "plain formula cells with their result, by text"),
    "known_strings": (16, "sections", "per root tag: shared strings by their text"),
    "rich": (1024, "entries", "rich shared strings -> their text"),
    "seen": (50_000, "entries", "hashes of rows met once"),
    "rows": (16, "sections", "per context: rows met twice -> their cells"),
    "patterns": (16, "sections", "per context: rows without their numbers -> a pattern"),
    "sheets_seen": (256, "entries", "content ids of worksheets met once"),
    "sheets": (64, "entries", "content ids of worksheets met twice -> their cells"),
}
SECTION_LIMITS = {"known_strings": 50_000, "rows": 8192, "patterns": 8192}

_CONTENT_IDS = itertools.count(1)  # never reused in a process, whatever cache gave them


def new_content_id() -> int:
    """An id for a member's content not met before (see `Unpacked.content_ids`)."""
    return next(_CONTENT_IDS)


class Memo(dict[Any, Any]):
    """A dictionary under the size policy (see the module's docstring). Look-ups in loops
    over cells use `get` (nothing counted); those once per part or row use `find`."""

    __slots__ = ("by_bytes", "held", "hits", "limit", "misses", "section_limit")

    def __init__(self, limit: int, by_bytes: bool = False, section_limit: int = 0) -> None:
        super().__init__()
        self.limit, self.by_bytes, self.section_limit = limit, by_bytes, section_limit
        self.held = self.hits = self.misses = 0

    def find(self, key: Any, default: Any = None) -> Any:
        """`get`, counted as a hit or a miss."""
        found = self.get(key, self)
        if found is self:
            self.misses += 1
            return default
        self.hits += 1
        return found

    def keep(self, key: Any, value: Any, size: int = 1) -> None:
        """Remember `value` (`size`: its bytes, for a memo counting bytes)."""
        size = size if self.by_bytes else 1
        if size > self.limit:
            return
        if self.held + size > self.limit:
            self.clear()
        self[key] = value
        self.held += size

    def section(self, key: Any) -> Memo:
        """The memo kept under `key` (made when missing), of `section_limit` entries."""
        found = self.get(key)
        if found is None:
            found = Memo(self.section_limit)
            self.keep(key, found)
        return found

    def clear(self) -> None:
        super().clear()
        self.held = 0

    def entries(self) -> int:
        return sum(len(v) if isinstance(v, Memo) else 1 for v in self.values())


class ReadCache:
    """The memos of the pre-check and the fast reader (see the module's docstring).
    `limits`: name -> limit, overriding `LIMITS` (0 turns a memo off)."""

    scanned: Memo
    parts: Memo
    styles: Memo
    frames: Memo
    coords: Memo
    ranges: Memo
    covered: Memo
    attributes: Memo
    runs: Memo
    int_cells: Memo
    str_cells: Memo
    formula_cells: Memo
    known_strings: Memo
    rich: Memo
    seen: Memo
    rows: Memo
    patterns: Memo
    sheets_seen: Memo
    sheets: Memo

    def __init__(self, limits: Mapping[str, int] | None = None) -> None:
        unknown = set(limits or ()) - set(LIMITS)
        if unknown:
            raise ValueError(f"unknown memos: {sorted(unknown)}")
        for name, (limit, unit, _) in LIMITS.items():
            setattr(self, name, Memo((limits or {}).get(name, limit), unit == "bytes",
                                     SECTION_LIMITS.get(name, 0)))

    def memos(self) -> dict[str, Memo]:
        return {name: getattr(self, name) for name in LIMITS}

    def clear(self) -> None:
        """Forget everything (the counts of hits and misses too)."""
        for memo in self.memos().values():
            memo.clear()
            memo.hits = memo.misses = 0

    def stats(self) -> dict[str, dict[str, int]]:
        """Per memo: its limit, what it holds (entries; bytes where it counts bytes), and
        the hits and misses of the look-ups counted (those once per part or row)."""
        out = {}
        for name, memo in self.memos().items():
            entry = {"limit": memo.limit, "entries": memo.entries(), "hits": memo.hits,
                     "misses": memo.misses}
            if memo.by_bytes:
                entry["bytes"] = memo.held
            out[name] = entry
        return out


_DEFAULT = ReadCache()


def default_cache() -> ReadCache:
    """The process's own cache: what `precheck_bytes` and the readers use unless given one."""
    return _DEFAULT
