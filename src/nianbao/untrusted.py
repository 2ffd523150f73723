"""Text from outside (roster names, file and sheet names, filled values) made safe where
nianbao writes it: spreadsheets (CSV, XLSX) and the terminal.

A spreadsheet runs text that starts with `=`, `+`, `-`, `@`, tab or CR as a formula (CSV) or
when the cell is edited (XLSX); a terminal obeys escape sequences and rich obeys `[tags]`.
Every writer of nianbao goes through these helpers, so the rule lives in one place.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from rich.markup import escape

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTED = {"quote_prefix": True}  # xlsxwriter format: shown as typed, stays text when edited

# Escape sequences are removed whole (not just their ESC), so no "]0;title" is left behind:
# CSI (ESC [ or 8-bit 0x9b), OSC/DCS/SOS/PM/APC up to BEL or ST, any other ESC + one char.
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\s\S]?")
# What is left of C0 (but tab and newline), DEL, C1, and the bidirectional overrides that
# make a file name read backwards on screen.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def looks_like_formula(value: Any) -> bool:
    """True for text a spreadsheet would take as the start of a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_cell(value: Any) -> Any:
    """A CSV field: formula-like text gets a leading apostrophe; numbers and the rest stay
    as they are (-1.5 as a number is not a formula)."""
    return "'" + value if looks_like_formula(value) else value


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV table with a BOM (so Excel reads the UTF-8), every field through csv_cell;
    None is an empty field."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([csv_cell(c) for c in header])
    for row in rows:
        writer.writerow(["" if v is None else csv_cell(v) for v in row])
    return "\ufeff" + buf.getvalue()


def csv_bytes(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> bytes:
    return csv_text(header, rows).encode("utf-8")


def write_xlsx_text(ws: Any, row: int, col: int, text: str, fmt: Any = None,
                    quoted: Any = None) -> None:
    """Text into an xlsxwriter sheet; formula-like text takes `quoted` (a format with
    quote_prefix, see QUOTED) so Excel shows it as typed and never runs it."""
    if looks_like_formula(text):
        if quoted is None:
            raise ValueError("formula-like text needs a quote_prefix format")
        ws.write_string(row, col, text, quoted)
    else:
        ws.write_string(row, col, text, fmt)


def printable(text: Any, *, one_line: bool = False) -> str:
    """Text without terminal escape sequences and control characters (tab and newline are
    kept, or made spaces when `one_line`)."""
    out = _CONTROLS.sub("", _SEQUENCES.sub("", str(text)))
    return out.replace("\t", " ").replace("\n", " ") if one_line else out


def for_terminal(text: Any, *, one_line: bool = False) -> str:
    """Untrusted text for a rich console or table cell: printable, and `[...]` shown as
    typed rather than taken as markup."""
    return escape(printable(text, one_line=one_line))
