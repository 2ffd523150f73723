"""The fast reader: one pass over a workbook's XML with the standard library.

`read_fast(data)` gives exactly the `RawWorkbook` that `read_openpyxl(data)` gives (the same
sheets in the same order, the same states, the same cells in the same order with values of
the same Python types), 30-60 times faster: each member needed is inflated once (or not at
all: `read_fast(data, members=...)` takes the members the pre-check inflated) and read once,
and nothing is built that is not returned. `read_auto(data)` is what `check` and `collect`
should call.

Worksheets and shared strings written the way Excel, WPS, LibreOffice and xlsxwriter write
them are read by a byte scan (compiled regular expressions over the cell data, see "the byte
scan" below), and what surrounds the cell data, the same in every return of a template, is
parsed once and remembered, as are shared strings and plain formula cells already met (the
template's labels, and totals and checks whose result repeats), by their exact text and
context; rows are read one by one, those met before taken from memory (see
remembered_rows.py); any part the scan does not positively recognise as plain, and any part
on which it meets anything unexpected, is read by the C parser behind
`xml.etree.ElementTree` (XMLPullParser, elements cleared as they are used) from scratch:
the result, or the exception, is the same either way (tests/test_fast_reader.py compares
both paths with openpyxl).

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

import io
import itertools
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from xml.etree.ElementTree import Element, XMLPullParser, fromstring

from openpyxl.cell.text import PhoneticText, RichText, Text
from openpyxl.formula.translate import Translator
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.cell import coordinate_to_tuple, range_boundaries, range_to_tuple
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel, from_ISO8601

from nianbao.read.openpyxl_reader import MAX_CELLS, TooManyCells, read_openpyxl
from nianbao.read.rawbook import RawCell, RawWorkbook

__all__ = ["MAX_MEMBER_BYTES", "StrictOOXML", "UnsupportedWorkbook", "read_auto", "read_fast"]

#: Largest uncompressed member read (the pre-check allows 50 MB per member by default).
MAX_MEMBER_BYTES = 64 * 1024 * 1024


class UnsupportedWorkbook(ValueError):
    """A workbook this reader does not recognise; `read_auto` falls back to openpyxl."""


class StrictOOXML(ValueError):
    """A Strict Open XML workbook (ISO/IEC 29500 strict namespaces), e.g. saved by Excel as
    "Strict Open XML Spreadsheet". Neither reader reads it: openpyxl finds no sheet in it
    (its result would be reported as a form without its identity sheet), so this error is
    raised instead, and `check_bytes` reports it as an unreadable file, with this message."""


def read_auto(data: bytes, members: Mapping[str, bytes] | None = None,
              names: Iterable[str] | None = None) -> RawWorkbook:
    """The fast reader, or the reference reader for a workbook the fast one does not know.

    Falls back to `read_openpyxl` only on `UnsupportedWorkbook`: chartsheets, duplicate
    sheet names, and markup that no spreadsheet application writes but that openpyxl would
    read in its own way, so that the result is still exactly openpyxl's. Every other
    exception propagates: a broken file (falling back would only be slower, and for a
    hostile file much slower), `TooManyCells`, and `StrictOOXML`, which openpyxl does not
    read either (it returns a workbook without sheets): the clear error is the better
    finding.

    `members`, `names`: see `read_fast`.
    """
    try:
        return read_fast(data, members=members, names=names)
    except UnsupportedWorkbook:
        return read_openpyxl(data)


def read_fast(data: bytes, members: Mapping[str, bytes] | None = None,
              names: Iterable[str] | None = None) -> RawWorkbook:
    """Read the sheets, their states and every stored cell, as `read_openpyxl` does.

    `members`: uncompressed members of this same `data` already at hand (the pre-check's
    `Precheck.inflated`, CRC-checked): they are used instead of being inflated again; any
    other member is read from the archive. `names`: the name of every member (the
    pre-check's `Precheck.members`): with it, the archive is opened only when a member is
    needed that `members` does not hold.
    """
    book = _Workbook(data, members, names)
    try:
        return book.read()
    finally:
        book.close()


# --- names ---------------------------------------------------------------------------------

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STRICT_NAMESPACES = (
    "http://purl.oclc.org/ooxml/spreadsheetml/main",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
_STRICT_MESSAGE = ("这是 Strict Open XML 格式的工作簿，无法读取；请在 Excel 中“另存为”"
                   "“Excel 工作簿(*.xlsx)”后重新提交")
_CT_SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.%s+xml"
_CT_WORKBOOKS = (  # openpyxl's order of preference
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
    _CT_SPREADSHEET % "template.main",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    _CT_SPREADSHEET % "sheet.main",
)
_CT_SHARED_STRINGS = _CT_SPREADSHEET % "sharedStrings"
_STYLES_PART = "xl/styles.xml"
_DEFAULT_WORKBOOK_PART = "/xl/workbook.xml"

_ROW = f"{{{MAIN_NS}}}row"
_V = f"{{{MAIN_NS}}}v"
_F = f"{{{MAIN_NS}}}f"
_IS = f"{{{MAIN_NS}}}is"
_SI = f"{{{MAIN_NS}}}si"
_T = f"{{{MAIN_NS}}}t"
_R = f"{{{MAIN_NS}}}r"
_RPR = f"{{{MAIN_NS}}}rPr"
_KNOWN = {_T: "t", _R: "r", f"{{{MAIN_NS}}}rPh": "rPh", f"{{{MAIN_NS}}}phoneticPr": "phoneticPr"}
_MERGE_CELLS = f"{{{MAIN_NS}}}mergeCells"
_HYPERLINKS = f"{{{MAIN_NS}}}hyperlinks"
_RID = f"{{{REL_NS}}}id"
_COL = f"{{{MAIN_NS}}}col"
# The worksheet elements openpyxl's WorkSheetParser clears once it has read them (so a row
# nested in one sees the same tree as there): the same are cleared here.
_DROP = frozenset(f"{{{MAIN_NS}}}{name}" for name in (
    "sheetProtection", "extLst", "conditionalFormatting", "legacyDrawing", "rowBreaks",
    "colBreaks", "customSheetViews", "printOptions", "pageMargins", "pageSetup",
    "headerFooter", "autoFilter", "dataValidations", "sheetPr", "sheetViews",
    "sheetFormatPr", "scenarios", "tableParts",
))

_FEED = 1 << 20  # bytes fed to the parser at a time
# What a worksheet read gives before merged ranges and hyperlinks are applied: the cells, the
# merged ranges and hyperlinks (the last of each element, or None), whether cells are in order
# and, from the byte scan, where shared strings went (see remembered_rows.py).
_SheetParts = tuple[dict[tuple[int, int], "RawCell"], "list[str] | None",
                    "list[dict[str, str]] | None", bool, "list[tuple[tuple[int, int], int]] | None"]
_MERGE_WORK = 2_000_000  # cells looked at to apply merged ranges and hyperlinks, at most
_INVALID_TITLE = re.compile(r"[\\*?:/\[\]]")  # openpyxl.workbook.child.INVALID_TITLE_REGEX
_SHEET_STATES = frozenset({"visible", "hidden", "veryHidden"})
_SHEET_ATTRS = frozenset({"name", "sheetId", "state", "id"})
_REL_ATTRS = frozenset({"Id", "Type", "type", "Target", "TargetMode"})
_LINK_ATTRS = frozenset({"ref", "location", "tooltip", "display", "id", "target"})
_CELL_REF = re.compile(r"\$?[A-Za-z]{1,3}\$?[0-9]+")
_STRING_MAX = 32767  # openpyxl truncates a string set on a cell


def _tricky(cls: type, elements: tuple[str, ...]) -> frozenset[str]:
    """Child tags openpyxl's Serialisable.from_tree would treat as something other than an
    element it knows (aliases, methods, attributes): it crashes or misreads them."""
    names = set()
    for name in dir(cls):
        try:
            value = getattr(cls, name)
        except AttributeError:  # pragma: no cover
            continue
        if value is not None and not isinstance(value, property):
            names.add(name)
    return frozenset(names - set(elements))


_TEXT_TRICKY = _tricky(Text, ("t", "r", "rPh", "phoneticPr"))
_RUN_TRICKY = _tricky(RichText, ("rPr", "t"))
_PHONETIC_TRICKY = _tricky(PhoneticText, ("t",))
_PHONETIC_PR_TYPES = frozenset({"halfwidthKatakana", "fullwidthKatakana", "Hiragana",
                                "noConversion", "none"})
_PHONETIC_PR_ALIGN = frozenset({"noControl", "left", "center", "distributed", "none"})


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# --- caches shared by all reads (the same template gives the same strings) ----------------

_COORDS: dict[str, tuple[int, int, tuple[int, int]]] = {}  # "B6" -> (6, 2, (5, 1))
_RANGES: dict[str, tuple[int, int, int, int]] = {}  # "A1:B2" -> (1, 1, 2, 2): rows, cols
_STYLES: dict[bytes, tuple[int, frozenset[int], frozenset[int]]] = {}
_PARTS: dict[tuple[Any, ...], Any] = {}  # content types, workbook.xml, relationships
_PART_BYTES = 256 * 1024  # larger parts are parsed each time (not kept)
_CACHE_MAX = 50_000


def _coordinate(ref: str) -> tuple[int, int, tuple[int, int]]:
    found = _COORDS.get(ref)
    if found is None:
        row, col = coordinate_to_tuple(ref)  # openpyxl's own parse, raises as it does
        found = (row, col, (row - 1, col - 1))
        if len(_COORDS) >= _CACHE_MAX:
            _COORDS.clear()
        _COORDS[ref] = found
    return found


def _merge_bounds(ref: str) -> tuple[int, int, int, int]:
    """(min_row, min_col, max_row, max_col) of a mergeCell ref, as MergedCellRange finds it."""
    found = _RANGES.get(ref)
    if found is None:
        if "!" in ref:
            _, (min_col, min_row, max_col, max_row) = range_to_tuple(ref)
        else:
            min_col, min_row, max_col, max_row = range_boundaries(ref)
        if None in (min_col, min_row, max_col, max_row):  # "A:B" or "1:2": CellRange fails
            raise TypeError(f"{ref} is not a cell range")
        if min_col > max_col or min_row > max_row:
            raise ValueError(f"{ref}: the end must be after the start")
        if min_row < 1:  # worksheet.cell() refuses it
            raise ValueError("Row or column values must be at least 1")
        found = (min_row, min_col, max_row, max_col)
        if len(_RANGES) >= _CACHE_MAX:
            _RANGES.clear()
        _RANGES[ref] = found
    return found


# --- the workbook --------------------------------------------------------------------------


class _Rel:
    __slots__ = ("target", "type")

    def __init__(self, type_: str, target: str) -> None:
        self.type, self.target = type_, target


class _Workbook:
    def __init__(self, data: bytes, inflated: Mapping[str, bytes] | None = None,
                 names: Iterable[str] | None = None) -> None:
        self.data = data
        self._archive: zipfile.ZipFile | None = None
        self.inflated = inflated or {}
        self.names = set(names) if names is not None else set(self.archive.namelist())
        self.strings: list[str] = []
        self.epoch = WINDOWS_EPOCH
        self.n_styles = 1  # openpyxl's default: one style, no dates
        self.date_styles: frozenset[int] = frozenset()
        self.timedelta_styles: frozenset[int] = frozenset()
        self.count = 0

    @property
    def archive(self) -> zipfile.ZipFile:
        """The package, opened when first needed."""
        if self._archive is None:
            self._archive = zipfile.ZipFile(io.BytesIO(self.data))
        return self._archive

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()

    def member(self, name: str) -> bytes:
        raw = self.inflated.get(name)
        if raw is not None:
            size = len(raw)
        else:
            info = self.archive.getinfo(name)  # KeyError when missing, as openpyxl
            size = info.file_size
        if size > MAX_MEMBER_BYTES:
            raise ValueError(f"部件 {name} 解压后 {size} 字节，超过上限 "
                             f"{MAX_MEMBER_BYTES} 字节")
        return raw if raw is not None else self.archive.read(info)

    def read(self) -> RawWorkbook:
        workbook_part, strings_part = self.content_types()
        if strings_part is not None:
            self.strings = self.shared_strings(self.member(strings_part))
        sheets = self.workbook(workbook_part)
        self.styles()
        book = RawWorkbook(sheets=[])
        rels: dict[str | None, _Rel] | None = None
        for name, state, rid in sheets:
            if not rid:
                continue  # openpyxl warns and drops the sheet
            if rels is None:  # RelationshipList.to_dict(): the last of an Id wins
                rels = dict(self.relationships(_rels_path(workbook_part)))
            rel = rels[rid]  # KeyError, as openpyxl
            if rel.target not in self.names:
                continue
            if "chartsheet" in rel.type:
                raise UnsupportedWorkbook("工作簿含图表工作表（chartsheet）")
            title = name or "Sheet"
            bad = _INVALID_TITLE.search(title)
            if bad:
                raise ValueError(f"Invalid character {bad.group(0)} found in sheet title")
            if title in book.cells:
                raise UnsupportedWorkbook(f"工作表名称重复：{title}")
            if state not in _SHEET_STATES:
                raise ValueError(f"工作表 {title} 的状态 {state!r} 无效")
            book.sheets.append(title)
            book.states[title] = state
            book.cells[title] = self.worksheet(rel.target)
        return book

    # -- package parts ----------------------------------------------------------------------

    def content_types(self) -> tuple[str, str | None]:
        """(workbook part, shared strings part or None), as openpyxl's Manifest finds them."""
        raw = self.member("[Content_Types].xml")
        return _cached(("types", raw), lambda: _content_types(raw))

    def workbook(self, part: str) -> list[tuple[str, str, str | None]]:
        """(name, state, relationship id) of each sheet; sets the date epoch."""
        raw = self.member(part)
        self.epoch, sheets = _cached(("workbook", raw), lambda: _workbook(raw))
        return list(sheets)

    def relationships(self, path: str) -> list[tuple[str | None, _Rel]]:
        """(Id, relationship) in order, targets made absolute as openpyxl's get_dependents
        makes them; no relationships at all when one is invalid (openpyxl warns)."""
        raw = self.member(path)
        return list(_cached(("rels", path, raw), lambda: _relationships(path, raw)))

    def styles(self) -> None:
        """Which cell styles (cellXfs indexes) hold a date or time format."""
        if _STYLES_PART not in self.names:
            return
        raw = self.member(_STYLES_PART)
        found = _STYLES.get(raw)
        if found is None:
            found = _parse_styles(raw)
            if len(raw) <= 4 * _PART_BYTES:
                if len(_STYLES) >= 64:
                    _STYLES.clear()
                _STYLES[raw] = found
        if found[0]:
            self.n_styles, self.date_styles, self.timedelta_styles = found

    def shared_strings(self, raw: bytes) -> list[str]:
        if len(raw) <= _SCAN_MAX:
            try:
                return _scan_strings(raw)
            except Exception:  # whatever it is, iterparse meets it again and says what
                pass
        return self.parse_strings(raw)

    def parse_strings(self, raw: bytes) -> list[str]:
        """The shared strings read with iterparse, element by element: any part."""
        strings: list[str] = []
        append = strings.append
        parser = XMLPullParser(events=("end",))
        si_tag, t_tag = _SI, _T
        for chunk in _chunks(raw):
            parser.feed(chunk)
            for _, el in parser.read_events():
                if el.tag != si_tag:
                    continue
                if len(el) == 1 and not el.attrib and el[0].tag == t_tag and not len(el[0]):
                    text = el[0].text or ""
                else:
                    text = _text(el)
                el.clear()
                append(text.replace("x005F_", "") if "x005F_" in text else text)
        parser.close()
        return strings

    # -- worksheets -------------------------------------------------------------------------

    def worksheet(self, part: str) -> dict[tuple[int, int], RawCell]:
        from nianbao.read.remembered_rows import remember_sheet, remembered_sheet

        raw = self.member(part)
        cells = remembered_sheet(self, raw)
        if cells is None:
            found = None
            if len(raw) <= _SCAN_MAX:
                try:
                    found = self.scan_worksheet(raw)
                except Exception:  # whatever it is, iterparse meets it again and says what
                    found = None
            if found is None:
                found = self.parse_worksheet(raw)
            cells, merges, links, ordered, holes = found
            if merges or links:
                cells = _Sheet(self, part, cells, merges or [], links or []).finish()
                ordered = ordered and not links  # merges only take cells away
            if not ordered:
                cells = dict(sorted(cells.items()))
            if holes is not None and not links:
                remember_sheet(self, raw, cells, holes)
        self.count += len(cells)
        if self.count > MAX_CELLS:
            raise TooManyCells(f"超过 {MAX_CELLS} 个单元格")
        return cells

    def scan_worksheet(self, raw: bytes) -> _SheetParts:
        """A worksheet read by the byte scan (see "the byte scan" below). Raises _NotPlain
        for a worksheet not written the usual way, or any error: iterparse then reads it."""
        head, content, tail, prefixes = _split_sheet(raw)
        first, last = _frame(head), _frame(tail)
        if first[3] != 1:  # the cell data split at is the worksheet's, in the main namespace
            raise _NotPlain("the cell data is not in the main namespace")
        for min_, style in first[2] + last[2]:
            _check_col(min_, style, self.n_styles)
        cells, ordered, holes = self.scan_cells(content, prefixes)
        merges = last[0] if last[0] is not None else first[0]
        links = last[1] if last[1] is not None else first[1]
        return cells, merges, links, ordered, holes

    def scan_cells(self, content: str, prefixes: frozenset[str]
                   ) -> tuple[dict[tuple[int, int], RawCell], bool,
                              list[tuple[tuple[int, int], int]] | None]:
        """The cells of the cell data (the text inside sheetData), each token interpreted
        as `parse_worksheet` interprets the element; (cells, whether in order, where shared
        strings went or None). Row by row where every row can be read on its own
        (remembered_rows.py), else all at once."""
        from nianbao.read.remembered_rows import scan_rows  # (it builds on this module)

        found = scan_rows(self, content, prefixes)
        if found is not None:
            return found[0], True, found[1]
        cells, ordered, _, _ = self.scan_tokens(content, prefixes)
        return cells, ordered, None

    def scan_tokens(self, content: str, prefixes: frozenset[str],
                    holes: list[tuple[tuple[int, int], int]] | None = None
                    ) -> tuple[dict[tuple[int, int], RawCell], bool, bool, bool]:
        """The cells of the cell data, token by token; (cells, whether in order, whether
        free of what went before: every row numbered and no shared formula, whether
        another return may reuse them: free, and no shared string but in `holes`)."""
        cells: dict[tuple[int, int], RawCell] = {}
        free = keep = True
        strings, epoch = self.strings, self.epoch
        n_styles, dates, timedeltas = self.n_styles, self.date_styles, self.timedelta_styles
        style_flags: dict[str, int] = {}
        shared: dict[str | None, Translator] = {}
        row_counter = col = 0
        last_key = (-(1 << 62), 0)
        ordered = True
        in_row = False
        limit = MAX_CELLS - self.count
        new_cell = RawCell
        attributes = _attributes
        pop = cells.pop
        int_cells, str_cells, runs = _INT_CELLS, _STR_CELLS, _RUNS
        formula_cells, coords = _FORMULA_CELLS, _COORDS
        if len(int_cells) > _CACHE_MAX or len(str_cells) > _CACHE_MAX \
                or len(formula_cells) > _CACHE_MAX:
            int_cells.clear()
            str_cells.clear()
            formula_cells.clear()
        for r, s, t, attrs, run, v_text, children, tag, wrong in _TOKEN.findall(content):
            if tag or wrong:
                if wrong:
                    raise _NotPlain(f"not a row or cell: {wrong[:40]!r}")
                if tag[1] == "/":  # </row>
                    if not in_row:
                        raise _NotPlain("the end of a row not begun")
                    in_row = False
                else:
                    if in_row:
                        raise _NotPlain("a row inside a row")
                    row_attrs = tag[4:-1].rstrip(" \t\r\n")
                    in_row = not row_attrs.endswith("/")
                    if not in_row:
                        row_attrs = row_attrs[:-1]
                    attrib = attributes(row_attrs, prefixes) if row_attrs else {}
                    number = attrib.get("r")
                    if number is not None:
                        try:
                            row_counter = int(number)
                        except ValueError:
                            real = float(number)
                            if not real.is_integer():
                                raise ValueError(f"{number} is not a valid row number"
                                                 ) from None
                            row_counter = int(real)
                    else:
                        row_counter += 1
                        free = False
                    if "s" in attrib:
                        _style_index(attrib["s"], n_styles)
                    col = 0
                if not in_row and len(cells) > limit:
                    raise _NotPlain("too many cells")  # (iterparse raises TooManyCells)
                continue
            # -- a cell --
            if not in_row:
                raise _NotPlain("a cell outside a row")
            if attrs:
                attrib = attributes(attrs, prefixes)
                ref = attrib.get("r")
                style = attrib.get("s")
                t = attrib.get("t", "n")
            else:
                ref = r or None
                style = s or None
                t = t or "n"
            if ref:  # _position, inlined: this runs for every cell of every return
                found_at = coords.get(ref) or _coordinate(ref)
                col, key = found_at[1], found_at[2]
            else:
                col, key = col + 1, (row_counter - 1, col)
            if key <= last_key:
                ordered = False
            last_key = key
            flag = 0
            if style is not None:
                flag = style_flags.get(style, -1)
                if flag < 0:
                    flag = _style_flag(style, n_styles, dates, timedeltas)
                    style_flags[style] = flag
            value: Any
            if v_text:  # one <v>, plain: the value (what openpyxl's data_only load holds)
                if "\r" in v_text:
                    v_text = _text_value(v_text)
                if t == "s":
                    index = int(v_text)
                    value = strings[index]
                    if holes is not None:
                        holes.append((key, index))
                    cell = str_cells.get(value)  # cells are immutable: one for each string
                    if cell is None:
                        cell = new_cell(value)
                        if len(value) <= _SHARED_CELL_CHARS:
                            str_cells[value] = cell
                    cells[key] = cell
                    continue
                if t == "n":
                    if "." in v_text or "E" in v_text or "e" in v_text:
                        value = float(v_text)  # (not shared: 0.0 == -0.0)
                        if flag:
                            value = _date(value, epoch, flag)
                    else:
                        value = int(v_text)
                        if flag:
                            value = _date(value, epoch, flag)
                        else:
                            cells[key] = int_cells.get(value) or _int_cell(value, v_text)
                            continue
                elif t == "inlineStr":  # (its text is in <is>)
                    pop(key, None)
                    continue
                elif t == "b":
                    value = bool(int(v_text))
                elif t == "d":
                    value = from_ISO8601(v_text)
                else:
                    value = v_text
                cells[key] = new_cell(value)
                continue
            if "<" not in children:  # no children, or only an empty <v>
                if not ordered:  # (in order, no cell is at or after this one yet)
                    pop(key, None)
                if run:  # the empty cells after it: as one, the same in every return
                    found_run = runs.get(run)
                    if found_run is None:
                        found_run = _empty_run(run)
                    keys, col, styles, increasing = found_run
                    if keys[0] <= last_key or not increasing:
                        ordered = False
                    last_key = keys[-1]
                    for style in styles:
                        if style not in style_flags:
                            style_flags[style] = _style_flag(style, n_styles, dates,
                                                             timedeltas)
                    if not ordered:
                        for key in keys:
                            pop(key, None)
                continue
            # a plain formula with its result: the same text gives the same cell in every
            # return (labels' totals, checks at 0), whatever the file's strings and dates
            formula_key = (t, children, prefixes) if not flag and t != "s" else None
            if formula_key is not None:
                found_cell = formula_cells.get(formula_key)
                if found_cell is not None:
                    cells[key] = found_cell
                    continue
            v = f_kind = f_index = f_text = inline = None
            has_v = f_ref = False
            for (is_v, v_attrs, text, is_f, f_attrs, f_body, _is, is_attrs, t_attrs,
                 t_body) in _CHILD.findall(children.rstrip(" \t\r\n")):
                if is_v:
                    if v_attrs:
                        attributes(v_attrs, prefixes)
                    if not has_v:
                        has_v = True
                        v = _text_value(text)
                elif is_f:
                    f_attrib = attributes(f_attrs, prefixes) if f_attrs else {}
                    if f_text is None:
                        f_kind = f_attrib.get("t")
                        f_index = f_attrib.get("si")
                        f_ref = "ref" in f_attrib
                        f_text = _text_value(f_body)
                else:
                    if is_attrs:  # (openpyxl's Text would refuse it)
                        raise _NotPlain("an inline string with attributes")
                    if t_attrs:
                        attributes(t_attrs, prefixes)
                    if inline is None:
                        inline = _text_value(t_body)
            if t == "inlineStr":
                value = inline
            else:
                value = _typed(t, v or None, strings, flag, epoch)
                if t == "s":
                    keep = False
            if f_kind == "shared":
                free = False
            if f_text is not None:
                cell = new_cell(value, _formula_text(f_kind, f_index, f_ref, f_text, ref,
                                                     shared))
                cells[key] = cell
                if (f_kind is None and inline is None and formula_key is not None
                        and len(children) <= _REMEMBERED_CHARS):
                    formula_cells[formula_key] = cell
            elif value is not None:
                cells[key] = new_cell(value)
            else:
                pop(key, None)
        if in_row:
            raise _NotPlain("a row without its end")
        return cells, ordered, free, keep and free

    def parse_worksheet(self, raw: bytes) -> _SheetParts:
        """A worksheet read with iterparse, element by element: any worksheet."""
        cells: dict[tuple[int, int], RawCell] = {}
        strings, epoch = self.strings, self.epoch
        n_styles, dates, timedeltas = self.n_styles, self.date_styles, self.timedelta_styles
        style_flags: dict[str, int] = {}  # s attribute -> 0 plain, 1 date, 2 timedelta
        shared: dict[str | None, Translator] = {}
        merges: list[str] | None = None
        links: list[dict[str, str]] | None = None
        row_counter = 0
        last_key = (-(1 << 62), 0)
        ordered = True
        limit = MAX_CELLS - self.count
        row_tag, v_tag, f_tag, is_tag = _ROW, _V, _F, _IS
        merge_tag, links_tag, col_tag, drop = _MERGE_CELLS, _HYPERLINKS, _COL, _DROP
        new_cell = RawCell

        parser = XMLPullParser(events=("end",))
        for chunk in _chunks(raw):
            parser.feed(chunk)
            for _, row in parser.read_events():
                tag = row.tag
                if tag != row_tag:
                    if tag == merge_tag:
                        merges = [_merge_ref(el) for el in row if _local(el.tag) == "mergeCell"]
                        row.clear()
                    elif tag == links_tag:
                        links = [_link(el) for el in row if _local(el.tag) == "hyperlink"]
                        row.clear()
                    elif tag == col_tag:
                        _check_col(row.get("min"), row.get("style"), n_styles)
                        row.clear()
                    elif tag in drop:
                        row.clear()
                    continue
                # -- one row: WorkSheetParser.parse_row + parse_cell --
                r = row.get("r")
                if r is not None:
                    try:
                        row_counter = int(r)
                    except ValueError:
                        number = float(r)
                        if not number.is_integer():
                            raise ValueError(f"{r} is not a valid row number") from None
                        row_counter = int(number)
                else:
                    row_counter += 1
                if "s" in row.attrib:  # openpyxl binds a row style: it must exist
                    _style_index(row.attrib["s"], n_styles)
                col = 0
                for c in row:
                    ref = c.get("r")
                    col, key = _position(ref, col, row_counter)
                    if key <= last_key:
                        ordered = False
                    last_key = key
                    s = c.get("s")
                    flag = 0
                    if s is not None:
                        flag = style_flags.get(s, -1)
                        if flag < 0:
                            flag = _style_flag(s, n_styles, dates, timedeltas)
                            style_flags[s] = flag
                    if not len(c):
                        cells.pop(key, None)
                        continue
                    t = c.get("t", "n")
                    v = f = inline = None
                    for child in c:
                        ctag = child.tag
                        if ctag == v_tag:
                            if v is None:
                                v = child
                        elif ctag == f_tag:
                            if f is None:
                                f = child
                        elif ctag == is_tag and inline is None:
                            inline = child
                    # the value (what openpyxl's data_only load holds)
                    value: Any
                    if t == "inlineStr":
                        value = _text(inline) if inline is not None else None
                    else:
                        value = _typed(t, v.text or None if v is not None else None, strings,
                                       flag, epoch)
                    if f is not None:
                        cells[key] = new_cell(value, _formula(f, ref, shared))
                    elif value is not None:
                        cells[key] = new_cell(value)
                    else:
                        cells.pop(key, None)
                row.clear()
                if len(cells) > limit:
                    raise TooManyCells(f"超过 {MAX_CELLS} 个单元格")
        parser.close()
        return cells, merges, links, ordered, None


# --- the small parts (the same bytes in every return of a template: parsed once) ---


def _content_types(raw: bytes) -> tuple[str, str | None]:
    """(workbook part, shared strings part or None) from [Content_Types].xml."""
    root = fromstring(raw)
    defaults: list[str] = []
    overrides: list[tuple[str, str]] = []
    for el in root:
        local = _local(el.tag)
        if local == "Default":
            ext, ctype = el.get("Extension"), el.get("ContentType")
            if ext is None or ctype is None:
                raise TypeError("expected <class 'str'>")
            defaults.append(ctype)
        elif local == "Override":
            part, ctype = el.get("PartName"), el.get("ContentType")
            if part is None or ctype is None:
                raise TypeError("expected <class 'str'>")
            overrides.append((part, ctype))
    by_type: dict[str, str] = {}
    for part, ctype in overrides:
        by_type.setdefault(ctype, part)
    workbook = next((by_type[ct] for ct in _CT_WORKBOOKS if ct in by_type), None)
    if workbook is None:
        if not defaults:  # openpyxl's default manifest has no workbook type either
            raise OSError("File contains no valid workbook part")
        if not set(defaults) & set(_CT_WORKBOOKS):
            raise OSError("File contains no valid workbook part")
        workbook = _DEFAULT_WORKBOOK_PART
    strings = by_type.get(_CT_SHARED_STRINGS)
    return workbook[1:], strings[1:] if strings is not None else None


def _workbook(raw: bytes) -> tuple[Any, tuple[tuple[str, str, str | None], ...]]:
    """(date epoch, (name, state, relationship id) of each sheet) from workbook.xml."""
    epoch = WINDOWS_EPOCH
    root = fromstring(raw)
    if root.tag.startswith("{") and root.tag[1:].startswith(STRICT_NAMESPACES):
        raise StrictOOXML(_STRICT_MESSAGE)
    sheets_el = props = None
    for el in root:  # openpyxl matches children by local name; the last one wins
        local = _local(el.tag)
        if local == "sheets":
            sheets_el = el
        elif local == "workbookPr":
            props = el
    if props is not None:
        flag = props.get("date1904")
        if flag is not None and flag not in ("false", "f", "0") and bool(flag):
            epoch = MAC_EPOCH
    sheets: list[tuple[str, str, str | None]] = []
    for el in sheets_el if sheets_el is not None else ():
        attrib = el.attrib
        if any(k[0] != "{" and k not in _SHEET_ATTRS for k in attrib):
            raise UnsupportedWorkbook("工作表声明含未知属性")
        name = attrib.get("name")
        if name is None:
            raise TypeError("expected <class 'str'>")
        sheet_id = attrib.get("sheetId")
        try:
            int(sheet_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError("expected <class 'int'>") from None
        for key in attrib:
            if key[0] == "{" and key != _RID and key[1:].startswith(STRICT_NAMESPACES):
                raise StrictOOXML(_STRICT_MESSAGE)
        rid = attrib[_RID] if _RID in attrib else attrib.get("id")
        state = attrib.get("state", "visible")
        sheets.append((name, state, rid))
    return epoch, tuple(sheets)


def _relationships(path: str, raw: bytes) -> tuple[tuple[str | None, _Rel], ...]:
    """The relationships of `path` (see `_Workbook.relationships`)."""
    root = fromstring(raw)
    folder = posixpath.dirname(path)
    parent = posixpath.split(folder)[0]
    found: list[tuple[str | None, _Rel]] = []
    for el in root:
        attrib = el.attrib
        if any(k[0] != "{" and k not in _REL_ATTRS for k in attrib):
            return ()
        type_ = attrib.get("Type")
        if attrib.get("type") is not None:
            type_ = f"{REL_NS}/{attrib['type']}"
        target = attrib.get("Target")
        if type_ is None or target is None:
            return ()
        if attrib.get("TargetMode") == "External":
            pass
        elif target.startswith("/"):
            target = target[1:]
        else:
            target = posixpath.normpath(posixpath.join(parent, target))
        found.append((attrib.get("Id"), _Rel(type_, target)))
    return tuple(found)


def _cached(key: tuple[Any, ...], parse: Callable[[], Any]) -> Any:
    """parse(), remembered by `key` (the part's bytes and what else the result depends on);
    failures are not remembered (each read raises them again)."""
    found = _PARTS.get(key)
    if found is None:
        found = parse()
        if sum(len(k) for k in key if isinstance(k, bytes)) <= _PART_BYTES:
            if len(_PARTS) >= 256:
                _PARTS.clear()
            _PARTS[key] = found
    return found


def _rels_path(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _chunks(raw: bytes) -> Iterator[bytes]:
    if len(raw) <= _FEED:
        yield raw
        return
    view = memoryview(raw)
    for at in range(0, len(raw), _FEED):
        yield bytes(view[at: at + _FEED])


def _style_flag(s: str, n_styles: int, dates: frozenset[int],
                timedeltas: frozenset[int]) -> int:
    """0 plain, 1 date, 2 timedelta, for a cell's `s` attribute; raises as openpyxl's
    `_cell_styles[style_id]` does for a style that does not exist."""
    if not s:
        raise TypeError("list indices must be integers or slices, not str")
    index = int(s)
    if not -n_styles <= index < n_styles:
        raise IndexError("list index out of range")
    if index in dates:
        return 2 if index in timedeltas else 1
    return 0


def _style_index(s: str, n_styles: int) -> int:
    """`_cell_styles[int(s)]` as openpyxl evaluates it for a row or column style."""
    index = int(s)
    if not -n_styles <= index < n_styles:
        raise IndexError("list index out of range")
    return index


def _check_col(min_: str | None, style: str | None, n_styles: int) -> None:
    """What openpyxl's parse_column_dimensions / bind_col_dimensions can fail on, given a
    col element's min and style attributes."""
    if min_ is None:
        raise KeyError("min")  # as openpyxl
    index = int(min_)  # ValueError, as openpyxl
    if not 1 <= index <= 18278:
        raise ValueError(f"Invalid column index {index}")
    if style is not None:
        _style_index(style, n_styles)


def _position(ref: str | None, col: int, row: int) -> tuple[int, tuple[int, int]]:
    """A cell's (1-based column, zero-based key): from its `r`, or next to the previous
    cell of its row when it has none (both parsing paths place cells this way)."""
    if ref:
        found = _coordinate(ref)  # (cached per address)
        return found[1], found[2]
    return col + 1, (row - 1, col)

def _typed(t: str, text: str | None, strings: list[str], flag: int, epoch: Any) -> Any:
    """A cell's value from its <v> text and type, as openpyxl's data_only load holds it
    (both the byte scan and the iterparse path use this, so they cannot differ)."""
    if text is None:
        return None
    if t == "n":
        value: Any = float(text) if "." in text or "E" in text or "e" in text else int(text)
        return _date(value, epoch, flag) if flag else value
    if t == "s":
        return strings[int(text)]
    if t == "b":
        return bool(int(text))
    if t == "d":
        return from_ISO8601(text)
    return text

def _date(value: int | float, epoch: Any, flag: int) -> Any:
    try:
        return from_excel(value, epoch, timedelta=flag == 2)
    except (OverflowError, ValueError):
        return "#VALUE!"


def _formula(f: Element, ref: str | None, shared: dict[str | None, Translator]) -> str:
    """The formula text without "=", as read_openpyxl derives it from WorkSheetParser."""
    return _formula_text(f.get("t"), f.get("si"), "ref" in f.attrib, f.text, ref, shared)


def _formula_text(kind: str | None, index: str | None, has_ref: bool, body: str | None,
                  ref: str | None, shared: dict[str | None, Translator]) -> str:
    """`_formula` given the f element's t, si, whether it has a ref, and its text."""
    text = "=" + body if body is not None else "="
    if kind is None:
        return text[1:]
    if kind == "shared":
        translator = shared.get(index)
        if translator is not None:
            return translator.translate_formula(ref).removeprefix("=")
        if text != "=":
            shared[index] = Translator(text, ref)
        return text[1:]
    if kind == "dataTable":
        if not has_ref:
            raise TypeError("DataTableFormula.__init__() missing 1 required positional "
                            "argument: 'ref'")
        return "TABLE()"
    return text[1:]  # "array" (ArrayFormula text) and any other kind


def _text(node: Element) -> str:
    """openpyxl's Text.from_tree(node).content: the plain text, then the text of each run;
    phonetic runs and properties left out (but checked as openpyxl checks them). Children
    are matched by local name, as openpyxl's Serialisable.from_tree matches them."""
    attrib = node.attrib
    if attrib and any(k[0] != "{" for k in attrib):
        raise UnsupportedWorkbook("文本单元格含未知属性")
    plain = None
    runs: list[str] = []
    for el in node:
        tag = el.tag
        local = _KNOWN.get(tag) or _local(tag)
        if local == "t":
            plain = el.text
        elif local == "r":
            if el.attrib and any(k[0] != "{" for k in el.attrib):
                raise UnsupportedWorkbook("富文本含未知属性")
            run = None
            for sub in el:
                sub_tag = sub.tag
                if sub_tag == _T:
                    run = sub.text
                elif sub_tag != _RPR:  # run fonts are not validated (see the module doc)
                    sub_local = _local(sub_tag)
                    if sub_local == "t":
                        run = sub.text
                    elif sub_local in _RUN_TRICKY:
                        raise UnsupportedWorkbook(f"富文本含未知元素 {sub_local}")
            if run is not None:
                runs.append(run)
        elif local == "rPh":
            _check_phonetic(el)
        elif local == "phoneticPr":
            _check_phonetic_pr(el)
        elif local in _TEXT_TRICKY:
            raise UnsupportedWorkbook(f"文本含未知元素 {local}")
    if not runs:
        return plain if plain is not None else ""
    return "".join([plain, *runs] if plain is not None else runs)


def _check_phonetic(el: Element) -> None:
    """PhoneticText.from_tree: sb and eb are required integers."""
    attrib = el.attrib
    if any(k[0] != "{" and k not in ("sb", "eb", "t") for k in attrib):
        raise UnsupportedWorkbook("拼音文本含未知属性")
    for sub in el:
        if _local(sub.tag) in _PHONETIC_TRICKY:
            raise UnsupportedWorkbook("拼音文本含未知元素")
    for name in ("sb", "eb"):
        try:
            int(attrib.get(name))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError("expected <class 'int'>") from None


def _check_phonetic_pr(el: Element) -> None:
    """PhoneticProperties.from_tree: fontId a required integer, type/alignment enumerated."""
    attrib = el.attrib
    if len(el) or any(k[0] != "{" and k not in ("fontId", "type", "alignment") for k in attrib):
        raise UnsupportedWorkbook("拼音属性含未知内容")
    try:
        int(attrib.get("fontId"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError("expected <class 'int'>") from None
    kind, align = attrib.get("type"), attrib.get("alignment")
    if (kind is not None and kind not in _PHONETIC_PR_TYPES) or (
            align is not None and align not in _PHONETIC_PR_ALIGN):
        raise ValueError("Value must be one of the phonetic property values")


def _merge_ref(el: Element) -> str:
    attrib = el.attrib
    if any(k[0] != "{" and k != "ref" for k in attrib):
        raise UnsupportedWorkbook("合并单元格含未知属性")
    if len(el):
        raise UnsupportedWorkbook("合并单元格含子元素")
    ref = attrib.get("ref")
    if ref is None:
        raise TypeError("CellRange needs a range string")
    return ref


def _link(el: Element) -> dict[str, str]:
    attrib = el.attrib
    if any(k[0] != "{" and k not in _LINK_ATTRS for k in attrib):
        raise UnsupportedWorkbook("超链接含未知属性")
    if len(el):
        raise UnsupportedWorkbook("超链接含子元素")
    if attrib.get("ref") is None:
        raise TypeError("expected <class 'str'>")
    link = {k: v for k, v in attrib.items() if k[0] != "{"}
    if _RID in attrib:
        link["id"] = attrib[_RID]
    return link


def _parse_styles(raw: bytes) -> tuple[int, frozenset[int], frozenset[int]]:
    """(number of cellXfs, indexes with a date format, indexes with a timedelta format),
    following openpyxl's Stylesheet._normalise_numbers."""
    root = fromstring(raw)
    num_fmts = cell_xfs = None
    for el in root:
        local = _local(el.tag)
        if local == "numFmts":
            num_fmts = el
        elif local == "cellXfs":
            cell_xfs = el
    custom: dict[int, str] = {}
    for el in num_fmts if num_fmts is not None else ():
        if _local(el.tag) != "numFmt":
            continue
        code = el.get("formatCode")
        try:
            fmt_id = int(el.get("numFmtId"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError("expected <class 'int'>") from None
        if code is None:
            raise TypeError("expected <class 'str'>")
        custom[fmt_id] = code
    dates, timedeltas = set(), set()
    count = 0
    for el in cell_xfs if cell_xfs is not None else ():
        if _local(el.tag) != "xf":
            continue
        try:
            fmt_id = int(el.get("numFmtId", 0))
        except (TypeError, ValueError):
            raise TypeError("expected <class 'int'>") from None
        fmt = custom[fmt_id] if fmt_id in custom else BUILTIN_FORMATS.get(fmt_id)
        if is_date_format(fmt):
            dates.add(count)
        if is_timedelta_format(fmt):
            timedeltas.add(count)
        count += 1
    return count, frozenset(dates), frozenset(timedeltas)


# --- the byte scan: worksheets and shared strings written the usual way ---------------------
#
# Excel, WPS, LibreOffice and xlsxwriter write a worksheet as: an XML declaration, the
# <worksheet> start tag with the namespace declarations, a few elements, <sheetData> holding
# <row>s of <c>s (each with <v>, <f> or <is><t>), then the elements after the data. Most of
# the bytes are outside the cells (data validations, conditional formats, page setup) and are
# the same in every return of one template; most cells are empty and styled. So:
#
# * the parts before and after the cell data ("frames", made into small documents of their
#   own) are parsed by ElementTree exactly as the whole worksheet would be (merged ranges,
#   hyperlinks and columns are read from them by the same code) and remembered by their
#   bytes: the next return of the template costs a dictionary look-up;
# * the cell data is decoded as UTF-8 and tokenised by one compiled regular expression that
#   matches only well-formed rows and cells (every attribute, reference and text checked by
#   the grammar; names, namespaces, characters and duplicate attributes checked besides),
#   and each token is interpreted as `parse_worksheet` interprets the element.
#
# Together the checks accept a worksheet only where the whole document is well-formed XML
# and iterparse would see the same elements: a frame that is broken or holds rows, comments,
# CDATA or processing instructions anywhere, a DOCTYPE, an encoding other than UTF-8, a
# namespace prefix or declaration inside the cell data, a prefix that is not declared, two
# prefixes for one namespace, characters XML does not allow, an unknown entity, a character
# reference to a character XML does not allow, text between cells, children of a cell other
# than <v>, <f> and an <is> holding at most one <t>, rich text, a cell outside a row: any of
# these (`_NotPlain`), and any exception at all, and the part is read by iterparse instead,
# from scratch, which gives today's result or raises today's error. The shared strings are
# scanned alike; a string that is not a plain <si><t>...</t></si> is parsed on its own
# (inside the part's root start tag, so with the same namespaces) by ElementTree.

_SCAN_MAX = 4 * 1024 * 1024  # larger parts are read by iterparse, in chunks
_FRAME_BYTES = 16 * 1024 * 1024  # frames remembered, in bytes of their documents


class _NotPlain(Exception):
    """The part is not written the way the scan reads: iterparse reads it."""


_S = "[ \t\r\n]"
_BAD = "\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"  # characters XML 1.0 does not allow
_XREF = "&(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);"
# character data: no "<", "&" only in a predefined entity or character reference, no "]]>",
# no character XML does not allow
_XTEXT = f"[^<&\\]{_BAD}]*+(?:(?:{_XREF}|\\](?!\\]>))[^<&\\]{_BAD}]*+)*+"
_XVALUE = (f'"[^"<&{_BAD}]*+(?:{_XREF}[^"<&{_BAD}]*+)*+"'
           f"|'[^'<&{_BAD}]*+(?:{_XREF}[^'<&{_BAD}]*+)*+'")
_XNAME = "[A-Za-z_][A-Za-z0-9_.-]*+(?::[A-Za-z_][A-Za-z0-9_.-]*+)?+"
_XATTRS = f"(?:{_S}++{_XNAME}{_S}*+={_S}*+(?:{_XVALUE}))*+"


def _children(group: Callable[[str], str]) -> str:
    """<v>, <f> and <is> (holding at most one <t>) as the scan accepts them in a cell."""
    v = f"<{group('v')}{group(_XATTRS)}{_S}*+(?:/>|>{group(_XTEXT)}</v{_S}*+>)"
    f = f"<{group('f')}{group(_XATTRS)}{_S}*+(?:/>|>{group(_XTEXT)}</f{_S}*+>)"
    inline = (f"<{group('is')}{group(_XATTRS)}{_S}*+(?:/>|>{_S}*+(?:<t{group(_XATTRS)}{_S}*+"
              f"(?:/>|>{group(_XTEXT)}</t{_S}*+>){_S}*+)?</is{_S}*+>)")
    return f"{_S}*+(?:{v}|{f}|{inline})"


# one child: 1 "v", 2 its attributes, 3 its text; 4 "f", 5, 6; 7 "is", 8, 9 <t>'s attributes,
# 10 <t>'s text
_CHILD = re.compile(_children(lambda x: f"({x})"))
_PLAIN = f'[^"&<\t\n\r{_BAD}]+'
_CANONICAL = f'(?: r="({_PLAIN})")?(?: s="({_PLAIN})")?(?: t="({_PLAIN})")?'
_EMPTY_CELL = '<c r="{0}"(?: s="{0}")?/>'  # a plain empty cell, {0} the value pattern
# one token of the cell data. A cell: 1 r, 2 s, 3 t (attributes written r, s, t, plainly) or
# 4 the attributes otherwise; 5 when it has no children, the plain empty cells right after
# it (most cells of a form are empty, styled: a run is one token), 6 the text of a plain <v>
# (no attributes, no references) when it is the only child, 7 the children otherwise (a
# cell with neither 6 nor 7 has no children or an empty <v>: the reading is the same).
# 8 a row's start or end tag; 9 anything else: all the rest (not plain). Each attempt is
# linear and a failed one ends the scan (white space at the end is taken off first: a match
# failing there would be tried again at each of its characters), so the scan is linear.
_TOKEN = re.compile(
    f"{_S}*+(?:"
    f"<c(?:{_CANONICAL}(?={_S}*+/?>)|({_XATTRS}))"
    f"{_S}*+(?:/>((?:{_EMPTY_CELL.format(_PLAIN)})*+)|>(?:<v>([^<&\\]{_BAD}]++)</v>"
    f"|((?:{_children(lambda x: f'(?:{x})')})*+{_S}*+))</c{_S}*+>)"
    f"|(<row{_XATTRS}{_S}*+/?>|</row{_S}*+>)"
    f"|([\\s\\S]+))")
# one token of the shared strings: 1 <t>'s attributes, 2 its text (a plain string); 3 any
# other <si> (parsed by ElementTree); 4 anything else: all the rest (not plain)
_SST_TOKEN = re.compile(
    f"{_S}*+(?:<si{_S}*+>{_S}*+<t({_XATTRS}){_S}*+(?:/>|>({_XTEXT})</t{_S}*+>){_S}*+</si{_S}*+>"
    f"|(<si{_XATTRS}{_S}*+/>|<si(?:{_S}[^>]*+)?>.*?</si{_S}*+>)"
    f"|([\\s\\S]+))", re.DOTALL)
_EMPTY_CELLS = re.compile(_EMPTY_CELL.format(f"({_PLAIN})"))  # (r, s) of each of a run
_ATTR = re.compile(f'({_XNAME}){_S}*+={_S}*+(?:"([^"]*)"|\'([^\']*)\')')
_PROLOG = re.compile(
    rb'(?:\xef\xbb\xbf)?(<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["\'])1\.0\2'
    rb'(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["\'])[Uu][Tt][Ff]-8\3)?'
    rb'(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["\'])(?:yes|no)\4)?[ \t\r\n]*\?>)?'
    rb"[ \t\r\n]*(<(worksheet|sst)(" + _XATTRS.encode() + rb")[ \t\r\n]*>)")
_SHEET_DATA_TAG = re.compile(rb"<sheetData(" + _XATTRS.encode() + rb")[ \t\r\n]*(/?)>")
_SST_END = re.compile(rb"</sst[ \t\r\n]*>[ \t\r\n]*")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_REFERENCE = re.compile("&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);")
_SHEET_DATA = f"{{{MAIN_NS}}}sheetData"

_FRAMES: dict[bytes, tuple[Any, ...] | None] = {}
_ATTRIBUTES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {}
_SHARED_CELL_CHARS = 64  # longer values get cells of their own
_REMEMBERED_CHARS = 4096  # longer runs of empty cells, attribute lists, rich strings: not kept
_INT_CELLS: dict[int, RawCell] = {}  # the cells of plain numbers and shared strings: shared
_STR_CELLS: dict[str, RawCell] = {}  # (exact types: only ints go in one, only strs in the other)
_FORMULA_CELLS: dict[tuple[str, str, frozenset[str]], RawCell] = {}  # (t, children, prefixes)
_RICH: dict[tuple[bytes, str], str] = {}  # (root start tag, <si>) -> its text: rich labels
_KNOWN_STRINGS: dict[bytes, dict[str, str]] = {}  # root start tag -> <si> but its end -> text
_RUNS: dict[str, tuple[tuple[tuple[int, int], ...], int, tuple[str, ...], bool]] = {}


def _int_cell(value: int, text: str) -> RawCell:
    """The cell of a whole number not met yet (written `text`), kept for the next returns
    unless its text is long."""
    cell = RawCell(value)
    if len(text) <= _SHARED_CELL_CHARS:
        _INT_CELLS[value] = cell
    return cell


def _empty_run(run: str) -> tuple[tuple[tuple[int, int], ...], int, tuple[str, ...], bool]:
    """(the keys, the last column, the styles, whether the keys increase) of a run of empty
    cells (see _TOKEN), remembered by its text."""
    keys = []
    col = 0
    styles = set()
    for ref, style in _EMPTY_CELLS.findall(run):
        found = _COORDS.get(ref)
        if found is None:
            found = _coordinate(ref)
        col = found[1]
        keys.append(found[2])
        if style:
            styles.add(style)
    increasing = all(a < b for a, b in itertools.pairwise(keys))
    result = (tuple(keys), col, tuple(sorted(styles)), increasing)
    if len(run) <= _REMEMBERED_CHARS:
        if len(_RUNS) >= _CACHE_MAX:
            _RUNS.clear()
        _RUNS[run] = result
    return result


def _reference(match: re.Match[str]) -> str:
    name = match.group(1)
    if name[0] != "#":
        return _ENTITIES[name]
    code = int(name[2:], 16) if name[1] == "x" else int(name[1:])
    if not (0x20 <= code <= 0xD7FF or code in (0x9, 0xA, 0xD) or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF):
        raise _NotPlain("a reference to a character XML does not allow")
    return chr(code)


def _text_value(text: str) -> str:
    """Character data as the parser gives it: line ends made "\\n", then references."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _references(text) if "&" in text else text


def _attribute_value(text: str) -> str:
    """An attribute value as the parser gives it: line ends, tabs and newlines made spaces,
    then references (a "&#10;" stays a newline)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\n", " ").replace("\t", " ")
    return _references(text) if "&" in text else text


def _references(text: str) -> str:
    """The references of text the grammar accepted replaced. Without character references,
    the five entities one after the other, "&amp;" last: no replacement can make a new
    reference ("&amp;lt;" holds no "&lt;"), so this is what the parser gives."""
    if "&#" in text:
        return _REFERENCE.sub(_reference, text)
    return (text.replace("&quot;", '"').replace("&gt;", ">").replace("&lt;", "<")
            .replace("&apos;", "'").replace("&amp;", "&"))


def _attributes(text: str, prefixes: frozenset[str]) -> dict[str, str]:
    """The attributes of a start tag the grammar accepted, by qualified name (unprefixed
    names are what ElementTree's attrib holds under the same key); raises _NotPlain for a
    namespace declaration, a prefix not declared on the root or sheetData, a duplicate.
    The dictionary returned is shared: not to be changed."""
    found = _ATTRIBUTES.get(text)
    if found is None:
        attrib: dict[str, str] = {}
        used = []
        for name, double, single in _ATTR.findall(text):
            if name in attrib or name == "xmlns" or name.startswith("xmlns:"):
                raise _NotPlain("a duplicate attribute or a namespace declaration")
            if ":" in name:
                used.append(name.partition(":")[0])
            value = double or single
            if "&" in value or "\t" in value or "\n" in value or "\r" in value:
                value = _attribute_value(value)
            attrib[name] = value
        found = (attrib, tuple(used))
        if len(text) <= _REMEMBERED_CHARS:
            if len(_ATTRIBUTES) >= _CACHE_MAX:
                _ATTRIBUTES.clear()
            _ATTRIBUTES[text] = found
    for prefix in found[1]:
        if prefix not in prefixes:
            raise _NotPlain(f"the prefix {prefix} is not declared")
    return found[0]


def _namespaces(attrs: bytes) -> dict[str, str]:
    """The namespace declarations among a start tag's attributes: prefix ("" for the
    default) -> URI; raises _NotPlain for a URI that is not written plainly."""
    found = {}
    for name, double, single in _ATTR.findall(attrs.decode("utf-8")):
        if name == "xmlns" or name.startswith("xmlns:"):
            uri = double or single
            if "&" in uri or "\t" in uri or "\n" in uri or "\r" in uri:
                raise _NotPlain("a namespace URI with references or white space")
            found[name[6:]] = uri
    return found


def _prefixes(namespaces: dict[str, str]) -> frozenset[str]:
    """The attribute prefixes usable in the scanned part; _NotPlain when two prefixes name
    one namespace (two attributes could then be the same one, which XML forbids)."""
    uris = [uri for prefix, uri in namespaces.items() if prefix]
    if len(set(uris)) != len(uris):
        raise _NotPlain("two prefixes for one namespace")
    return frozenset(prefix for prefix in namespaces if prefix) | {"xml"}


def _prolog(raw: bytes, root: bytes) -> re.Match[bytes]:
    """The XML declaration (if any: version 1.0, UTF-8) and the root start tag, which must
    be `root`, unprefixed, with nothing else before it (no DOCTYPE, comment or processing
    instruction: ElementTree would apply a DTD's attribute defaults, for one)."""
    found = _PROLOG.match(raw)
    if found is None or found.group(6) != root:
        raise _NotPlain("not the usual XML declaration and root")
    return found


def _frame(doc: bytes) -> tuple[Any, ...]:
    """(last merged ranges or None, last hyperlinks or None, ((min, style) of each col),
    number of sheetData elements) of a worksheet document without cell data, remembered by
    its bytes; _NotPlain when it holds rows; parse errors raise (not remembered)."""
    try:
        found = _FRAMES[doc]
    except KeyError:
        found = _parse_frame(doc)
        total = sum(map(len, _FRAMES)) + len(doc)
        while _FRAMES and total > _FRAME_BYTES:
            total -= len(oldest := next(iter(_FRAMES)))
            del _FRAMES[oldest]
        if len(doc) <= _FRAME_BYTES:
            _FRAMES[doc] = found
    if found is None:
        raise _NotPlain("rows outside the cell data")
    return found


def _parse_frame(doc: bytes) -> tuple[Any, ...] | None:
    """What `parse_worksheet` takes from the elements that are not rows, read the same way."""
    merges: list[str] | None = None
    links: list[dict[str, str]] | None = None
    cols: list[tuple[str | None, str | None]] = []
    sheet_data = 0
    parser = XMLPullParser(events=("end",))
    for chunk in _chunks(doc):
        parser.feed(chunk)
        for _, el in parser.read_events():
            tag = el.tag
            if tag == _ROW:
                return None
            if tag == _MERGE_CELLS:
                merges = [_merge_ref(sub) for sub in el if _local(sub.tag) == "mergeCell"]
                el.clear()
            elif tag == _HYPERLINKS:
                links = [_link(sub) for sub in el if _local(sub.tag) == "hyperlink"]
                el.clear()
            elif tag == _COL:
                cols.append((el.get("min"), el.get("style")))
                el.clear()
            elif tag == _SHEET_DATA:
                sheet_data += 1
            elif tag in _DROP:
                el.clear()
    parser.close()
    return merges, links, tuple(cols), sheet_data


def _split_sheet(raw: bytes) -> tuple[bytes, str, bytes, frozenset[str]]:
    """(the document before the cell data, the cell data as text, the document after it,
    the attribute prefixes declared for the cell data).

    The split is at the first "<sheetData" and the first "</sheetData" after it. The two
    documents are parsed by ElementTree (`_frame`): the one before must end inside exactly
    the root and this sheetData, the only one in the main namespace there (a split inside a
    comment, CDATA or processing instruction would leave it unterminated: "<" is markup
    wherever else it appears in well-formed XML), and the one after must close them; the
    cell data between is checked by the scan's grammar. Comments and processing
    instructions in either document are read as in the whole part."""
    prolog = _prolog(raw, b"worksheet")
    at = raw.find(b"<sheetData")
    if at < 0:
        raise _NotPlain("no sheetData")
    tag = _SHEET_DATA_TAG.match(raw, at)
    if tag is None or tag.group(2):
        raise _NotPlain("no cell data")
    start = tag.end()
    end = raw.find(b"</sheetData", start)
    if end < 0:
        raise _NotPlain("no end of the cell data")
    content = raw[start:end].decode("utf-8").rstrip(" \t\r\n")
    outer, inner = prolog.group(7), tag.group(1)
    prefixes = _cached(("prefixes", outer, inner),
                       lambda: _prefixes({**_namespaces(outer), **_namespaces(inner)}))
    head = raw[:start] + b"</sheetData></worksheet>"
    tail = prolog.group(5) + b"<sheetData>" + raw[end:]
    return head, content, tail, prefixes


def _scan_strings(raw: bytes) -> list[str]:
    """The shared strings by the byte scan (see above); raises _NotPlain or any error."""
    prolog = _prolog(raw, b"sst")
    head = raw[:prolog.end()]
    prefixes = _cached(("sst", head), lambda: _strings_head(head, prolog.group(7)))
    end = raw.rfind(b"</sst")
    if end < prolog.end() or not _SST_END.fullmatch(raw, end):
        raise _NotPlain("not the usual end")
    body = raw[prolog.end():end].decode("utf-8").rstrip(" \t\r\n")
    root = prolog.group(5)
    known = _known_strings(body, prefixes, root)
    if known is not None:
        return known
    strings: list[str] = []
    append = strings.append
    others: list[tuple[int, str]] = []  # (index, <si>) of the strings not plain
    for attrs, text, other, wrong in _SST_TOKEN.findall(body):
        if wrong:
            raise _NotPlain("not a string")
        if other:
            found = _RICH.get((root, other))
            if found is None:
                others.append((len(strings), other))
            text = found or ""
        else:
            if attrs:
                _attributes(attrs, prefixes)
            if "&" in text or "\r" in text:
                text = _text_value(text)
        append(text.replace("x005F_", "") if "x005F_" in text else text)
    if others:
        for (index, xml), text in zip(others, _other_strings(root, others), strict=True):
            if len(xml) <= _REMEMBERED_CHARS:
                if len(_RICH) >= 1024:
                    _RICH.clear()
                _RICH[(root, xml)] = text
            strings[index] = text.replace("x005F_", "") if "x005F_" in text else text
    return strings


def _known_strings(body: str, prefixes: frozenset[str], root: bytes) -> list[str] | None:
    """The strings of `body` looked up by their text (all at once: most are the template's
    labels, checked by the grammar once and then remembered, rich ones once parsed, see
    _RICH). None when one is new and not plain: the token scan reads all."""
    pieces = body.split("</si>")
    if pieces.pop():
        return None  # something after the last string
    known = _KNOWN_STRINGS.get(root)
    if known is None:
        if len(_KNOWN_STRINGS) >= 16:
            _KNOWN_STRINGS.clear()
        known = _KNOWN_STRINGS[root] = {}
    strings = list(map(known.get, pieces))
    if None not in strings:
        return strings  # type: ignore[return-value]
    for i, piece in enumerate(pieces):
        if strings[i] is not None:
            continue
        token = _SST_TOKEN.fullmatch(piece + "</si>")
        if token is None or token.group(4) is not None:
            return None
        attrs, text, other = token.group(1), token.group(2) or "", token.group(3)
        if other is not None:
            text = _RICH.get((root, other))
            if text is None:
                return None
        else:
            if attrs:
                _attributes(attrs, prefixes)
            if "&" in text or "\r" in text:
                text = _text_value(text)
        if "x005F_" in text:
            text = text.replace("x005F_", "")
        if len(piece) <= _REMEMBERED_CHARS:
            if len(known) >= _CACHE_MAX:
                known.clear()
            known[piece] = text
        strings[i] = text
    return strings  # type: ignore[return-value]


def _strings_head(head: bytes, attrs: bytes) -> frozenset[str]:
    """The attribute prefixes declared on the root of a shared strings part whose prolog
    and root start tag are `head`: well-formed (parsed), the default namespace the main."""
    fromstring(head + b"</sst>")
    namespaces = _namespaces(attrs)
    if namespaces.get("") != MAIN_NS:
        raise _NotPlain("the strings are not in the main namespace")
    return _prefixes(namespaces)


def _other_strings(root: bytes, others: list[tuple[int, str]]) -> list[str]:
    """The strings that are not a plain <si><t>...</t></si>, parsed in one document inside
    the root start tag (so with the same namespaces), each read as `parse_strings` reads
    it (without the "x005F_" removal)."""
    xml = "".join(other for _, other in others)
    wrapper = fromstring(root + xml.encode("utf-8") + b"</sst>")
    if len(wrapper) != len(others):
        raise _NotPlain("not one string each")
    texts = []
    for el in wrapper:
        if el.tag != _SI or any(sub.tag == _SI for sub in el.iter() if sub is not el):
            raise _NotPlain("not a string, or a string inside a string")
        if len(el) == 1 and not el.attrib and el[0].tag == _T and not len(el[0]):
            texts.append(el[0].text or "")
        else:
            texts.append(_text(el))
    return texts


_COVERED_MAX = 4096  # cells of merged ranges remembered (far below _MERGE_WORK)
_COVERED: dict[tuple[tuple[int, int, int, int], ...], tuple[tuple[int, int], ...] | None] = {}


def _covered(merges: tuple[tuple[int, int, int, int], ...]) -> tuple[tuple[int, int], ...] | None:
    """The cells merged ranges empty (all but each top-left), remembered (the same ranges
    in every return of a template); None when they cover more than _COVERED_MAX cells."""
    found = _COVERED.get(merges, _COVERED)  # (the dictionary itself: not yet known)
    if found is _COVERED:
        area = sum((r2 - r1 + 1) * (c2 - c1 + 1) for r1, c1, r2, c2 in merges)
        found = None if area > _COVERED_MAX else tuple(
            (row, col) for r1, c1, r2, c2 in merges
            for row in range(r1 - 1, r2) for col in range(c1 - 1, c2)
            if row != r1 - 1 or col != c1 - 1)
        if len(_COVERED) >= 64:
            _COVERED.clear()
        _COVERED[merges] = found
    return found


# --- what openpyxl does to a sheet after its cells: merged ranges, hyperlinks ---------------


class _Sheet:
    def __init__(self, book: _Workbook, part: str, cells: dict[tuple[int, int], RawCell],
                 merges: list[str], links: list[dict[str, str]]) -> None:
        self.book, self.part, self.cells = book, part, cells
        self.merges = [_merge_bounds(ref) for ref in merges]
        self.links = links
        self.work = 0

    def spend(self, amount: int) -> None:
        self.work += amount
        if self.work > _MERGE_WORK:
            raise TooManyCells("合并单元格或超链接覆盖的单元格过多")

    def finish(self) -> dict[tuple[int, int], RawCell]:
        cells = self.cells
        if not self.links:  # (hyperlinks would spend work after the merges: counted below)
            covered = _covered(tuple(self.merges))
            if covered is not None:
                for key in covered:
                    if key in cells:
                        del cells[key]
                return cells
        for r1, c1, r2, c2 in self.merges:  # every cell but the top-left becomes empty
            area = (r2 - r1 + 1) * (c2 - c1 + 1)
            if area == 1:
                continue
            if area <= len(cells):
                self.spend(area)
                for row in range(r1 - 1, r2):
                    for col in range(c1 - 1, c2):
                        if (row != r1 - 1 or col != c1 - 1) and (row, col) in cells:
                            del cells[(row, col)]
            else:
                self.spend(len(cells))
                for row, col in [k for k in cells if r1 - 1 <= k[0] < r2 and c1 - 1 <= k[1] < c2]:
                    if row != r1 - 1 or col != c1 - 1:
                        del cells[(row, col)]
        if self.links:
            self.hyperlinks()
        return cells

    def containing(self, row: int, col: int) -> list[tuple[int, int, int, int]]:
        """The merged ranges holding 1-based (row, col)."""
        self.spend(len(self.merges))
        return [m for m in self.merges if m[0] <= row <= m[2] and m[1] <= col <= m[3]]

    def covered(self, row: int, col: int) -> bool:
        return any((row, col) != (m[0], m[1]) for m in self.containing(row, col))

    def hyperlinks(self) -> None:
        rels: dict[str | None, _Rel] | None = None
        for link in self.links:
            target = link.get("target")
            rid = link.get("id")
            if rid:
                if rels is None:  # RelationshipList.get(): the first of an Id wins
                    path = _rels_path(self.part)
                    found = self.book.relationships(path) if path in self.book.names else []
                    rels = {}
                    for key, rel in found:
                        rels.setdefault(key, rel)
                if rid not in rels:
                    raise KeyError(f"Unknown relationship: {rid}")
                target = rels[rid].target
            value = target or link.get("location")
            ref = link["ref"]
            if ":" in ref:
                first, _, last = ref.partition(":")
                if not (_CELL_REF.fullmatch(first) and _CELL_REF.fullmatch(last)):
                    raise UnsupportedWorkbook(f"超链接范围 {ref}")
                min_col, min_row, max_col, max_row = range_boundaries(ref)
                if min_row < 1 or max_row < 1:  # iter_rows would read 0 as "from 1"/"to max"
                    raise UnsupportedWorkbook(f"超链接范围 {ref}")
                if value is None or min_row > max_row or min_col > max_col:
                    continue  # nothing to set (an empty range yields no cells)
                self.spend((max_row - min_row + 1) * (max_col - min_col + 1))
                for row in range(min_row, max_row + 1):
                    for col in range(min_col, max_col + 1):
                        if not self.covered(row, col):
                            self.set_link(row, col, value)
            else:
                if not _CELL_REF.fullmatch(ref):
                    raise UnsupportedWorkbook(f"超链接位置 {ref}")
                col, row, _, _ = range_boundaries(ref)
                if not 0 < row < 1048577:
                    raise ValueError("Row numbers must be between 1 and 1048576. "
                                     f"Row number supplied was {row}")
                if self.covered(row, col):
                    ranges = self.containing(row, col)
                    if len(ranges) != 1:
                        raise UnsupportedWorkbook("超链接指向重叠的合并单元格")
                    row, col = ranges[0][0], ranges[0][1]
                if value is not None:
                    self.set_link(row, col, value)

    def set_link(self, row: int, col: int, value: str) -> None:
        """Cell.hyperlink's setter: an empty cell takes the link's target as its value."""
        key = (row - 1, col - 1)
        cell = self.cells.get(key)
        value = value[:_STRING_MAX]
        if cell is None:
            formula = value[1:] if len(value) > 1 and value.startswith("=") else None
            self.cells[key] = RawCell(value, formula)
        elif cell.value is None:  # a formula without a cached result
            self.cells[key] = RawCell(value, cell.formula)
