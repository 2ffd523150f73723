"""Compute what every formula of the layout shows, in Python.

Used twice: the writer stores these values as the formulas' cached results (so a file shows
the truth even where nothing recalculates), and the reader compares them with the cached
results found in a returned file. Semantics follow the spreadsheet: SUM() counts numbers
only, so a blank or a text cell counts as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from nianbao.rules.expr import Number, Ref, evaluate_side
from nianbao.spec.layout import NA_MARKERS, InputCell, Layout, status_text
from nianbao.spec.model import COUNT, Form, RuleInstance


def numeric(value: Any) -> Number:
    """The number a spreadsheet's SUM() sees in a cell: numbers as they are, else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return 0
    return value


def field_values(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """All field values: the given ones, plus every computed field not given.

    A computed field present in `values` holds a constant (its formula was overwritten):
    it is kept as is, and totals that depend on it use it, as a spreadsheet would.
    """
    out = dict(values)

    def get(fid: str) -> Any:
        if fid not in out:
            definer = form.definers.get(fid)
            out[fid] = evaluate_side(definer.comparison.rhs, lambda r: numeric(get(r.field))) \
                if definer is not None else None
        return out[fid]

    for fid in form.definers:
        get(fid)
    return out


def sides(inst: RuleInstance, values: Mapping[str, Any],
          previous: Mapping[str, Any] | None = None) -> tuple[Number, Number]:
    """Left and right value of one rule instance (previous-year refs read `previous`)."""

    def lookup(ref: Ref) -> Number:
        source = previous if ref.prev else values
        return numeric((source or {}).get(ref.field))

    return evaluate_side(inst.comparison.lhs, lookup), evaluate_side(inst.comparison.rhs, lookup)


def invalid_count(cells: list[InputCell], values: Mapping[str, Any]) -> int:
    """Python twin of layout.values_excel for one rectangle of inputs."""
    raw = [values.get(c.field) for c in cells]
    na = any(c.not_applicable for c in cells)
    text = len([v for v in raw if v is not None and v != "" and _is_text(v)
                and not (na and v in NA_MARKERS)])
    negative = len([v for v in raw if _is_number(v) and v < 0])
    fraction = 0
    if cells[0].kind == COUNT:
        fraction = len([v for v in raw if _is_number(v) and v != int(v)])
    return text + negative + fraction


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    """COUNTA counts it but COUNT does not (dates are numbers to a spreadsheet)."""
    return not _is_number(value) and not isinstance(value, datetime | date | time)


def sheet_values(layout: Layout, values: Mapping[str, Any]) -> dict[tuple[str, int, int], Any]:
    """The value of every formula cell, keyed by (sheet, row, col) of its top-left cell."""
    form = layout.form
    full = field_values(form, values)
    out: dict[tuple[str, int, int], Any] = {}
    by_instance = {i.id: i for i in form.instances}
    counts: dict[str, dict[str, int]] = {}
    for cell in layout.formulas:
        if cell.role == "computed":
            out[cell.area.key] = full[cell.field]  # type: ignore[index]
        elif cell.role == "check":
            lhs, rhs = sides(by_instance[cell.instance], full)  # type: ignore[index]
            out[cell.area.key] = _tidy(lhs - rhs)
    for table in form.tables:
        rects = layout.input_rects(table.id)
        invalid = sum(invalid_count(cells, full) for _, cells in rects)
        blank = sum(1 for _, cells in rects for c in cells if full.get(c.field) in (None, ""))
        unbalanced = sum(1 for c in layout.checks.values()
                         if c.table == table.id and out[c.area.key] != 0)
        counts[table.id] = {"unbalanced": unbalanced, "invalid": invalid, "blank": blank}
        out[layout.values[table.id].area.key] = invalid
        for role, cell in layout.counts[table.id].items():
            out[cell.area.key] = counts[table.id][role]
        c = counts[table.id]
        out[layout.table_status[table.id].area.key] = status_text(
            c["unbalanced"], c["invalid"], c["blank"], scope="本表")
    totals = {k: sum(c[k] for c in counts.values()) for k in ("unbalanced", "invalid", "blank")}
    out[layout.status.area.key] = status_text(totals["unbalanced"], totals["invalid"],
                                              totals["blank"])
    return out


def _tidy(value: Number) -> Number:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
