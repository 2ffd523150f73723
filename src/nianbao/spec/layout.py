"""Where everything goes: the one mapping from a Form to sheets and cells.

The template writer and the returned-file reader both use this layout, so no cell
address is ever written twice. Every formula is built here next to the Python function
that computes the same value (see evaluate.py), so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from nianbao.cells import a1, a1_range, rectangles
from nianbao.spec.expr import Ref, excel_side
from nianbao.spec.live_checks import (  # noqa: F401  (re-exported: the names of the layout)
    FMT_BALANCE,
    FMT_BLANK_COUNT,
    FMT_INVALID_COUNT,
    FMT_UNBALANCED_COUNT,
    FMT_VALUES,
    INCOMPLETE_1_0,
    NA_MARKERS,
    blank_excel,
    status_excel,
    status_text,
    values_excel,
)
from nianbao.spec.model import NUMERIC_KINDS, Block, Form, Header, RuleInstance, Table

T = TypeVar("T")

META_SHEET = "_meta"
ISSUES_SHEET = "问题清单"  # first sheet of a feedback workbook (collect/feedback.py), not read
META_KEYS = ("form_id", "form_version", "fingerprint", "unit_code", "unit_name", "year",
             "office", "issued_at", "signature", "generator")



@dataclass(frozen=True)
class Area:
    """A cell, or a merged range whose value lives in its top-left cell."""

    sheet: str
    row: int
    col: int
    last_row: int = -1
    last_col: int = -1

    def __post_init__(self) -> None:
        if self.last_row < 0:
            object.__setattr__(self, "last_row", self.row)
        if self.last_col < 0:
            object.__setattr__(self, "last_col", self.col)

    @property
    def a1(self) -> str:
        return a1(self.row, self.col)

    @property
    def ref(self) -> str:
        return a1_range(self.row, self.col, self.last_row, self.last_col)

    @property
    def merged(self) -> bool:
        return (self.row, self.col) != (self.last_row, self.last_col)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.sheet, self.row, self.col)


@dataclass(frozen=True)
class LabelCell:
    area: Area
    text: str
    style: str
    verify: bool = True  # part of the locked structure the reader compares


@dataclass(frozen=True)
class FormulaCell:
    """A locked formula; `role` says what computes its value (see evaluate.py)."""

    area: Area
    excel: str
    role: str  # computed | check | values | unbalanced | invalid | blank | table_status | status
    style: str
    field: str | None = None
    instance: str | None = None
    table: str | None = None
    array: bool = False  # written as an array formula (evaluated element by element)


@dataclass(frozen=True)
class InputCell:
    area: Area
    field: str
    kind: str
    not_applicable: bool = False


@dataclass
class SheetSpec:
    name: str
    role: str  # cover | table | prose | instructions
    widths: dict[int, float] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)
    landscape: bool = False
    last_row: int = 0
    last_col: int = 0
    repeat_rows: tuple[int, int] | None = None
    table: str | None = None


@dataclass
class Layout:
    form: Form
    sheets: list[SheetSpec]
    labels: list[LabelCell]
    inputs: dict[str, InputCell]
    formulas: list[FormulaCell]
    places: dict[str, Area]                      # every field, inputs and computed
    checks: dict[str, FormulaCell]               # rule instance id -> its live check cell
    values: dict[str, FormulaCell]               # table id -> its R8 cell
    counts: dict[str, dict[str, FormulaCell]]    # table id -> role -> count cell on the cover
    table_status: dict[str, FormulaCell]
    status: FormulaCell
    version_text: str
    fingerprint: str = ""
    _rects: dict[str, list[tuple[str, list[InputCell]]]] = field(default_factory=dict,
                                                                 repr=False)
    _derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def derived(self, name: str, make: Callable[[Layout], T]) -> T:
        """What `make` derives from this layout (a reader's plan of its cells), made once:
        a layout never changes once built."""
        found = self._derived.get(name)
        if found is None:
            found = self._derived[name] = make(self)
        return found  # type: ignore[no-any-return]

    def sheet(self, name: str) -> SheetSpec:
        return next(s for s in self.sheets if s.name == name)

    def input_rects(self, table: str) -> list[tuple[str, list[InputCell]]]:
        """A table's numeric inputs as rectangles (computed once per layout)."""
        if table not in self._rects:
            self._rects[table] = input_rects(self.form, self.inputs, table)
        return self._rects[table]


def _sheet_ref(sheet: str) -> str:
    """A sheet prefix for formulas; quoted only when Excel requires it."""
    plain = all(ch.isalnum() or ch == "_" or ord(ch) > 0x2E7F for ch in sheet)
    return f"{sheet}!" if plain and not sheet[0].isdigit() else f"'{sheet}'!"


# -- building the layout ---------------------------------------------------------------

@cache
def layout_for(form: Form) -> Layout:
    """The layout of a form (cached: a Form is immutable)."""
    return _Builder(form).build()


def _char_width(text: str) -> float:
    """Approximate Excel column-width units of a label (CJK ~2.1, ASCII ~1.1)."""
    return sum(2.1 if ord(ch) > 0x2E7F else 1.1 for ch in text)


def _balanced_width(texts: list[str], most: float = 18, least: float = 10) -> float:
    """A label column's width: each label on one line when it fits in `most`, else on
    lines of even length (never one character left alone on a line of its own)."""
    width = least
    for text in texts:
        cw = _char_width(text)
        lines = max(1, math.ceil(cw / (most - 1.5)))
        width = max(width, cw / lines + 1.5)
    return round(width, 1)


def _lines(text: str, width: float) -> int:
    return max(1, math.ceil(_char_width(text) / max(width - 1, 1)))


class _Builder:
    def __init__(self, form: Form) -> None:
        self.form = form
        self.sheets: list[SheetSpec] = []
        self.labels: list[LabelCell] = []
        self.inputs: dict[str, InputCell] = {}
        self.formulas: list[FormulaCell] = []
        self.places: dict[str, Area] = {}
        self.checks: dict[str, FormulaCell] = {}
        self.values: dict[str, FormulaCell] = {}
        self.counts: dict[str, dict[str, FormulaCell]] = {}
        self.table_status: dict[str, FormulaCell] = {}

    def label(self, area: Area, text: str, style: str, verify: bool = True) -> None:
        self.labels.append(LabelCell(area, text, style, verify))

    def input(self, area: Area, field_id: str) -> None:
        f = self.form.fields[field_id]
        self.inputs[field_id] = InputCell(area, field_id, f.kind, f.not_applicable)
        self.places[field_id] = area

    def formula(self, cell: FormulaCell) -> FormulaCell:
        self.formulas.append(cell)
        return cell

    def build(self) -> Layout:
        form = self.form
        cover = SheetSpec(form.cover.sheet, "cover")
        self.sheets.append(cover)
        for table in form.tables:
            self.table_sheet(table)
        self.prose_sheet()
        self.instructions_sheet()
        status = self.cover_sheet(cover)  # last: it counts what the table sheets hold
        layout = Layout(form, self.sheets, self.labels, self.inputs, self.formulas,
                        self.places, self.checks, self.values, self.counts,
                        self.table_status, status, f"{form.id} {form.version}")
        layout.fingerprint = fingerprint(layout)
        return layout

    # -- cover ---------------------------------------------------------------------------
    def cover_sheet(self, sheet: SheetSpec) -> FormulaCell:
        c, name, last = self.form.cover, sheet.name, 3
        sheet.widths = {0: 34, 1: 22, 2: 22, 3: 22}
        self.label(Area(name, 0, 0, 0, last), c.title, "title")
        sheet.heights[0] = 30
        row = 1
        if c.hint:
            self.label(Area(name, row, 0, row, last), c.hint, "hint", verify=False)
            sheet.heights[row] = 15 * _lines(c.hint, 100) + 6
            row += 1
        row += 1
        for f in (f for f in c.fields if not f.below):
            self.label(Area(name, row, 0), f.label, "label")
            self.input(Area(name, row, 1, row, last), f.id)
            sheet.heights[row] = 22
            row += 1
        row += 1
        status_row = row
        self.label(Area(name, row, 0), c.status_label, "status_label")
        sheet.heights[row] = 36
        row += 1
        for text, col in (("平衡校验", 1), ("数值检查", 2), ("未填写", 3)):
            self.label(Area(name, row, col), text, "header")
        self.label(Area(name, row, 0), "表", "header")
        row += 1
        totals: dict[str, list[str]] = {"unbalanced": [], "invalid": [], "blank": []}
        for table in self.form.tables:
            self.label(Area(name, row, 0), table.title, "label")
            cells = {}
            checks = [cell for cell in self.checks.values() if cell.table == table.id]
            n = "+".join(f'COUNTIF({ref},"<>0")' for ref in _refs(checks)) or "0"
            rects = input_rects(self.form, self.inputs, table.id)
            exprs = {"unbalanced": (n, FMT_UNBALANCED_COUNT),
                     "invalid": (_sheet_ref(table.sheet) + self.values[table.id].area.a1,
                                 FMT_INVALID_COUNT),
                     "blank": (blank_excel(rects, _sheet_ref(table.sheet)), FMT_BLANK_COUNT)}
            for col, (role, (excel, fmt)) in enumerate(exprs.items(), start=1):
                cells[role] = self.formula(FormulaCell(Area(name, row, col), excel, role,
                                                       "count:" + fmt, table=table.id))
                totals[role].append(cells[role].area.a1)
            self.counts[table.id] = cells
            sheet.heights[row] = 20
            row += 1
        below = [f for f in c.fields if f.below]
        if below:  # who filled it in: under the verdict, as a paper form's signature block
            row += 1
            for f in below:
                self.label(Area(name, row, 0), f.label, "label")
                self.input(Area(name, row, 1, row, last), f.id)
                sheet.heights[row] = 22
                row += 1
        self.label(Area(name, row + 1, 0), c.version_label, "label")
        # shown, not verified: the version lives in _meta, and the fingerprint must not
        # change with a version bump that leaves the layout alone
        self.label(Area(name, row + 1, 1, row + 1, last), f"{self.form.id} {self.form.version}",
                   "version", verify=False)
        sheet.last_row, sheet.last_col = row + 1, last
        n, m, b = ("(" + "+".join(totals[k]) + ")" for k in ("unbalanced", "invalid", "blank"))
        status = self.formula(FormulaCell(Area(name, status_row, 1, status_row, last),
                                          status_excel(n, m, b, "", c.incomplete), "status",
                                          "status"))
        for table in self.form.tables:
            cnt = self.counts[table.id]
            refs = [f"{_sheet_ref(name)}{cnt[k].area.a1}" for k in ("unbalanced", "invalid",
                                                                    "blank")]
            cell = self.table_status[table.id]
            self.formulas[self.formulas.index(cell)] = self.table_status[table.id] = FormulaCell(
                cell.area, status_excel(*refs, "本表", c.incomplete), "table_status", "status",
                table=table.id)
        return status

    # -- table sheets ----------------------------------------------------------------------
    def table_sheet(self, table: Table) -> None:
        name = table.sheet
        sheet = SheetSpec(name, "table", landscape=table.landscape, table=table.id)
        self.sheets.append(sheet)
        label_cols = max(len(r.path) for b in table.blocks for r in b.rows)
        data_width = max(sum(1 for _ in b.columns) for b in table.blocks)
        col_rules = [r for r in self.form.rules
                     if r.table == table.id and r.kind == "balance" and not r.cross_year
                     and r.place == "column"]
        row_rules = [r for r in self.form.rules
                     if r.table == table.id and r.kind == "balance" and not r.cross_year
                     and r.place == "row"]
        first_data = label_cols
        width = label_cols + data_width + len(col_rules)
        last = width - 1
        self.label(Area(name, 0, 0, 0, last), table.title, "title")
        sheet.heights[0] = 28
        # row 1: this table's verdict (formula filled in once the cover counts exist)
        status_col = 1 if label_cols <= 1 else label_cols
        self.label(Area(name, 1, 0, 1, status_col - 1), "校验结果", "status_label")
        self.table_status[table.id] = self.formula(
            FormulaCell(Area(name, 1, status_col, 1, last), "", "table_status", "status",
                        table=table.id))
        sheet.heights[1] = 24
        row = 3
        header_rows: tuple[int, int] | None = None
        for block in table.blocks:
            row, hdr = self.block(table, block, row, label_cols, first_data, data_width,
                                  col_rules, sheet)
            header_rows = header_rows or hdr
        if len(table.blocks) == 1:
            sheet.repeat_rows = header_rows
        # check rows: one per rule placed in a row
        for rule in row_rules:
            row = self.labelled_row(name, row, rule.label, label_cols, last, sheet)
            for inst in (i for i in self.form.instances if i.rule is rule):
                anchor = self.places[inst.anchor]
                self.check_cell(Area(name, row, anchor.col, row, anchor.last_col), inst,
                                table.id)
            sheet.heights[row] = 20
            row += 1
        # R8: one cell per table
        rule = self.form.value_rule
        row = self.labelled_row(name, row, rule.label if rule else "数值检查", label_cols, last,
                                sheet)
        rects = input_rects(self.form, self.inputs, table.id)
        self.values[table.id] = self.formula(FormulaCell(
            Area(name, row, first_data, row, first_data + data_width - 1), values_excel(rects),
            "values", "check:" + FMT_VALUES, table=table.id, array=True))
        sheet.heights[row] = 20
        row += 2
        if table.note:
            self.label(Area(name, row, 0, row, last), table.note.label, "note_label")
            row += 1
            self.input(Area(name, row, 0, row + 2, last), table.note.id)
            for r in range(row, row + 3):
                sheet.heights[r] = 20
            row += 3
        sheet.last_row, sheet.last_col = row - 1, last
        self.table_widths(table, sheet, label_cols, data_width, len(col_rules))

    def labelled_row(self, sheet: str, row: int, text: str, label_cols: int, last: int,
                     spec: SheetSpec) -> int:
        """Put a check row's label left of its cells, or in a row of its own when the table
        has no label column (table 四); return the row the cells go in."""
        if label_cols:
            self.label(Area(sheet, row, 0, row, label_cols - 1), text, "check_label")
            return row
        self.label(Area(sheet, row, 0, row, last), text, "check_label")
        spec.heights[row] = 20
        return row + 1

    def check_cell(self, area: Area, inst: RuleInstance, table: str) -> None:
        lhs = excel_side(inst.comparison.lhs, self.address)
        rhs = excel_side(inst.comparison.rhs, self.address)
        cell = self.formula(FormulaCell(area, f"{lhs}-({rhs})" if "-" in rhs else f"{lhs}-{rhs}",
                                        "check", "check:" + FMT_BALANCE, instance=inst.id,
                                        table=table))
        self.checks[inst.id] = cell

    def address(self, ref: Ref) -> str:
        return self.places[ref.field].a1

    def block(self, table: Table, block: Block, row: int, label_cols: int, first_data: int,
              data_width: int, col_rules: list, sheet: SheetSpec
              ) -> tuple[int, tuple[int, int]]:
        name = table.sheet
        last_data = first_data + data_width - 1
        width_last = last_data + len(col_rules)
        if block.title:
            self.label(Area(name, row, 0, row, width_last), block.title, "block_title")
            sheet.heights[row] = 20
            row += 1
        depth = max(len(c.path) for c in block.columns)
        top = row
        # leaf columns; the last one stretches when this block is narrower than the table
        spans = []
        for i, _ in enumerate(block.columns):
            c0 = first_data + i
            c1 = last_data if i == len(block.columns) - 1 else c0
            spans.append((c0, c1))
        for level, i, j, text, leaf in header_groups(block.columns, depth):
            bottom = top + depth - 1 if leaf else top + level
            self.label(Area(name, top + level, spans[i][0], bottom, spans[j][1]), text,
                       "header")
        for r in range(top, top + depth):
            sheet.heights[r] = 30
        if label_cols:
            corner = block.corner or block.stub or ""
            self.label(Area(name, top, 0, top + depth - 1, label_cols - 1), corner,
                       "corner" if block.corner else "header")
        for k, rule in enumerate(col_rules):
            col = last_data + 1 + k
            self.label(Area(name, top, col, top + depth - 1, col), rule.label, "check_header")
        row = top + depth
        # row labels, grouped like the column headers but down the label columns
        rows = block.rows
        for level, i, j, text, leaf in header_groups(rows, label_cols):
            right = label_cols - 1 if leaf else level
            self.label(Area(name, row + i, level, row + j, right), text,
                       "row_label" if leaf else "row_group")
        for ri, r in enumerate(rows):
            for ci, c in enumerate(block.columns):
                fid = ".".join(p for p in (table.id, r.id, c.id) if p)
                area = Area(name, row + ri, spans[ci][0], row + ri, spans[ci][1])
                definer = self.form.definers.get(fid)
                if definer is None:
                    self.input(area, fid)
                else:
                    self.places[fid] = area
            label_w = 44 if label_cols else 10
            sheet.heights[row + ri] = max(20, 15 * _lines(r.path[-1] if r.path else "", label_w)
                                          + 5)
        # computed fields once every place of this block is known
        for ri, r in enumerate(rows):
            for c in block.columns:
                fid = ".".join(p for p in (table.id, r.id, c.id) if p)
                definer = self.form.definers.get(fid)
                if definer is not None:
                    self.formula(FormulaCell(self.places[fid],
                                             excel_side(definer.comparison.rhs, self.address),
                                             "computed", "computed", field=fid, table=table.id))
            for k, rule in enumerate(col_rules):
                inst = next((i for i in self.form.instances
                             if i.rule is rule and self.form.fields[i.anchor].table == table.id
                             and self.places.get(i.anchor, Area("", -1, -1)).row == row + ri),
                            None)
                if inst is not None:
                    self.check_cell(Area(name, row + ri, last_data + 1 + k), inst, table.id)
        return row + len(rows), (top, top + depth - 1)

    def table_widths(self, table: Table, sheet: SheetSpec, label_cols: int, data_width: int,
                     checks: int) -> None:
        if label_cols == 1:
            longest = max(_char_width(r.path[0]) for b in table.blocks for r in b.rows)
            sheet.widths[0] = min(max(longest + 2, 12), 44)
        else:
            for k in range(label_cols - 1):
                groups = [r.path[k] for b in table.blocks for r in b.rows if len(r.path) > k + 1]
                sheet.widths[k] = _balanced_width(groups)
            if label_cols:
                sheet.widths[label_cols - 1] = 40
        single = [_char_width(c.path[-1]) for b in table.blocks for c in b.columns
                  if len(b.columns) == data_width]
        data = 10 if data_width > 5 else min(max(max(single, default=8) + 2, 10), 16)
        for k in range(data_width):
            sheet.widths[label_cols + k] = data
        for k in range(checks):
            sheet.widths[label_cols + data_width + k] = 14
        if not label_cols:
            sheet.widths[0] = max(sheet.widths.get(0, 9), 9)

    # -- prose and instructions -----------------------------------------------------------
    def prose_sheet(self) -> None:
        p = self.form.prose
        sheet = SheetSpec(p.sheet, "prose")
        self.sheets.append(sheet)
        last = 7
        sheet.widths = dict.fromkeys(range(last + 1), 13)
        self.label(Area(p.sheet, 0, 0, 0, last), p.title, "title")
        sheet.heights[0] = 28
        row = 2
        for f in p.fields:
            self.label(Area(p.sheet, row, 0, row, last), f.label, "section")
            sheet.heights[row] = 22
            row += 1
            if f.hint:
                self.label(Area(p.sheet, row, 0, row, last), f.hint, "hint", verify=False)
                row += 1
            self.input(Area(p.sheet, row, 0, row, last), f.id)
            sheet.heights[row] = min(409, 15 * f.lines)
            row += 2
        sheet.last_row, sheet.last_col = row - 2, last

    def instructions_sheet(self) -> None:
        ins = self.form.instructions
        sheet = SheetSpec(ins.sheet, "instructions")
        self.sheets.append(sheet)
        last = 7
        sheet.widths = dict.fromkeys(range(last + 1), 13)
        self.label(Area(ins.sheet, 0, 0, 0, last), ins.title, "title", verify=False)
        sheet.heights[0] = 28
        for i, line in enumerate(ins.lines):
            self.label(Area(ins.sheet, 2 + i, 0, 2 + i, last), line, "hint_text", verify=False)
            sheet.heights[2 + i] = 15 * _lines(line, 104) + 6
        sheet.last_row, sheet.last_col = 1 + len(ins.lines), last


def header_groups(headers: tuple[Header, ...], depth: int
                  ) -> list[tuple[int, int, int, str, bool]]:
    """The merged header cells of a tree given as label paths, level by level: (level,
    first, last header index, label, leaf?). Neighbours sharing a path prefix share a cell;
    a leaf above the deepest level spans down (columns) or across (rows) to the end."""
    out = []
    for level in range(depth):
        i = 0
        while i < len(headers):
            path = headers[i].path
            if len(path) <= level:
                i += 1
                continue
            j = i
            while j + 1 < len(headers) and headers[j + 1].path[: level + 1] == path[: level + 1]:
                j += 1
            leaf = all(len(h.path) == level + 1 for h in headers[i: j + 1])
            out.append((level, i, j, path[level], leaf))
            i = j + 1
    return out


def _refs(cells: list[FormulaCell]) -> list[str]:
    """Check cells as few A1 ranges, grouped by sheet and prefixed with it."""
    out = []
    by_sheet: dict[str, list[FormulaCell]] = {}
    for cell in cells:
        by_sheet.setdefault(cell.area.sheet, []).append(cell)
    for sheet, group in by_sheet.items():
        addresses = sorted((c.area.row, c.area.col) for c in group)
        rects = rectangles(addresses)
        out += [f"{_sheet_ref(sheet)}{a1_range(*r)}" for r in rects]
    return out


def input_rects(form: Form, inputs: dict[str, InputCell], table: str
                ) -> list[tuple[str, list[InputCell]]]:
    """A table's numeric inputs as rectangles (A1 range on the table's sheet, cells), one kind
    per rectangle, for COUNTIF & co. in the live checks."""
    out = []
    for kind in NUMERIC_KINDS:
        cells = [c for c in inputs.values() if form.fields[c.field].table == table
                 and c.kind == kind]
        by_pos = {(c.area.row, c.area.col): c for c in cells}
        for r0, c0, r1, c1 in rectangles(list(by_pos)):
            members = [by_pos[(r, c)] for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
            out.append((a1_range(r0, c0, r1, c1), members))
    return out


def fingerprint(layout: Layout) -> str:
    """A short hash of the locked structure: sheet names, verified labels, formulas and
    input positions. Same fingerprint = same layout, whatever the spec version says."""
    items = [["sheet", s.name] for s in layout.sheets]
    items += [["label", c.area.sheet, c.area.ref, c.text] for c in layout.labels if c.verify]
    items += [["formula", c.area.sheet, c.area.ref, c.excel] for c in layout.formulas]
    items += [["input", c.area.sheet, c.area.ref, f] for f, c in layout.inputs.items()]
    blob = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]

