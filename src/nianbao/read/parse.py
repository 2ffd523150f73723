"""The iterparse path: any worksheet, shared strings part or frame read by the C parser
behind `xml.etree.ElementTree` (XMLPullParser, elements cleared as they are used), as
openpyxl's WorkSheetParser reads it. Parts the byte scan does not recognise as plain, or
on which it meets anything unexpected, are read here from scratch."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import XMLPullParser

from openpyxl.formula.translate import Translator

from nianbao.read.book import Book
from nianbao.read.cells import (
    check_col,
    formula,
    link,
    merge_ref,
    position,
    rich_text,
    style_flag,
    style_index,
    typed,
)
from nianbao.read.ooxml import (
    COL,
    DROP,
    HYPERLINKS,
    IS,
    MERGE_CELLS,
    ROW,
    SHEET_DATA,
    SI,
    F,
    T,
    V,
    chunks,
    local_name,
)
from nianbao.read.openpyxl_reader import TooManyCells
from nianbao.read.rawbook import RawCell

Key = tuple[int, int]
# What a worksheet read gives before merged ranges and hyperlinks are applied: the cells, the
# merged ranges and hyperlinks (the last of each element, or None), whether cells are in order
# and, from the byte scan, where shared strings went (see remembered_rows.py).
SheetParts = tuple[dict[Key, RawCell], list[str] | None, list[dict[str, str]] | None, bool,
                   list[tuple[Key, int]] | None]


def parse_strings(raw: bytes) -> list[str]:
    """The shared strings read with iterparse, element by element: any part."""
    strings: list[str] = []
    append = strings.append
    parser = XMLPullParser(events=("end",))
    si_tag, t_tag = SI, T
    for chunk in chunks(raw):
        parser.feed(chunk)
        for _, el in parser.read_events():
            if el.tag != si_tag:
                continue
            if len(el) == 1 and not el.attrib and el[0].tag == t_tag and not len(el[0]):
                text = el[0].text or ""
            else:
                text = rich_text(el)
            el.clear()
            append(text.replace("x005F_", "") if "x005F_" in text else text)
    parser.close()
    return strings



def parse_worksheet(book: Book, raw: bytes) -> SheetParts:
    """A worksheet read with iterparse, element by element: any worksheet."""
    cells: dict[tuple[int, int], RawCell] = {}
    strings, epoch = book.strings, book.epoch
    n_styles, dates, timedeltas = book.n_styles, book.date_styles, book.timedelta_styles
    style_flags: dict[str, int] = {}  # s attribute -> 0 plain, 1 date, 2 timedelta
    shared: dict[str | None, Translator] = {}
    merges: list[str] | None = None
    links: list[dict[str, str]] | None = None
    row_counter = 0
    last_key = (-(1 << 62), 0)
    ordered = True
    limit = book.max_cells - book.count
    row_tag, v_tag, f_tag, is_tag = ROW, V, F, IS
    merge_tag, links_tag, col_tag, drop = MERGE_CELLS, HYPERLINKS, COL, DROP
    new_cell = RawCell
    coords = book.cache.coords

    parser = XMLPullParser(events=("end",))
    for chunk in chunks(raw):
        parser.feed(chunk)
        for _, row in parser.read_events():
            tag = row.tag
            if tag != row_tag:
                if tag == merge_tag:
                    merges = [merge_ref(el) for el in row if local_name(el.tag) == "mergeCell"]
                    row.clear()
                elif tag == links_tag:
                    links = [link(el) for el in row if local_name(el.tag) == "hyperlink"]
                    row.clear()
                elif tag == col_tag:
                    check_col(row.get("min"), row.get("style"), n_styles)
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
                style_index(row.attrib["s"], n_styles)
            col = 0
            for c in row:
                ref = c.get("r")
                col, key = position(ref, col, row_counter, coords)
                if key <= last_key:
                    ordered = False
                last_key = key
                s = c.get("s")
                flag = 0
                if s is not None:
                    flag = style_flags.get(s, -1)
                    if flag < 0:
                        flag = style_flag(s, n_styles, dates, timedeltas)
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
                    value = rich_text(inline) if inline is not None else None
                else:
                    value = typed(t, v.text or None if v is not None else None, strings,
                                   flag, epoch)
                if f is not None:
                    cells[key] = new_cell(value, formula(f, ref, shared))
                elif value is not None:
                    cells[key] = new_cell(value)
                else:
                    cells.pop(key, None)
            row.clear()
            if len(cells) > limit:
                raise TooManyCells(f"超过 {book.max_cells} 个单元格")
    parser.close()
    return cells, merges, links, ordered, None


# --- the small parts (the same bytes in every return of a template: parsed once) ---


def parse_frame(doc: bytes) -> tuple[Any, ...] | None:
    """What `parse_worksheet` takes from the elements that are not rows, read the same way."""
    merges: list[str] | None = None
    links: list[dict[str, str]] | None = None
    cols: list[tuple[str | None, str | None]] = []
    sheet_data = 0
    parser = XMLPullParser(events=("end",))
    for chunk in chunks(doc):
        parser.feed(chunk)
        for _, el in parser.read_events():
            tag = el.tag
            if tag == ROW:
                return None
            if tag == MERGE_CELLS:
                merges = [merge_ref(sub) for sub in el if local_name(sub.tag) == "mergeCell"]
                el.clear()
            elif tag == HYPERLINKS:
                links = [link(sub) for sub in el if local_name(sub.tag) == "hyperlink"]
                el.clear()
            elif tag == COL:
                cols.append((el.get("min"), el.get("style")))
                el.clear()
            elif tag == SHEET_DATA:
                sheet_data += 1
            elif tag in DROP:
                el.clear()
    parser.close()
    return merges, links, tuple(cols), sheet_data
