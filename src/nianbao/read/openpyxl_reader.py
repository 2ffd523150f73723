"""The reference reader: openpyxl, loading the file twice (formulas, then cached values).

Slow (~18 ms a file) but independent of our own XML parsing; the fast reader is checked
against it. Call only after the pre-check has passed: it parses XML.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import openpyxl
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

from nianbao.read.cache import ReadCache
from nianbao.read.rawbook import RawCell, RawWorkbook
from nianbao.read.reader import Unpacked

MAX_CELLS = 200_000  # a returned form holds a few hundred; more means a hostile or broken file


class TooManyCells(ValueError):
    """The workbook holds far more cells than any returned form could."""


def read_openpyxl(data: bytes, unpacked: Unpacked | None = None, *,
                  cache: ReadCache | None = None) -> RawWorkbook:
    """The workbook as openpyxl reads it. A `Reader`: `unpacked` and `cache` are not used
    (openpyxl opens the package on its own, and nothing is remembered between files)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about unsupported extensions
        formulas = openpyxl.load_workbook(io.BytesIO(data), data_only=False, keep_links=False)
        cached = openpyxl.load_workbook(io.BytesIO(data), data_only=True, keep_links=False)
    book = RawWorkbook(sheets=list(formulas.sheetnames))
    count = 0
    for ws in formulas.worksheets:
        book.states[ws.title] = ws.sheet_state
        values = cached[ws.title]
        cells: dict[tuple[int, int], RawCell] = {}
        # the stored cells only: iter_rows() would walk the whole claimed dimension
        for (row, col), c in sorted(ws._cells.items()):
            if c.value is None:
                continue
            count += 1
            if count > MAX_CELLS:
                raise TooManyCells(f"超过 {MAX_CELLS} 个单元格")
            formula = _formula(c.value, c.data_type)
            if formula is not None:
                cached_cell = values._cells.get((row, col))
                cells[(row - 1, col - 1)] = RawCell(
                    cached_cell.value if cached_cell is not None else None, formula)
            else:
                cells[(row - 1, col - 1)] = RawCell(c.value)
        book.cells[ws.title] = cells
    return book


def _formula(value: Any, data_type: str) -> str | None:
    if isinstance(value, ArrayFormula):
        return (value.text or "").removeprefix("=")
    if isinstance(value, DataTableFormula):
        return "TABLE()"
    if data_type == "f" and isinstance(value, str):
        return value.removeprefix("=")
    return None
