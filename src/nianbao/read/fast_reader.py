"""The fast reader: one pass over a workbook's XML with the standard library.

`read_fast(data)` gives exactly the `RawWorkbook` that `read_openpyxl(data)` gives (the same
sheets in the same order, the same states, the same cells in the same order with values of
the same Python types), 10-30 times faster: each member needed is inflated once and parsed
once by the C parser behind `xml.etree.ElementTree` (XMLPullParser, elements cleared as they
are used), and nothing is built that is not returned. `read_auto(data)` is what `check` and
`collect` should call.

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
import posixpath
import re
import zipfile
from collections.abc import Iterator
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


def read_auto(data: bytes) -> RawWorkbook:
    """The fast reader, or the reference reader for a workbook the fast one does not know.

    Falls back to `read_openpyxl` only on `UnsupportedWorkbook`: chartsheets, duplicate
    sheet names, and markup that no spreadsheet application writes but that openpyxl would
    read in its own way, so that the result is still exactly openpyxl's. Every other
    exception propagates: a broken file (falling back would only be slower, and for a
    hostile file much slower), `TooManyCells`, and `StrictOOXML`, which openpyxl does not
    read either (it returns a workbook without sheets): the clear error is the better
    finding.
    """
    try:
        return read_fast(data)
    except UnsupportedWorkbook:
        return read_openpyxl(data)


def read_fast(data: bytes) -> RawWorkbook:
    """Read the sheets, their states and every stored cell, as `read_openpyxl` does."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return _Workbook(archive).read()


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
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.names = set(archive.namelist())
        self.strings: list[str] = []
        self.epoch = WINDOWS_EPOCH
        self.n_styles = 1  # openpyxl's default: one style, no dates
        self.date_styles: frozenset[int] = frozenset()
        self.timedelta_styles: frozenset[int] = frozenset()
        self.count = 0

    def member(self, name: str) -> bytes:
        info = self.archive.getinfo(name)  # KeyError when missing, as openpyxl
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(f"部件 {name} 解压后 {info.file_size} 字节，超过上限 "
                             f"{MAX_MEMBER_BYTES} 字节")
        return self.archive.read(info)

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
        root = fromstring(self.member("[Content_Types].xml"))
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

    def workbook(self, part: str) -> list[tuple[str, str, str | None]]:
        """(name, state, relationship id) of each sheet; sets the date epoch."""
        root = fromstring(self.member(part))
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
                self.epoch = MAC_EPOCH
        sheets = []
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
        return sheets

    def relationships(self, path: str) -> list[tuple[str | None, _Rel]]:
        """(Id, relationship) in order, targets made absolute as openpyxl's get_dependents
        makes them; no relationships at all when one is invalid (openpyxl warns)."""
        root = fromstring(self.member(path))
        folder = posixpath.dirname(path)
        parent = posixpath.split(folder)[0]
        found: list[tuple[str | None, _Rel]] = []
        for el in root:
            attrib = el.attrib
            if any(k[0] != "{" and k not in _REL_ATTRS for k in attrib):
                return []
            type_ = attrib.get("Type")
            if attrib.get("type") is not None:
                type_ = f"{REL_NS}/{attrib['type']}"
            target = attrib.get("Target")
            if type_ is None or target is None:
                return []
            if attrib.get("TargetMode") == "External":
                pass
            elif target.startswith("/"):
                target = target[1:]
            else:
                target = posixpath.normpath(posixpath.join(parent, target))
            found.append((attrib.get("Id"), _Rel(type_, target)))
        return found

    def styles(self) -> None:
        """Which cell styles (cellXfs indexes) hold a date or time format."""
        if _STYLES_PART not in self.names:
            return
        raw = self.member(_STYLES_PART)
        found = _STYLES.get(raw)
        if found is None:
            found = _parse_styles(raw)
            if len(_STYLES) >= 64:
                _STYLES.clear()
            _STYLES[raw] = found
        if found[0]:
            self.n_styles, self.date_styles, self.timedelta_styles = found

    def shared_strings(self, raw: bytes) -> list[str]:
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
        raw = self.member(part)
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
        coords = _COORDS
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
                        _check_col(row, n_styles)
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
                    if ref:
                        found = coords.get(ref)
                        if found is None:
                            found = _coordinate(ref)
                        col = found[1]
                        key = found[2]
                    else:
                        col += 1
                        key = (row_counter - 1, col - 1)
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
                    value: Any = None
                    if t == "inlineStr":
                        if inline is not None:
                            value = _text(inline)
                    elif v is not None:
                        value = v.text or None
                        if value is not None:
                            if t == "n":
                                if "." in value or "E" in value or "e" in value:
                                    value = float(value)
                                else:
                                    value = int(value)
                                if flag:
                                    value = _date(value, epoch, flag)
                            elif t == "s":
                                value = strings[int(value)]
                            elif t == "b":
                                value = bool(int(value))
                            elif t == "d":
                                value = from_ISO8601(value)
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

        if merges or links:
            cells = _Sheet(self, part, cells, merges or [], links or []).finish()
            ordered = ordered and not links  # merges only take cells away
        if not ordered:
            cells = dict(sorted(cells.items()))
        self.count += len(cells)
        if self.count > MAX_CELLS:
            raise TooManyCells(f"超过 {MAX_CELLS} 个单元格")
        return cells


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


def _check_col(el: Element, n_styles: int) -> None:
    """What openpyxl's parse_column_dimensions / bind_col_dimensions can fail on."""
    index = int(el.attrib["min"])  # KeyError / ValueError, as openpyxl
    if not 1 <= index <= 18278:
        raise ValueError(f"Invalid column index {index}")
    if "style" in el.attrib:
        _style_index(el.attrib["style"], n_styles)


def _date(value: int | float, epoch: Any, flag: int) -> Any:
    try:
        return from_excel(value, epoch, timedelta=flag == 2)
    except (OverflowError, ValueError):
        return "#VALUE!"


def _formula(f: Element, ref: str | None, shared: dict[str | None, Translator]) -> str:
    """The formula text without "=", as read_openpyxl derives it from WorkSheetParser."""
    kind = f.get("t")
    text = "=" + f.text if f.text is not None else "="
    if kind is None:
        return text[1:]
    if kind == "shared":
        index = f.get("si")
        translator = shared.get(index)
        if translator is not None:
            return translator.translate_formula(ref).removeprefix("=")
        if text != "=":
            shared[index] = Translator(text, ref)
        return text[1:]
    if kind == "dataTable":
        if "ref" not in f.attrib:
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
