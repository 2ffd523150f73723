"""What a returned workbook holds outside the form, which nothing reads: sheets the template
does not have (a copied sheet; not _meta, nor the 问题清单 of a feedback workbook sent back),
cells with content where the template has none (an extra 合计 row under a table, notes).
One note per sheet says what was ignored, so the clerk and the filler know that figures put
there do not count.

Works on the RawWorkbook both readers produce, so they agree by construction.
"""

from __future__ import annotations

from nianbao.cells import a1
from nianbao.findings import Finding, make
from nianbao.read.rawbook import RawCell, RawWorkbook
from nianbao.spec.expr import compress
from nianbao.spec.layout import ISSUES_SHEET, META_SHEET, Area, Layout

SHOWN = 6  # ranges named in a note; the rest are counted


def outside_the_form(book: RawWorkbook, layout: Layout, file: str) -> list[Finding]:
    """CONTENT_IGNORED notes (info): one per extra sheet with content, one per form sheet
    with content outside the template's cells."""
    known = layout.derived("form_cells", _form_cells)
    out = []
    for sheet in book.sheets:
        if sheet in (META_SHEET, ISSUES_SHEET):  # nianbao's own: identity, a feedback's list
            continue
        cells = book.cells.get(sheet, {})
        own = known.get(sheet)
        if own is None:
            filled = sum(1 for c in cells.values() if _content(c))
            if filled:
                out.append(make("CONTENT_IGNORED", file=file, sheet=sheet,
                                detail=f"模板中没有此工作表，表中 {filled} 个单元格的内容"))
            continue
        if own.issuperset(cells):  # (the usual return: decided without a set built)
            continue
        extra = sorted(k for k in cells.keys() - own if _content(cells[k]))
        if extra:
            out.append(make("CONTENT_IGNORED", file=file, sheet=sheet,
                            cell=a1(*extra[0]), detail=_described(extra)))
    return out


def _form_cells(layout: Layout) -> dict[str, frozenset[tuple[int, int]]]:
    """Every cell the template writes or leaves for input, by sheet (a merged area whole)."""
    areas: list[Area] = [c.area for c in layout.labels]
    areas += [c.area for c in layout.inputs.values()]
    areas += [c.area for c in layout.formulas]
    found: dict[str, set[tuple[int, int]]] = {s.name: set() for s in layout.sheets}
    for a in areas:
        found.setdefault(a.sheet, set()).update(
            (r, c) for r in range(a.row, a.last_row + 1) for c in range(a.col, a.last_col + 1))
    return {sheet: frozenset(keys) for sheet, keys in found.items()}


def _content(cell: RawCell) -> bool:
    """A value or a formula someone put there (an empty or blank string is nothing)."""
    if cell.formula is not None:
        return True
    return cell.value is not None and not (isinstance(cell.value, str)
                                           and not cell.value.strip())


def _described(keys: list[tuple[int, int]]) -> str:
    """"A40:H40、J3" for the first ranges, then how many cells in all."""
    first = keys[:SHOWN * 64]  # enough for the ranges named (50,000 cells cost no time)
    ranges = compress([a1(r, c) for r, c in first])
    more = len(ranges) > SHOWN or len(first) < len(keys)
    shown = "、".join(ranges[:SHOWN]) + ("等" if more else "")
    return f"{shown}，共 {len(keys)} 个单元格的内容"
