"""Two different files from one unit in one collect run: which one counts, by a rule the
clerk can see, and the conflict flagged.

The rule: within one run, the file saved last counts (the save time the workbook records
itself, docProps/core.xml `dcterms:modified`, as Excel, WPS and LibreOffice write it); a
file without a save time, or two saved at the same second, go by the order received.
Between runs, the later run's file counts, as before. Every file is kept; the conflict is
listed in the collect summary and in status.
"""

from __future__ import annotations

import re
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nianbao.collect.ledger import Ledger, Row

RULE = "同一批收到同一单位的多个不同文件时，以文件自身记录的保存时间最晚的为准；" \
    "保存时间缺失或相同的，以收到顺序在后的为准。各文件均已保留。"
CHINA = timezone(timedelta(hours=8))
_CORE = b"docProps/core.xml"
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # a zip member's local header
_CORE_MAX = 64 * 1024
_MODIFIED = re.compile(
    rb"<dcterms:modified[^>]*>\s*([0-9][0-9T:.+\-Z ]{9,40}?)\s*</dcterms:modified>")


def saved_time(data: bytes) -> str | None:
    """When a workbook says it was last saved (ISO, China time), or None. Called only on
    a file the pre-check passed (a sane zip): reads one small member, bounded, straight
    from its local header (opening the whole zip again would cost more than the rest)."""
    try:
        found = _MODIFIED.search(_core_xml(data))
        if not found:
            return None
        moment = datetime.fromisoformat(found.group(1).decode("ascii").strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # OOXML writes W3CDTF in UTC
        return moment.astimezone(CHINA).isoformat(timespec="seconds")
    except (ValueError, struct.error, zlib.error):
        return None


def _core_xml(data: bytes) -> bytes:
    """The uncompressed docProps/core.xml (at most _CORE_MAX bytes), or b""."""
    at = data.find(_CORE) - _LOCAL.size
    if at < 0 or data[at:at + 4] != b"PK\x03\x04":
        return b""
    _, _, _, method, _, _, _, csize, _, name_len, extra_len = _LOCAL.unpack_from(data, at)
    start = at + _LOCAL.size + name_len + extra_len
    # (a size of 0: the sizes follow in a data descriptor; a larger member is not read)
    body = data[start:start + min(csize or 2 * _CORE_MAX, 2 * _CORE_MAX)]
    if method == 0:
        return body[:_CORE_MAX]
    if method != 8:
        return b""
    return zlib.decompressobj(-15).decompress(body, _CORE_MAX)


def order_key(row: Row) -> tuple[int, str, int]:
    """Later counts: by run, within a run by save time (none = earliest), then received.
    Status, merge and export sort a unit's submissions by it."""
    return (row.run_id or 0, row.saved_at or "", row.id)


def batch_conflicts(items: list[dict[str, Any]], ledger: Ledger) -> list[dict[str, Any]]:
    """Units with more than one new, usable submission in this run: which counts, and why."""
    new: dict[str, set[int]] = {}
    for it in items:
        if it["outcome"] == "stored" and it["status"] in ("valid", "invalid") and it["unit"]:
            new.setdefault(it["unit"], set()).add(it["submission"])
    out = []
    for code, ids in new.items():
        if len(ids) > 1:  # read back only the units in conflict
            out.append(conflict(code, [r for r in ledger.rows(unit_code=code) if r.id in ids]))
    return out


def conflict(unit: str, rows: list[Row]) -> dict[str, Any]:
    """One unit's conflict: its files in order, the one that counts (a valid one before
    an invalid one, as status decides), and the rule."""
    rows = sorted(rows, key=order_key)
    valid = [r for r in rows if r.verdict.status == "valid"]
    counting = (valid or rows)[-1]
    return {"unit": unit, "run": counting.run_id, "counting": counting.id,
            "counting_file": counting.file_name, "rule": RULE,
            "files": [{"submission": r.id, "file": r.file_name, "path": r.source_path,
                       "saved_at": r.saved_at, "status": r.verdict.status} for r in rows]}


def unit_conflict(rows: list[Row]) -> dict[str, Any] | None:
    """The latest run in which a unit sent more than one different usable file, if any."""
    usable = [r for r in rows if r.verdict.status != "rejected" and r.run_id is not None]
    runs: dict[int, list[Row]] = {}
    for r in usable:
        runs.setdefault(r.run_id, []).append(r)  # type: ignore[arg-type]
    several = [run for run, rs in runs.items() if len(rs) > 1]
    if not several:
        return None
    latest = max(several)
    return conflict(runs[latest][0].verdict.unit_code or "", runs[latest])
