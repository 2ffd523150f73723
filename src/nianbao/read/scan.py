"""The byte scan of a worksheet (see grammar.py): its frames split off and looked up, its
cell data tokenised and each token read as `parse.parse_worksheet` reads the element."""

from __future__ import annotations

import itertools
from typing import Any

from openpyxl.formula.translate import Translator

from nianbao.read import parse
from nianbao.read.book import Book
from nianbao.read.cache import Memo
from nianbao.read.cells import check_col, coordinate, formula_text, style_flag, style_index, typed
from nianbao.read.grammar import (
    CHILD,
    EMPTY_CELLS,
    REMEMBERED_CHARS,
    SHEET_DATA_TAG,
    TOKEN,
    attributes,
    namespaces,
    prefixes,
    prolog,
    text_value,
)
from nianbao.read.ooxml import NotPlain
from nianbao.read.package import cached
from nianbao.read.rawbook import RawCell

Key = tuple[int, int]
SHARED_CELL_CHARS = 64  # longer values get cells of their own
_MISSING = object()


# -- frames -----------------------------------------------------------------------------------


def frame(doc: bytes, frames: Memo) -> tuple[Any, ...]:
    """(last merged ranges or None, last hyperlinks or None, ((min, style) of each col),
    number of sheetData elements) of a worksheet document without cell data, remembered by
    its bytes in `frames`; NotPlain when it holds rows; parse errors raise (not kept)."""
    found = frames.find(doc, _MISSING)
    if found is _MISSING:
        found = parse.parse_frame(doc)
        frames.keep(doc, found, len(doc))
    if found is None:
        raise NotPlain("rows outside the cell data")
    return found


def split_sheet(raw: bytes, parts: Memo) -> tuple[bytes, str, bytes, frozenset[str]]:
    """(the document before the cell data, the cell data as text, the document after it,
    the attribute prefixes declared for the cell data).

    The split is at the first "<sheetData" and the first "</sheetData" after it. The two
    documents are parsed by ElementTree (`frame`): the one before must end inside exactly
    the root and this sheetData, the only one in the main namespace there (a split inside a
    comment, CDATA or processing instruction would leave it unterminated: "<" is markup
    wherever else it appears in well-formed XML), and the one after must close them; the
    cell data between is checked by the scan's grammar. Comments and processing
    instructions in either document are read as in the whole part."""
    found = prolog(raw, b"worksheet")
    at = raw.find(b"<sheetData")
    if at < 0:
        raise NotPlain("no sheetData")
    tag = SHEET_DATA_TAG.match(raw, at)
    if tag is None or tag.group(2):
        raise NotPlain("no cell data")
    start = tag.end()
    end = raw.find(b"</sheetData", start)
    if end < 0:
        raise NotPlain("no end of the cell data")
    content = raw[start:end].decode("utf-8").rstrip(" \t\r\n")
    outer, inner = found.group(7), tag.group(1)
    declared = cached(parts, ("prefixes", outer, inner),
                      lambda: prefixes({**namespaces(outer), **namespaces(inner)}))
    head = raw[:start] + b"</sheetData></worksheet>"
    tail = found.group(5) + b"<sheetData>" + raw[end:]
    return head, content, tail, declared


def scan_frames(book: Book, raw: bytes
                ) -> tuple[str, frozenset[str], list[str] | None, list[dict[str, str]] | None]:
    """(the cell data, its prefixes, the merged ranges, the hyperlinks) of a worksheet
    written the usual way; NotPlain (or any error) otherwise."""
    head, content, tail, declared = split_sheet(raw, book.cache.parts)
    first, last = frame(head, book.cache.frames), frame(tail, book.cache.frames)
    if first[3] != 1:  # the cell data split at is the worksheet's, in the main namespace
        raise NotPlain("the cell data is not in the main namespace")
    for min_, style in first[2] + last[2]:
        check_col(min_, style, book.n_styles)
    merges = last[0] if last[0] is not None else first[0]
    links = last[1] if last[1] is not None else first[1]
    return content, declared, merges, links


# -- the cell data ----------------------------------------------------------------------------


def scan_tokens(book: Book, content: str, declared: frozenset[str],
                holes: list[tuple[Key, int]] | None = None
                ) -> tuple[dict[Key, RawCell], bool, bool, bool]:
    """The cells of the cell data, token by token; (cells, whether in order, whether
    free of what went before: every row numbered and no shared formula, whether
    another return may reuse them: free, and no shared string but in `holes`)."""
    cache = book.cache
    cells: dict[Key, RawCell] = {}
    free = keep = True
    strings, epoch = book.strings, book.epoch
    n_styles, dates, timedeltas = book.n_styles, book.date_styles, book.timedelta_styles
    style_flags: dict[str, int] = {}
    shared: dict[str | None, Translator] = {}
    row_counter = col = 0
    last_key = (-(1 << 62), 0)
    ordered, in_row = True, False
    limit = book.max_cells - book.count
    new_cell, pop, memo = RawCell, cells.pop, cache.attributes
    int_cells, str_cells, coords = cache.int_cells, cache.str_cells, cache.coords
    formula_cells = cache.formula_cells
    for r, s, t, attrs, run, v_text, children, tag, wrong in TOKEN.findall(content):
        if tag or wrong:
            in_row, row_counter, numbered = _row_tag(tag, wrong, in_row, declared, memo,
                                                     n_styles, row_counter)
            free = free and numbered
            col = 0
            if not in_row and len(cells) > limit:
                raise NotPlain("too many cells")  # (iterparse raises TooManyCells)
            continue
        # -- a cell --
        if not in_row:
            raise NotPlain("a cell outside a row")
        if attrs:
            attrib = attributes(attrs, declared, memo)
            ref, style, t = attrib.get("r"), attrib.get("s"), attrib.get("t", "n")
        else:
            ref, style, t = r or None, s or None, t or "n"
        if ref:  # cells.position, inlined: this runs for every cell of every return
            found_at = coords.get(ref) or coordinate(ref, coords)
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
                flag = style_flags[style] = style_flag(style, n_styles, dates, timedeltas)
        if v_text:  # one <v>, plain: the value (what openpyxl's data_only load holds)
            if "\r" in v_text:
                v_text = text_value(v_text)
            if t == "s":
                index = int(v_text)
                value = strings[index]
                if holes is not None:
                    holes.append((key, index))
                cell = str_cells.get(value)  # cells are immutable: one for each string
                if cell is None:
                    cell = new_cell(value)
                    if len(value) <= SHARED_CELL_CHARS:
                        str_cells.keep(value, cell)
                cells[key] = cell
            elif t == "n" and not flag and "." not in v_text and "E" not in v_text \
                    and "e" not in v_text:
                value = int(v_text)  # (floats are not shared: 0.0 == -0.0)
                cells[key] = int_cells.get(value) or int_cell(int_cells, value, v_text)
            elif t == "inlineStr":  # (its text is in <is>)
                pop(key, None)
            else:
                cells[key] = new_cell(typed(t, v_text, strings, flag, epoch))
            continue
        if "<" not in children:  # no children, or only an empty <v>
            if not ordered:  # (in order, no cell is at or after this one yet)
                pop(key, None)
            if run:  # the empty cells after it: as one, the same in every return
                col, last_key, ordered = _empty_run(book, run, style_flags, cells, last_key,
                                                    ordered)
            continue
        # a plain formula with its result: the same text gives the same cell in every
        # return (labels' totals, checks at 0), whatever the file's strings and dates
        formula_key = (t, children, declared) if not flag and t != "s" else None
        if formula_key is not None:
            found_cell = formula_cells.get(formula_key)
            if found_cell is not None:
                cells[key] = found_cell
                continue
        string, shared_formula = _cell_with_children(book, cells, key, ref, t, flag, children,
                                                     declared, shared, formula_key)
        keep = keep and not string
        free = free and not shared_formula
    if in_row:
        raise NotPlain("a row without its end")
    return cells, ordered, free, keep and free


def _row_tag(tag: str, wrong: str, in_row: bool, declared: frozenset[str], memo: Memo,
             n_styles: int, row_counter: int) -> tuple[bool, int, bool]:
    """(whether in a row after it, the row's number, whether it was numbered) of a row's
    start or end tag met `in_row` or not, after the row numbered `row_counter`; NotPlain
    for anything else (`wrong`) or a row out of place."""
    if wrong:
        raise NotPlain(f"not a row or cell: {wrong[:40]!r}")
    if tag[1] == "/":  # </row>
        if not in_row:
            raise NotPlain("the end of a row not begun")
        return False, row_counter, True
    if in_row:
        raise NotPlain("a row inside a row")
    row_attrs = tag[4:-1].rstrip(" \t\r\n")
    in_row = not row_attrs.endswith("/")
    if not in_row:
        row_attrs = row_attrs[:-1]
    attrib = attributes(row_attrs, declared, memo) if row_attrs else {}
    number = attrib.get("r")
    if number is not None:
        try:
            row_counter = int(number)
        except ValueError:
            real = float(number)
            if not real.is_integer():
                raise ValueError(f"{number} is not a valid row number") from None
            row_counter = int(real)
    else:
        row_counter += 1
    if "s" in attrib:
        style_index(attrib["s"], n_styles)
    return in_row, row_counter, number is not None


def _cell_with_children(book: Book, cells: dict[Key, RawCell], key: Key, ref: str | None,
                        t: str, flag: int, children: str, declared: frozenset[str],
                        shared: dict[str | None, Translator],
                        formula_key: tuple[str, str, frozenset[str]] | None
                        ) -> tuple[bool, bool]:
    """A cell with <v>, <f> or <is> children other than one plain <v>, read into `cells`;
    (whether its value is a shared string, whether its formula is shared)."""
    memo = book.cache.attributes
    v = f_kind = f_index = f_text = inline = None
    has_v = f_ref = False
    for (is_v, v_attrs, text, is_f, f_attrs, f_body, _is, is_attrs, t_attrs,
         t_body) in CHILD.findall(children.rstrip(" \t\r\n")):
        if is_v:
            if v_attrs:
                attributes(v_attrs, declared, memo)
            if not has_v:
                has_v = True
                v = text_value(text)
        elif is_f:
            f_attrib = attributes(f_attrs, declared, memo) if f_attrs else {}
            if f_text is None:
                f_kind = f_attrib.get("t")
                f_index = f_attrib.get("si")
                f_ref = "ref" in f_attrib
                f_text = text_value(f_body)
        else:
            if is_attrs:  # (openpyxl's Text would refuse it)
                raise NotPlain("an inline string with attributes")
            if t_attrs:
                attributes(t_attrs, declared, memo)
            if inline is None:
                inline = text_value(t_body)
    value: Any = inline if t == "inlineStr" else typed(t, v or None, book.strings, flag,
                                                        book.epoch)
    if f_text is not None:
        cell = RawCell(value, formula_text(f_kind, f_index, f_ref, f_text, ref, shared))
        cells[key] = cell
        if (f_kind is None and inline is None and formula_key is not None
                and len(children) <= REMEMBERED_CHARS):
            book.cache.formula_cells.keep(formula_key, cell)
    elif value is not None:
        cells[key] = RawCell(value)
    else:
        cells.pop(key, None)
    return t == "s", f_kind == "shared"


def int_cell(int_cells: Memo, value: int, text: str) -> RawCell:
    """The cell of a whole number not met yet (written `text`), kept in `int_cells` for the
    next returns unless its text is long."""
    cell = RawCell(value)
    if len(text) <= SHARED_CELL_CHARS:
        int_cells.keep(value, cell)
    return cell


def _empty_run(book: Book, run: str, style_flags: dict[str, int], cells: dict[Key, RawCell],
               last_key: Key, ordered: bool) -> tuple[int, Key, bool]:
    """A run of empty cells (see grammar.TOKEN) after the cell at `last_key`, its cells
    taken out of `cells` unless in order: (the last column, the last key, whether still in
    order). What it holds is remembered by its text; its styles checked into
    `style_flags`."""
    runs = book.cache.runs
    found = runs.get(run)
    if found is None:
        keys = []
        col = 0
        styles = set()
        for ref, style in EMPTY_CELLS.findall(run):
            col, key = coordinate(ref, book.cache.coords)[1:]
            keys.append(key)
            if style:
                styles.add(style)
        increasing = all(a < b for a, b in itertools.pairwise(keys))
        found = (tuple(keys), col, tuple(sorted(styles)), increasing)
        if len(run) <= REMEMBERED_CHARS:
            runs.keep(run, found)
    keys, col, styles, increasing = found
    for style in styles:
        if style not in style_flags:
            style_flags[style] = style_flag(style, book.n_styles, book.date_styles,
                                            book.timedelta_styles)
    if keys[0] <= last_key or not increasing:
        ordered = False
    if not ordered:
        for key in keys:
            cells.pop(key, None)
    return col, keys[-1], ordered
