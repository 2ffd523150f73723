"""From a raw workbook to a submission: which form, is its structure intact, what was typed.

Trusts nothing in the file: every locked label and formula is compared with the template,
every input is normalised, every total is recomputed, and a cached result that disagrees
with the recomputation is reported on its own.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from nianbao.findings import Finding, Severity, make
from nianbao.read.normalise import MAX_COUNT, NA, normalise
from nianbao.read.outside import outside_the_form
from nianbao.read.rawbook import RawCell, RawWorkbook
from nianbao.spec.layout import (
    META_SHEET,
    FormulaCell,
    InputCell,
    LabelCell,
    Layout,
    layout_for,
)
from nianbao.spec.load import load_older_form
from nianbao.spec.model import COUNT, NUMERIC_KINDS, Form
from nianbao.validate.evaluate import field_values, sheet_values

FormLookup = Callable[[str], Form | None]

# Identity fields every form's cover carries (field-ids.md).
IDENTITY_FIELDS = ("unit.code", "unit.name", "year")
_META_TO_FIELD = {"unit_code": "unit.code", "unit_name": "unit.name", "year": "year"}


@dataclass
class Submission:
    """Everything read from one returned workbook, with what was found wrong."""

    file: str
    form: Form | None = None
    meta: dict[str, str] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    overwritten: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.form is not None and not any(f.severity == Severity.FATAL
                                                 for f in self.findings)


def read_meta(book: RawWorkbook) -> dict[str, str] | None:
    """The key/value pairs of the hidden identity sheet, or None when it is missing."""
    if META_SHEET not in book.cells and META_SHEET not in book.sheets:
        return None
    meta: dict[str, str] = {}
    cells = book.cells.get(META_SHEET, {})
    for (row, col), cell in cells.items():
        if col == 0 and isinstance(cell.value, str):
            value = cells.get((row, 1), RawCell()).value
            meta[cell.value] = "" if value is None else _meta_text(value)
    return meta


def _meta_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_submission(book: RawWorkbook, file: str, forms: FormLookup,
                    expected_form: str | None = None) -> Submission:
    """Identify the form, verify the structure and read every value of one workbook."""
    sub = Submission(file)
    meta = read_meta(book)
    if meta is None or not meta.get("form_id"):
        sub.findings.append(make("FORM_UNKNOWN", file=file,
                                 detail="缺少模板标识（隐藏工作表 _meta）"))
        return sub
    sub.meta = meta
    form = forms(meta["form_id"])
    if form is None:
        sub.findings.append(make("FORM_UNKNOWN", file=file,
                                 detail=f"未知的模板编号“{meta['form_id']}”"))
        return sub
    if expected_form and form.id != expected_form:
        sub.findings.append(make("FORM_OTHER", file=file, form_id=form.id,
                                 expected=expected_form))
        return sub
    layout = layout_for(form)
    found_version, found_print = meta.get("form_version", ""), meta.get("fingerprint", "")
    if found_version != form.version:
        code = "FORM_VERSION_COMPATIBLE"
        if found_print != layout.fingerprint:
            # an earlier version whose layout is kept: read as issued, judged as today
            older = load_older_form(form.id, found_version)
            if older is None or layout_for(older).fingerprint != found_print:
                sub.findings.append(make("FORM_VERSION_MISMATCH", file=file,
                                         found=found_version, expected=form.version,
                                         severity=Severity.FATAL))
                return sub
            layout, code = layout_for(older), "FORM_VERSION_OLDER"
        sub.findings.append(make(code, file=file, found=found_version,
                                 expected=form.version))
    elif found_print != layout.fingerprint:
        sub.findings.append(make("FORM_FINGERPRINT", file=file, found=found_version))
    sub.form = form
    _Reader(sub, book, layout).read()
    sub.findings += outside_the_form(book, layout, file)
    return sub


_BLANK = RawCell()  # what an absent cell reads as (cells are immutable: one for all)
_NO_CELLS: dict[tuple[int, int], RawCell] = {}  # an absent sheet's cells (never changed)
_Key = tuple[int, int]
_FAST_COUNT, _FAST_NUMBER = 1, 2  # inputs whose whole-number value needs no normalising


@dataclass(frozen=True)
class _Plan:
    """The cells the reader compares and reads, in the layout's order, in runs of one sheet
    (made once per layout): each with its key in the sheet's cells."""

    labels: tuple[tuple[str, tuple[tuple[_Key, str, str, LabelCell], ...]], ...]
    formulas: tuple[tuple[str, tuple[tuple[_Key, FormulaCell], ...]], ...]
    expected: dict[int, tuple[str, int, int]]  # id(formula cell) -> sheet_values' key
    inputs: tuple[tuple[str, tuple[tuple[_Key, str, InputCell, int], ...]], ...]
    numeric: tuple[tuple[str, str], ...]  # (field, sheet) of every numeric input


def _runs(items: list[tuple[str, Any]]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    return tuple((sheet, tuple(item for _, item in run))
                 for sheet, run in itertools.groupby(items, key=lambda pair: pair[0]))


def _plan(layout: Layout) -> _Plan:
    def fast(cell: InputCell) -> int:
        if cell.kind not in NUMERIC_KINDS:
            return 0
        return _FAST_COUNT if cell.kind == COUNT else _FAST_NUMBER

    return _Plan(
        _runs([(c.area.sheet, ((c.area.row, c.area.col), c.text, _squash(c.text), c))
               for c in layout.labels if c.verify]),
        _runs([(c.area.sheet, ((c.area.row, c.area.col), c)) for c in layout.formulas]),
        {id(c): c.area.key for c in layout.formulas},
        _runs([(c.area.sheet, ((c.area.row, c.area.col), fid, c, fast(c)))
               for fid, c in layout.inputs.items()]),
        tuple((fid, c.area.sheet) for fid, c in layout.inputs.items()
              if layout.form.fields[fid].numeric))


class _Reader:
    def __init__(self, sub: Submission, book: RawWorkbook, layout: Layout) -> None:
        self.sub, self.book, self.layout, self.form = sub, book, layout, layout.form
        self.missing_sheets = {s.name for s in layout.sheets if s.name not in book.cells}
        self.plan = layout.derived("reader", _plan)

    def add(self, code: str, **kw: Any) -> None:
        self.sub.findings.append(make(code, file=self.sub.file, **kw))

    def cell(self, sheet: str, row: int, col: int) -> RawCell:
        return self.book.cells.get(sheet, _NO_CELLS).get((row, col), _BLANK)

    def read(self) -> None:
        for name in sorted(self.missing_sheets, key=[s.name for s in self.layout.sheets].index):
            self.add("SHEET_MISSING", sheet=name)
        self.labels()
        intact = self.formulas()
        self.inputs()
        self.nothing_filled()
        self.identity()
        self.sub.values = field_values(self.form, {**self.sub.values})
        self.cached(intact)

    def labels(self) -> None:
        for sheet, labels in self.plan.labels:
            if sheet in self.missing_sheets:
                continue
            cells = self.book.cells[sheet]
            for key, expected, squashed, label in labels:
                found = cells.get(key, _BLANK)
                if found.value == expected and found.formula is None:
                    continue  # (the usual case: the very text)
                text = "" if found.value is None else str(found.value)
                if found.formula is not None or _squash(text) != squashed:
                    self.add("LABEL_CHANGED", sheet=sheet, cell=label.area.a1,
                             expected=expected, found=_shown(found))

    def formulas(self) -> list[tuple[FormulaCell, RawCell]]:
        """Compare every formula; a computed field whose formula is gone keeps the constant
        found there (the filler overwrote it), and totals depending on it use it."""
        intact = []
        for sheet, formulas in self.plan.formulas:
            if sheet in self.missing_sheets:
                continue
            cells = self.book.cells[sheet]
            for key, cell in formulas:
                found = cells.get(key, _BLANK)
                formula = found.formula
                if formula is not None and (formula == cell.excel
                                            or same_formula(formula, cell.excel)):
                    intact.append((cell, found))
                    continue
                self.formula_changed(cell, found)
        return intact

    def formula_changed(self, cell: FormulaCell, found: RawCell) -> None:
        a = cell.area
        field_id = cell.field
        self.add("FORMULA_CHANGED", sheet=a.sheet, cell=a.a1, field=field_id,
                 expected="=" + cell.excel, found=_shown(found))
        if field_id is not None:
            self.sub.overwritten.add(field_id)
            raw = found.value
            self.sub.raw[field_id] = raw
            self.sub.values[field_id] = normalise(raw, self.form.fields[field_id].kind).value

    def inputs(self) -> None:
        values, raws = self.sub.values, self.sub.raw
        for sheet, inputs in self.plan.inputs:
            if sheet in self.missing_sheets:
                for _, fid, _, _ in inputs:
                    values[fid] = None
                continue
            cells = self.book.cells[sheet]
            for key, fid, cell, fast in inputs:
                found = cells.get(key, _BLANK)
                raw = raws[fid] = found.value
                if fast and type(raw) is int and found.formula is None \
                        and 0 <= raw <= MAX_COUNT:
                    # the usual case, a count typed as a number: nothing to normalise or report
                    values[fid] = raw if fast == _FAST_COUNT else Decimal(raw)
                    continue
                self.input(fid, cell, found)

    def input(self, fid: str, cell: InputCell, found: RawCell) -> None:
        """One input that is not a plain whole number: normalised, what is wrong reported."""
        rule = self.form.value_rule
        rule_id, rule_text = (rule.id, rule.text) if rule else (None, "")
        a, raw = cell.area, found.value
        f = self.form.fields[fid]
        where = {"sheet": a.sheet, "cell": a.a1, "field": fid, "label": f.label}
        if found.formula is not None:
            picture = "DISPIMG" in found.formula.upper()
            self.add("VALUE_PICTURE" if picture else "VALUE_FORMULA", rule=rule_id,
                     found="=" + found.formula, **where)
            result = normalise(raw, f.kind, f.not_applicable)
            self.sub.values[fid] = result.value if result.code is None else None
            return
        result = normalise(raw, f.kind, f.not_applicable)
        self.sub.values[fid] = result.value
        if result.code is None or fid in IDENTITY_FIELDS:
            return
        if result.code == "TEXT_BLANK" and not f.required and fid.startswith(("note.",
                                                                              "contact.")):
            return
        value_rule = result.code.startswith("VALUE_") and result.code not in (
            "VALUE_BLANK", "VALUE_NORMALISED", "VALUE_NOT_APPLICABLE")
        self.add(result.code, rule=rule_id if value_rule else None, rule_text=rule_text,
                 found=_shown(found), value=_display(result.value), detail=result.detail,
                 **where)

    def nothing_filled(self) -> None:
        """A template returned with not one figure in it is not a report (cell-by-cell
        blank warnings would only bury that)."""
        numeric = [fid for fid, sheet in self.plan.numeric if sheet not in self.missing_sheets]
        if numeric and all(self.sub.raw.get(fid) is None for fid in numeric):
            self.add("NOTHING_FILLED", count=len(numeric))

    def identity(self) -> None:
        """The record's identity: what the issuing office wrote into _meta wins; the cover
        must agree with it (an edited cover is reported), or supplies it when blank."""
        meta = self.sub.meta
        for fid in IDENTITY_FIELDS:
            if fid not in self.form.fields:
                continue
            f = self.form.fields[fid]
            area = self.layout.places[fid]
            where = {"sheet": area.sheet, "cell": area.a1, "field": fid, "label": f.label}
            typed = self.sub.values.get(fid)
            issued_raw = next((meta.get(k) for k, v in _META_TO_FIELD.items() if v == fid), "")
            issued = normalise(issued_raw, f.kind).value if issued_raw else None
            if issued is not None and str(typed) != str(issued):
                # an issued (locked) identity cell changed, emptied or made unreadable
                shown = _shown(self.cell(area.sheet, area.row, area.col))
                self.add("IDENTITY_EDITED", found=str(typed) if typed is not None else shown,
                         expected=str(issued), **where)
            value = issued if issued is not None else typed
            if value is None:
                found = self.cell(area.sheet, area.row, area.col).value
                if found is not None and str(found).strip():
                    self.add("IDENTITY_INVALID", found=str(found),
                             detail=normalise(found, f.kind).detail, **where)
                elif f.required:
                    self.add("IDENTITY_MISSING", **where)
            self.sub.identity[fid] = value
            self.sub.values[fid] = value

    def cached(self, intact: list[tuple[FormulaCell, RawCell]]) -> None:
        """Compare the cached results in the file with what its own cells compute to."""
        if not intact:
            return
        if all(found.value is None for _, found in intact):
            self.add("CACHED_MISSING")
            return
        shown = {fid: self.sub.raw.get(fid) for fid in self.layout.inputs}
        for fid in self.sub.overwritten:
            shown[fid] = self.sub.raw.get(fid)
        expected = sheet_values(self.layout, shown)
        other: list[tuple[FormulaCell, Any, Any]] = []
        key_of = self.plan.expected
        for cell, found in intact:
            want = expected[key_of[id(cell)]]
            if _same_value(found.value, want):
                continue
            if cell.role == "computed":
                self.add("CACHED_MISMATCH", sheet=cell.area.sheet, cell=cell.area.a1,
                         field=cell.field, found=_display(found.value), expected=_display(want))
            else:
                other.append((cell, found.value, want))
        if other:
            cell, found_value, want = other[0]
            more = f"（另有 {len(other) - 1} 个校验单元格同样不一致）" if len(other) > 1 else ""
            self.add("CACHED_MISMATCH", sheet=cell.area.sheet, cell=cell.area.a1,
                     found=_display(found_value) + more, expected=_display(want),
                     cells=[c.area.a1 for c, _, _ in other])


def _same_value(found: Any, want: Any) -> bool:
    if found is None:
        return False
    if type(found) is type(want) and found == want:  # the usual case, decided at once
        return True
    if isinstance(want, str) or isinstance(found, str):
        return str(found) == str(want)
    try:
        return abs(Decimal(repr(found) if isinstance(found, float) else str(found))
                   - Decimal(repr(want) if isinstance(want, float) else str(want))) < Decimal(
            "1e-9")
    except ArithmeticError:
        return False


_STRING = re.compile(r'"(?:[^"]|"")*"')


def normalise_formula(text: str) -> str:
    """A formula in a canonical spelling: what Excel, WPS and LibreOffice may each write
    differently (`$`, quotes around sheet names, `_xlfn.`, spacing, case) is ignored."""
    text = text.strip().removeprefix("=")
    out, pos = [], 0
    for m in _STRING.finditer(text):
        out.append(_canon(text[pos: m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_canon(text[pos:]))
    return "".join(out)


def _canon(code: str) -> str:
    code = re.sub(r"\s+", "", code).replace("$", "")
    code = re.sub(r"_xl(fn|ws)\.", "", code, flags=re.IGNORECASE)
    code = re.sub(r"'((?:[^']|'')+)'!", lambda m: m.group(1).replace("''", "'") + "!", code)
    return code.upper()


def same_formula(found: str, expected: str) -> bool:
    return normalise_formula(found) == _expected_formula(expected)


@cache
def _expected_formula(text: str) -> str:
    """The template's formulas are few and fixed: normalise each once."""
    return normalise_formula(text)


def _squash(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def _shown(cell: RawCell) -> str:
    if cell.formula is not None:
        return "=" + cell.formula
    return _display(cell.value)


def _display(value: Any) -> str:
    if value is None:
        return "（空）"
    if value is NA:
        return "不适用"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
