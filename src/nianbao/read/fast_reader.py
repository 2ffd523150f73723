"""The fast reader: one pass over a workbook's XML with the standard library.

`read_fast(data)` gives exactly the `RawWorkbook` that `read_openpyxl(data)` gives (the same
sheets in the same order, the same states, the same cells in the same order with values of
the same Python types), 30-60 times faster: each member needed is inflated once (or not at
all: `read_fast(data, unpacked)` takes the members the pre-check inflated) and read once,
and nothing is built that is not returned. `read_auto(data)` is what `check` and `collect`
should call. Both are `Reader`s (reader.py); what they remember between files is in a
`ReadCache` (cache.py), the process's own unless one is passed.

Worksheets and shared strings written the way Excel, WPS, LibreOffice and xlsxwriter write
them are read by a byte scan (compiled regular expressions over the cell data, see
grammar.py, scan.py and scan_strings.py), and what surrounds the cell data, the same in
every return of a template, is parsed once and remembered, as are shared strings and plain
formula cells already met (the template's labels, and totals and checks whose result
repeats), by their exact text and context; rows are read one by one, those met before taken
from memory (see remembered_rows.py); any part the scan does not positively recognise as
plain, and any part on which it meets anything unexpected, is read by the C parser behind
`xml.etree.ElementTree` (parse.py) from scratch: the result, or the exception, is the same
either way (tests/test_fast_reader.py compares both paths with openpyxl). The steps, and
the data passed between them, are drawn in docs/architecture.md.

What it reproduces of openpyxl 3.1 (the reference, see `openpyxl_reader.py`):

* parts found as openpyxl finds them: the workbook part and the shared strings through
  [Content_Types].xml, worksheets through the workbook's relationships (absolute or
  relative targets), styles at xl/styles.xml; a sheet whose part is missing is skipped;
* cells: the position from `r`, or following the previous cell / row when `r` is missing
  (any child of a row counts as a cell); later duplicates win; numbers become int or float
  by openpyxl's rule ("." or "E"/"e" in the text: float); shared, inline and formula
  strings, rich-text runs concatenated after the plain text, phonetic runs (`rPh`) left
  out, children matched by local name; "x005F_" removed from shared strings only;
  booleans; error strings; ISO dates (t="d"); numbers in a date or time format become
  datetime, time or timedelta (cellXfs + numFmts of styles.xml, the 1904 flag of
  workbook.xml), "#VALUE!" when out of range;
* formulas as text without "=", shared formulas translated by openpyxl's own Translator,
  array formulas as their text, data tables as "TABLE()", each with its cached value (None
  when there is none: the cell is kept);
* what openpyxl does to a sheet after its cells: a merged range keeps only its top-left
  cell's value; a hyperlink on an empty cell gives the cell the link's target (or
  location) as its value, a formula when it begins with "=";
* the `MAX_CELLS` guard (`TooManyCells`, as the reference raises it), and the exceptions
  openpyxl raises for broken cells (a style or shared string that does not exist, a number
  that is not one, a formula that cannot be translated, ...).

Leaf functions whose exact behaviour matters (date formats, serial numbers to datetimes,
formula translation, coordinate parsing) are openpyxl's own, imported.

Deliberate differences, all on files openpyxl cannot read:

* Formatting is not validated. openpyxl refuses a workbook whose styles.xml or rich-text
  run fonts break its rules (e.g. "Max value is 14" for a font family above 14); the fast
  reader reads the values. Document properties, themes, comments, drawings, tables and
  pivot tables are not read at all (openpyxl parses them and fails on broken ones).
* Strict Open XML raises `StrictOOXML`, a clear message; openpyxl returns a workbook
  without sheets, which `check` would report as a form without its identity sheet.
* Exception types and messages of broken files may differ (openpyxl wraps a ValueError in
  "Unable to read workbook: ..."); both end as a FILE_* finding.
* Work is bounded where openpyxl's is not: a merged range or hyperlink over millions of
  cells, or a sheet of more than MAX_CELLS cells that later merges would thin out.

Structures it does not recognise (chartsheets, duplicate sheet names, markup that no
spreadsheet application writes but openpyxl reads in its own way) raise
`UnsupportedWorkbook`, on which `read_auto` hands the file to openpyxl: the result is still
exactly the reference's.

Call it after the pre-check (no DTDs, no zip bombs); member reads are bounded anyway. Every
failure on a broken file is an ordinary exception (zipfile.BadZipFile, KeyError, ValueError,
TypeError, IndexError, xml.etree.ElementTree.ParseError, ...) that `check_bytes` turns into
a finding; nothing loops without bound.
"""

from __future__ import annotations

import re

from nianbao.read import parse, scan
from nianbao.read.bind import bind
from nianbao.read.book import Book
from nianbao.read.cache import ReadCache, default_cache
from nianbao.read.ooxml import MAIN_NS, StrictOOXML, UnsupportedWorkbook
from nianbao.read.openpyxl_reader import MAX_CELLS, TooManyCells, read_openpyxl
from nianbao.read.package import rels_path
from nianbao.read.rawbook import RawCell, RawWorkbook
from nianbao.read.reader import Unpacked
from nianbao.read.remembered_rows import remember_sheet, remembered_sheet, scan_rows
from nianbao.read.scan_strings import scan_strings

__all__ = ["MAIN_NS", "MAX_MEMBER_BYTES", "StrictOOXML", "UnsupportedWorkbook", "read_auto",
           "read_fast"]

#: Largest uncompressed member read (the pre-check allows 50 MB per member by default).
MAX_MEMBER_BYTES = 64 * 1024 * 1024
_SCAN_MAX = 4 * 1024 * 1024  # larger parts are read by iterparse, in chunks
_INVALID_TITLE = re.compile(r"[\\*?:/\[\]]")  # openpyxl.workbook.child.INVALID_TITLE_REGEX
_SHEET_STATES = frozenset({"visible", "hidden", "veryHidden"})
Cells = dict[tuple[int, int], RawCell]


def read_auto(data: bytes, unpacked: Unpacked | None = None, *,
              cache: ReadCache | None = None) -> RawWorkbook:
    """The fast reader, or the reference reader for a workbook the fast one does not know.

    Falls back to `read_openpyxl` only on `UnsupportedWorkbook`: chartsheets, duplicate
    sheet names, and markup that no spreadsheet application writes but that openpyxl would
    read in its own way, so that the result is still exactly openpyxl's. Every other
    exception propagates: a broken file (falling back would only be slower, and for a
    hostile file much slower), `TooManyCells`, and `StrictOOXML`, which openpyxl does not
    read either (it returns a workbook without sheets): the clear error is the better
    finding.

    `unpacked`, `cache`: see `read_fast`.
    """
    try:
        return read_fast(data, unpacked, cache=cache)
    except UnsupportedWorkbook:
        return read_openpyxl(data)


def read_fast(data: bytes, unpacked: Unpacked | None = None, *,
              cache: ReadCache | None = None) -> RawWorkbook:
    """Read the sheets, their states and every stored cell, as `read_openpyxl` does.

    `unpacked`: what the pre-check has of this same `data` (`Precheck.unpacked`): its
    inflated members are used instead of being inflated again (any other member is read
    from the archive, which is opened only then), and members it gives a content id may be
    taken from what `cache` remembers of that content. `cache`: where what is derived from
    the bytes of a part is remembered for the next files (default: the process's own).
    """
    book = Book(data, unpacked, cache or default_cache(), MAX_MEMBER_BYTES, MAX_CELLS)
    try:
        return read_book(book)
    finally:
        book.close()


def read_book(book: Book) -> RawWorkbook:
    """The workbook of a read begun: the package parts, then each sheet."""
    workbook_part, strings_part = book.content_types()
    if strings_part is not None:
        book.strings = shared_strings(book, book.member(strings_part))
    sheets = book.workbook(workbook_part)
    book.styles()
    out = RawWorkbook(sheets=[])
    rels = None
    for name, state, rid in sheets:
        if not rid:
            continue  # openpyxl warns and drops the sheet
        if rels is None:  # RelationshipList.to_dict(): the last of an Id wins
            rels = dict(book.relationships(rels_path(workbook_part)))
        rel = rels[rid]  # KeyError, as openpyxl
        if rel.target not in book.names:
            continue
        if "chartsheet" in rel.type:
            raise UnsupportedWorkbook("工作簿含图表工作表（chartsheet）")
        title = name or "Sheet"
        bad = _INVALID_TITLE.search(title)
        if bad:
            raise ValueError(f"Invalid character {bad.group(0)} found in sheet title")
        if title in out.cells:
            raise UnsupportedWorkbook(f"工作表名称重复：{title}")
        if state not in _SHEET_STATES:
            raise ValueError(f"工作表 {title} 的状态 {state!r} 无效")
        out.sheets.append(title)
        out.states[title] = state
        out.cells[title] = worksheet(book, rel.target)
    return out


def shared_strings(book: Book, raw: bytes) -> list[str]:
    """The shared strings: by the byte scan, or by iterparse where it does not apply."""
    if len(raw) <= _SCAN_MAX:
        try:
            return scan_strings(raw, book.cache)
        except Exception:  # whatever it is, iterparse meets it again and says what
            pass
    return parse.parse_strings(raw)


def worksheet(book: Book, part: str) -> Cells:
    """The cells of a worksheet: remembered (the same content met before), else scanned or
    parsed, then with merged ranges and hyperlinks applied (bind.py)."""
    raw = book.member(part)
    content_id = book.content_ids.get(part)
    cells = remembered_sheet(book, content_id)
    if cells is None:
        found = None
        if len(raw) <= _SCAN_MAX:
            try:
                found = scan_worksheet(book, raw)
            except Exception:  # whatever it is, iterparse meets it again and says what
                found = None
        if found is None:
            found = parse.parse_worksheet(book, raw)
        cells, merges, links, ordered, holes = found
        if merges or links:
            cells = bind(book, part, cells, merges or [], links or [])
            ordered = ordered and not links  # merges only take cells away
        if not ordered:
            cells = dict(sorted(cells.items()))
        if holes is not None and not links:
            remember_sheet(book, content_id, cells, holes)
    book.count += len(cells)
    if book.count > book.max_cells:
        raise TooManyCells(f"超过 {book.max_cells} 个单元格")
    return cells


def scan_worksheet(book: Book, raw: bytes) -> parse.SheetParts:
    """A worksheet read by the byte scan. Raises NotPlain for a worksheet not written the
    usual way, or any error: iterparse then reads it."""
    content, declared, merges, links = scan.scan_frames(book, raw)
    cells, ordered, holes = scan_cells(book, content, declared)
    return cells, merges, links, ordered, holes


def scan_cells(book: Book, content: str, declared: frozenset[str]
               ) -> tuple[Cells, bool, list[tuple[tuple[int, int], int]] | None]:
    """The cells of the cell data (the text inside sheetData), each token interpreted as
    `parse.parse_worksheet` interprets the element; (cells, whether in order, where shared
    strings went or None). Row by row where every row can be read on its own
    (remembered_rows.py, unless the cache remembers no rows), else all at once."""
    if book.cache.rows.limit:
        found = scan_rows(book, content, declared)
        if found is not None:
            return found[0], True, found[1]
    cells, ordered, _, _ = scan.scan_tokens(book, content, declared)
    return cells, ordered, None

