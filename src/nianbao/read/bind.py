"""What openpyxl does to a sheet after its cells: a merged range keeps only its top-left
cell's value; a hyperlink on an empty cell gives the cell the link's target (or location)
as its value, a formula when it begins with "=". Work is bounded where openpyxl's is not."""

from __future__ import annotations

import re

from openpyxl.utils.cell import range_boundaries

from nianbao.read.book import Book
from nianbao.read.cache import Memo
from nianbao.read.cells import merge_bounds
from nianbao.read.ooxml import UnsupportedWorkbook
from nianbao.read.openpyxl_reader import TooManyCells
from nianbao.read.package import Rel, rels_path
from nianbao.read.rawbook import RawCell

Key = tuple[int, int]
MERGE_WORK = 2_000_000  # cells looked at to apply merged ranges and hyperlinks, at most
_CELL_REF = re.compile(r"\$?[A-Za-z]{1,3}\$?[0-9]+")
_STRING_MAX = 32767  # openpyxl truncates a string set on a cell
_COVERED_MAX = 4096  # cells of merged ranges remembered (far below MERGE_WORK)
_MISSING = object()


def bind(book: Book, part: str, cells: dict[Key, RawCell], merges: list[str],
         links: list[dict[str, str]]) -> dict[Key, RawCell]:
    """`cells` of the worksheet `part` with its merged ranges and hyperlinks applied."""
    return _Sheet(book, part, cells, merges, links).finish()


def covered(merges: tuple[tuple[int, int, int, int], ...], memo: Memo
            ) -> tuple[Key, ...] | None:
    """The cells merged ranges empty (all but each top-left), remembered in `memo` (the
    same ranges in every return of a template); None when they cover more than
    _COVERED_MAX cells."""
    found = memo.find(merges, _MISSING)
    if found is _MISSING:
        area = sum((r2 - r1 + 1) * (c2 - c1 + 1) for r1, c1, r2, c2 in merges)
        found = None if area > _COVERED_MAX else tuple(
            (row, col) for r1, c1, r2, c2 in merges
            for row in range(r1 - 1, r2) for col in range(c1 - 1, c2)
            if row != r1 - 1 or col != c1 - 1)
        memo.keep(merges, found)
    return found


class _Sheet:
    def __init__(self, book: Book, part: str, cells: dict[tuple[int, int], RawCell],
                 merges: list[str], links: list[dict[str, str]]) -> None:
        self.book, self.part, self.cells = book, part, cells
        self.merges = [merge_bounds(ref, book.cache.ranges) for ref in merges]
        self.links = links
        self.work = 0

    def spend(self, amount: int) -> None:
        self.work += amount
        if self.work > MERGE_WORK:
            raise TooManyCells("合并单元格或超链接覆盖的单元格过多")

    def finish(self) -> dict[tuple[int, int], RawCell]:
        cells = self.cells
        if not self.links:  # (hyperlinks would spend work after the merges: counted below)
            empty = covered(tuple(self.merges), self.book.cache.covered)
            if empty is not None:
                for key in empty:
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
        rels: dict[str | None, Rel] | None = None
        for link in self.links:
            target = link.get("target")
            rid = link.get("id")
            if rid:
                if rels is None:  # RelationshipList.get(): the first of an Id wins
                    path = rels_path(self.part)
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
