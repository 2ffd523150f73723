"""Rows remembered across returns: the cell data of a worksheet read row by row.

Most rows of a return are the same text in every return of its template (labels, totals of
zeros, rows left at 0), and the others differ only in the numbers they hold. The byte scan
(scan.py) splits the cell data at each "</row>" (no token the scan accepts can hold
one, so each piece is tokenised as in the whole) and reads each piece on its own; the result
is the whole scan's where every row is numbered, no formula is shared and the cells are in
order (else None: the caller scans the whole at once).

* A piece seen in two returns is remembered with its cells, keyed by its text under the
  return's namespaces, styles and epoch; its shared strings are looked up in each return's
  own table ("holes").
* A piece whose text, its whole numbers in plain <v> elements set aside, was seen in two
  returns has a pattern: where each of those numbers goes (a number cell, a shared string,
  a formula's result). Another piece of that text is read by putting its numbers in,
  without tokenising it. A pattern is made only when putting the first piece's own
  numbers in gives exactly what the scan read from it.

Pieces seen once are remembered only by their hash. All of it is kept in the read's
`ReadCache` (its memos "seen", "rows", "patterns", "sheets_seen" and "sheets").
"""

from __future__ import annotations

import re

from nianbao.read import scan
from nianbao.read.book import Book
from nianbao.read.cache import Memo
from nianbao.read.cells import coordinate, style_flag
from nianbao.read.grammar import TOKEN
from nianbao.read.ooxml import NotPlain
from nianbao.read.rawbook import RawCell

Key = tuple[int, int]
Holes = tuple[tuple[Key, int], ...]
# (cells, holes, first key, last key)
Row = tuple[dict[Key, RawCell], Holes, Key | None, Key | None]
# (cells, numbers: (key, kind, formula) in order, holes not among them, first key, last key)
Pattern = tuple[dict[Key, RawCell], tuple[tuple[Key, int, str | None], ...], Holes,
                Key | None, Key | None]
NUMBER, STRING, RESULT = 0, 1, 2  # what a number of a pattern is: see _kind

_NUMBERS = re.compile("<v>(-?[0-9]+)</v>")
_HOLE = "<v>\x00</v>"  # where a number was: "\x00" is in no piece the scan accepts
_PIECE_CHARS = 4096  # longer rows are not remembered
_ROWS_PER_SHEET = 4096  # sheets with more rows are scanned at once


def scan_rows(book: Book, content: str, prefixes: frozenset[str]
              ) -> tuple[dict[Key, RawCell], list[tuple[Key, int]]] | None:
    """The cells of the cell data and where shared strings went in them (see the module's
    docstring), or None."""
    pieces = content.split("</row>")
    if pieces.pop() or len(pieces) > _ROWS_PER_SHEET:  # (content has no white space at
        return None                                   # its end)
    context = (prefixes, *book.context())
    cache = book.cache
    known: Memo = cache.rows.section(context)
    patterns: Memo = cache.patterns.section(context)
    cells: dict[Key, RawCell] = {}
    sheet_holes: list[tuple[Key, int]] = []
    strings, str_cells = book.strings, cache.str_cells
    last_key = (-(1 << 62), 0)
    limit = book.max_cells - book.count
    for piece in pieces:
        row = known.get(piece)
        if row is not None:
            cache.rows.hits += 1
        else:
            cache.rows.misses += 1
            parts = _NUMBERS.split(piece)  # text, number, text, ..., text
            shape = _HOLE.join(parts[::2])
            pattern = patterns.get(shape)
            if pattern is not None:
                row = _by_pattern(parts[1::2], pattern, cache.int_cells)
            if row is not None:
                cache.patterns.hits += 1
            else:
                cache.patterns.misses += 1
                row = _scanned(book, piece, shape, prefixes, known, patterns)
                if row is None:
                    return None
        row_cells, holes, first, last = row
        if first is None or last is None:
            continue
        if first <= last_key:
            return None
        last_key = last
        cells.update(row_cells)
        if holes:
            _fill(cells, holes, strings, str_cells)
            sheet_holes += holes
        if len(cells) > limit:
            raise NotPlain("too many cells")  # (iterparse raises TooManyCells)
    return cells, sheet_holes


def _fill(cells: dict[Key, RawCell], holes: Holes | list[tuple[Key, int]],
          strings: list[str], str_cells: dict[str, RawCell]) -> None:
    """This return's shared strings put where the holes are."""
    for key, index in holes:
        value = strings[index]
        cell = str_cells.get(value)
        if cell is None:
            cell = RawCell(value)
        cells[key] = cell


def _scanned(book: Book, piece: str, shape: str, prefixes: frozenset[str],
             known: Memo, patterns: Memo) -> Row | None:
    """A piece read by the scan, remembered (as itself, and its shape as a pattern) when
    seen before; None when it cannot be read on its own."""
    holes: list[tuple[Key, int]] = []
    row_cells, ordered, free, keep = scan.scan_tokens(book, piece + "</row>", prefixes, holes)
    if not (free and ordered):
        return None
    row = (row_cells, tuple(holes), next(iter(row_cells), None),
           next(reversed(row_cells), None))
    if keep and len(piece) <= _PIECE_CHARS:
        seen = book.cache.seen
        for text in (piece, shape) if shape != piece else (piece,):
            sighting = hash(text)
            if sighting not in seen:
                seen.keep(sighting, True)
            elif text is piece:
                known.keep(piece, row)
            elif shape not in patterns:
                patterns.keep(shape, _pattern(book, piece, row))
    return row


def _by_pattern(found: list[str], pattern: Pattern, int_cells: Memo) -> Row | None:
    """A piece read by the pattern of its shape, given the numbers found in it (see the
    module's docstring): shared strings' indexes become holes. None where the numbers do
    not fit (the scan then reads the piece and says what is wrong)."""
    template, numbers, holes, first, last = pattern
    if len(found) != len(numbers):  # (a piece holding "\x00" itself: not one the scan reads)
        return None
    row_cells = dict(template)
    indexes: list[tuple[Key, int]] = []
    try:
        for (key, kind, formula), text in zip(numbers, found, strict=True):
            value = int(text)
            if kind == NUMBER:
                row_cells[key] = int_cells.get(value) or scan.int_cell(int_cells, value, text)
            elif kind == STRING:
                indexes.append((key, value))
            else:
                row_cells[key] = RawCell(value, formula)
    except ValueError:  # a number too long for int()
        return None
    return row_cells, (*holes, *indexes) if indexes else holes, first, last


def _pattern(book: Book, piece: str, row: Row) -> Pattern | None:
    """The pattern of a piece the scan read as `row`, or None where a number of it is not
    one _by_pattern can put in as the scan reads it."""
    row_cells, holes, first, last = row
    numbers: list[tuple[Key, int, str | None]] = []
    spots = iter(_NUMBERS.finditer(piece))
    spot = next(spots, None)
    for token in TOKEN.finditer(piece + "</row>"):
        if spot is None:
            break
        if spot.start() >= token.end():
            continue
        if spot.start() < token.start():
            return None  # a number between tokens: not in a cell
        r, style, t, attrs, _, v_text, children, tag, _ = token.groups()
        if attrs or tag or not r:  # (only cells written plainly, with their reference)
            return None
        key = coordinate(r, book.cache.coords)[2]
        flag = style_flag(style, book.n_styles, book.date_styles,
                           book.timedelta_styles) if style else 0
        kind = _kind(t or "n", flag, bool(v_text))
        found = row_cells.get(key)
        if kind is None or found is None or any(k == key for k, _, _ in numbers):
            return None
        if kind == RESULT and (found.formula is None or children.count("<v") != 1):
            return None
        numbers.append((key, kind, found.formula if kind == RESULT else None))
        spot = next(spots, None)
        if spot is not None and spot.start() < token.end():
            return None  # two numbers in one cell
    if spot is not None:
        return None
    taken = {key for key, _, _ in numbers}
    pattern = (dict(row_cells), tuple(numbers), tuple(h for h in holes if h[0] not in taken),
               first, last)
    again = _by_pattern(_NUMBERS.findall(piece), pattern, book.cache.int_cells)  # its own
    # numbers put back
    if again is None:
        return None
    cells = dict(again[0])
    _fill(cells, again[1], book.strings, book.cache.str_cells)
    if not _same_cells(cells, row_cells):
        return None
    return pattern


def _kind(t: str, flag: int, plain: bool) -> int | None:
    """What the number of a cell of type `t` is, when _by_pattern can put it in as the scan
    reads it: a whole number (not styled as a date), a shared string's index, or a
    formula's whole-number result."""
    if plain and t == "s":
        return STRING
    if t != "n" or flag:
        return None
    return NUMBER if plain else RESULT


def _same_cells(a: dict[Key, RawCell], b: dict[Key, RawCell]) -> bool:
    return list(a) == list(b) and all(
        type(a[k].value) is type(b[k].value) and a[k].value == b[k].value
        and a[k].formula == b[k].formula for k in a)


# -- whole worksheets --------------------------------------------------------------------------
#
# The pre-check gives a content id to each small member it inflates, the same id to every
# member with the compressed bytes, size and CRC of one it met before (`Unpacked.content_ids`):
# a worksheet left as the template has it comes to the reader with the id of the last return's.
# Met a second time, the worksheet's cells (merged ranges applied) are remembered by that id,
# with where its shared strings go; the next return's worksheet is then these cells with its
# own strings. Worksheets with hyperlinks (read through the package's relationships) are not
# remembered.


def remembered_sheet(book: Book, content_id: int | None) -> dict[Key, RawCell] | None:
    """The cells of a worksheet part whose content was met before, or None."""
    if content_id is None:
        return None
    found = book.cache.sheets.find(content_id)
    if found is None or found[0] != book.context():
        return None
    cells = dict(found[1])
    _fill(cells, found[2], book.strings, book.cache.str_cells)
    return cells


def remember_sheet(book: Book, content_id: int | None, cells: dict[Key, RawCell],
                   holes: list[tuple[Key, int]]) -> None:
    """Remember a worksheet's cells (as the reader returns them) when its content was met
    before; else remember that it was met."""
    if content_id is None:
        return
    seen = book.cache.sheets_seen
    if content_id not in seen:
        seen.keep(content_id, True)
        return
    book.cache.sheets.keep(content_id, (book.context(), dict(cells),
                                        tuple(hole for hole in holes if hole[0] in cells)))
