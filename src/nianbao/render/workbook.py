"""Render a form's layout as an .xlsx workbook with xlsxwriter.

Labels, totals and checks are locked; input cells are unlocked, tinted and validated; every
formula is written with the value nianbao computed for it, so the file shows the truth even
in an application that does not recalculate. Output is byte-for-byte deterministic.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from nianbao.cells import a1_range, rectangles
from nianbao.spec.layout import META_KEYS, META_SHEET, NA_MARKERS, Area, InputCell, Layout
from nianbao.spec.model import AMOUNT, CODE, COUNT, NUMERIC_KINDS, TEXT, YEAR
from nianbao.untrusted import QUOTED
from nianbao.validate.evaluate import sheet_values
from nianbao.version import __version__

# Fixed creation time: the same inputs give the same bytes.
FIXED_TIME = datetime(2021, 9, 29)

INPUT_FILL = "#FFF2CC"
LOCKED_FILL = "#EDEDED"
HEADER_FILL = "#D9E1F2"
CHECK_FILL = "#F2F2F2"
AMBER_FILL = "#F8CBAD"  # a warning: to look at, not to correct (orange, not the inputs' yellow)
RED = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}
GREEN = {"bg_color": "#C6EFCE", "font_color": "#006100"}
AMBER = {"bg_color": "#F8CBAD", "font_color": "#843C0C"}


@dataclass
class RenderOptions:
    """What varies between copies of one form's template."""

    identity: Mapping[str, Any] = field(default_factory=dict)  # unit.name/unit.code/year
    lock_identity: bool = False         # the identity given is issued: locked, and in _meta
    values: Mapping[str, Any] = field(default_factory=dict)    # field id -> value to fill in
    password: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)      # extra _meta entries
    marks: Mapping[str, str] = field(default_factory=dict)     # field id -> comment (feedback)
    warned: frozenset[str] = frozenset()  # marked fields with only warnings: amber, not red
    before: Callable[[Workbook, Callable[[str], Any]], None] | None = None  # extra first sheet
    after: Callable[[Workbook, Callable[[str], Any]], None] | None = None   # extra last sheets
    lock_inputs: bool = False           # a read-only copy (merged totals): nothing to fill
    cover_note: str | None = None       # instead of the cover's hint (what a merged copy is)
    omit_sheets: frozenset[str] = frozenset()  # sheets without fields left out (填报说明)


class _Worksheet(Worksheet):
    """xlsxwriter's worksheet, remembering how it prepared each formula text: a template
    repeats the same few hundred formulas in every copy, and preparing one runs dozens of
    regular expressions. The result is exactly xlsxwriter's own."""

    _prepared: ClassVar[dict[tuple[str, bool], str]] = {}

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        key = (formula, expand_future_functions)
        done = self._prepared.get(key)
        if done is None:
            done = super()._prepare_formula(formula, expand_future_functions)
            if len(self._prepared) < 20_000:
                self._prepared[key] = done
        return done


class _Workbook(xlsxwriter.Workbook):
    worksheet_class = _Worksheet


def render(layout: Layout, options: RenderOptions | None = None) -> bytes:
    """The workbook as bytes."""
    opts = options or RenderOptions()
    buf = io.BytesIO()
    wb = _Workbook(buf, {"in_memory": True, "strings_to_numbers": False,
                         "strings_to_formulas": False, "strings_to_urls": False})
    _Writer(layout, opts, wb).write()
    wb.close()
    return buf.getvalue()


def meta_values(layout: Layout, opts: RenderOptions) -> dict[str, str]:
    """The identity block stored in the hidden _meta sheet."""
    ident = opts.identity if opts.lock_identity else {}
    meta = {k: "" for k in META_KEYS}
    meta.update({
        "form_id": layout.form.id, "form_version": layout.form.version,
        "fingerprint": layout.fingerprint,
        "unit_code": str(ident.get("unit.code") or ""), "unit_name": str(ident.get("unit.name")
                                                                        or ""),
        "year": str(ident.get("year") or ""), "generator": f"nianbao {__version__}",
    })
    meta.update({k: str(v) for k, v in opts.meta.items()})
    return meta


class _Writer:
    def __init__(self, layout: Layout, opts: RenderOptions, wb: Workbook) -> None:
        self.layout, self.opts, self.wb = layout, opts, wb
        self.font = layout.form.font
        self.formats: dict[str, Any] = {}
        self.sheets: dict[str, Worksheet] = {}

    def fmt(self, style: str) -> Any:
        """The format of a style; "label+quoted" is label with a quote prefix (text shown as
        typed and never taken as a formula, see nianbao.untrusted)."""
        if style not in self.formats:
            name, quoted, _ = style.partition("+quoted")
            props = self.style(name)
            self.formats[style] = self.wb.add_format({**props, **QUOTED} if quoted else props)
        return self.formats[style]

    def style(self, style: str) -> dict[str, Any]:
        base: dict[str, Any] = {"font_name": self.font, "font_size": 11, "valign": "vcenter"}
        box = {"border": 1, "text_wrap": True}
        name, _, num = style.partition(":")
        extra: dict[str, Any] = {
            "title": {"bold": True, "font_size": 16, "align": "center"},
            "hint": {"font_color": "#595959", "text_wrap": True, "font_size": 10},
            "hint_text": {"text_wrap": True},
            "version": {"font_color": "#595959", **box},
            "label": {**box},
            "header": {**box, "bold": True, "align": "center", "bg_color": HEADER_FILL},
            "corner": {**box, "align": "center", "font_size": 9, "bg_color": HEADER_FILL},
            "block_title": {**box, "bold": True, "align": "center", "bg_color": HEADER_FILL},
            "row_label": {**box},
            "row_group": {**box, "align": "center"},
            "check_label": {**box, "align": "right", "font_color": "#595959",
                            "bg_color": CHECK_FILL, "font_size": 10},
            "check_header": {**box, "align": "center", "font_color": "#595959",
                             "bg_color": CHECK_FILL, "font_size": 10},
            "status_label": {**box, "bold": True, "align": "center", "bg_color": HEADER_FILL},
            "status": {**box, "bold": True, "font_size": 12},
            "section": {"bold": True, "font_size": 12},
            "note_label": {"bold": True},
            "computed": {**box, "align": "center", "bg_color": CHECK_FILL, "num_format": "0"},
            "check": {**box, "align": "center", "bg_color": CHECK_FILL, "font_size": 10,
                      "num_format": num},
            "count": {**box, "align": "center", "num_format": num},
            "input": {**box, "bg_color": INPUT_FILL, "locked": False, "align": "center",
                      "num_format": num or "General"},
            "input_text": {**box, "bg_color": INPUT_FILL, "locked": False, "align": "left",
                           "valign": "top", "num_format": "@"},
            "identity": {**box, "bg_color": INPUT_FILL, "locked": False, "align": "left",
                         "num_format": num or "@"},
            "identity_locked": {**box, "bg_color": LOCKED_FILL, "align": "left",
                                "num_format": num or "@"},
            "locked": {**box, "bg_color": LOCKED_FILL, "align": "center",
                       "num_format": num or "General"},
            "locked_text": {**box, "bg_color": LOCKED_FILL, "align": "left", "valign": "top"},
            "marked": {**box, "bg_color": "#FFC7CE", "locked": False, "align": "center",
                       "num_format": num or "General", "border_color": "#C00000"},
            "marked_text": {**box, "bg_color": "#FFC7CE", "locked": False, "align": "left",
                            "valign": "top", "border_color": "#C00000", "num_format": "@"},
            "warned": {**box, "bg_color": AMBER_FILL, "locked": False, "align": "center",
                       "num_format": num or "General", "border_color": "#C55A11"},
            "warned_text": {**box, "bg_color": AMBER_FILL, "locked": False, "align": "left",
                            "valign": "top", "border_color": "#C55A11", "num_format": "@"},
            "meta": {},
        }[name]
        return {**base, **extra}

    def write(self) -> None:
        if self.opts.before:
            self.opts.before(self.wb, self.fmt)
        omit = {s.name for s in self.layout.sheets if s.role == "instructions"} \
            & self.opts.omit_sheets
        for spec in self.layout.sheets:
            if spec.name in omit:
                continue
            ws = self.wb.add_worksheet(spec.name)
            self.sheets[spec.name] = ws
            self.page(ws, spec)
        cover = self.layout.form.cover
        for label in self.layout.labels:
            if label.area.sheet in omit:
                continue
            text = label.text
            if self.opts.cover_note and label.area.sheet == cover.sheet and text == cover.hint:
                text = self.opts.cover_note
            self.put(label.area, text, self.fmt(label.style))
        self.write_inputs()
        self.write_formulas()
        for ws in self.sheets.values():
            ws.protect(self.opts.password or "", {
                "select_locked_cells": True, "select_unlocked_cells": True,
                "format_columns": True, "format_rows": True,
            })
        if self.opts.after:
            self.opts.after(self.wb, self.fmt)
        self.write_meta()
        self.wb.worksheets()[0].activate()

    def page(self, ws: Worksheet, spec: Any) -> None:
        for col, width in spec.widths.items():
            ws.set_column(col, col, width)
        for row, height in spec.heights.items():
            ws.set_row(row, height)
        ws.set_paper(9)  # A4
        if spec.landscape:
            ws.set_landscape()
        # each official table on one page, as the official form prints; others fit the width
        ws.fit_to_pages(1, 1 if spec.role in ("table", "cover") else 0)
        ws.center_horizontally()
        ws.set_margins(left=0.5, right=0.5, top=0.7, bottom=0.6)
        ws.print_area(0, 0, spec.last_row, spec.last_col)
        if spec.repeat_rows:
            ws.repeat_rows(*spec.repeat_rows)
        header = page_header(self.opts.identity, cover=spec.role == "cover")
        if header:
            ws.set_header(header)
        ws.set_footer("&C第 &P 页，共 &N 页")
        ws.hide_gridlines(2)

    def put(self, area: Area, value: Any, fmt: Any) -> None:
        ws = self.sheets[area.sheet]
        if area.merged:
            ws.merge_range(area.row, area.col, area.last_row, area.last_col, "", fmt)
        _write_value(ws, area.row, area.col, value, fmt)

    def write_inputs(self) -> None:
        form, opts = self.layout.form, self.opts
        ident = {k: opts.identity[k] for k in opts.identity if k in form.fields}
        values = {**opts.values, **ident}
        for fid, cell in self.layout.inputs.items():
            value = values.get(fid)
            style = self.input_style(cell, fid)
            self.put(cell.area, value, self.fmt(style))
            if not style.startswith(("identity_locked", "locked")) and not (
                    cell.kind in NUMERIC_KINDS and form.fields[fid].table):
                self.validate(cell)
            if fid in opts.marks:
                ws = self.sheets[cell.area.sheet]
                ws.write_comment(cell.area.row, cell.area.col, opts.marks[fid],
                                 {"x_scale": 2.2, "y_scale": 1.6, "font_name": self.font})
        for table in form.tables:
            for ref, cells in self.layout.input_rects(table.id):
                # one rule per rectangle, relative to its top-left cell: a small file
                if not opts.lock_inputs:
                    self.validate(cells[0], ref)
                self.highlight_invalid(cells[0], ref)

    def input_style(self, cell: InputCell, fid: str) -> str:
        kind = cell.kind
        if fid in (f.id for f in self.layout.form.cover.fields):
            if self.opts.lock_inputs or (self.opts.lock_identity
                                         and self.opts.identity.get(fid) not in (None, "")):
                return "identity_locked:" + ("0" if kind == YEAR else "@")
            return "identity:" + ("0" if kind == YEAR else "@")
        num = {COUNT: "0", AMOUNT: "General"}.get(kind, "")
        if self.opts.lock_inputs:
            return "locked_text" if kind in (TEXT, CODE) else "locked:" + num
        marked = "warned" if fid in self.opts.warned else "marked"
        if fid not in self.opts.marks:
            marked = "input"
        if kind in (TEXT, CODE):
            return marked + "_text"
        return marked + ":" + num

    def validate(self, cell: InputCell, ref: str | None = None) -> None:
        """Data validation of `cell`, or of the range `ref` whose top-left cell it is."""
        ws = self.sheets[cell.area.sheet]
        a = cell.area
        top = a.a1
        na = cell.not_applicable
        rule: dict[str, Any]
        if cell.kind == COUNT and not na:
            rule = {"validate": "integer", "criteria": ">=", "value": 0,
                    "input_title": "请填写件数",
                    "input_message": "填写不小于 0 的整数，没有的填 0。",
                    "error_title": "输入有误",
                    "error_message": "件数应为不小于 0 的整数，没有的填 0。"}
        elif cell.kind == AMOUNT and not na:
            rule = {"validate": "decimal", "criteria": ">=", "value": 0,
                    "input_title": "请填写金额（万元）",
                    "input_message": "以万元为单位，填写不小于 0 的数，可保留小数，没有的填 0。",
                    "error_title": "输入有误",
                    "error_message": "金额应为不小于 0 的数（单位：万元）。"}
        elif cell.kind in NUMERIC_KINDS:
            whole = f",{top}=INT({top})" if cell.kind == COUNT else ""
            markers = ",".join(f'{top}="{m}"' for m in NA_MARKERS)
            what = "不小于 0 的整数" if cell.kind == COUNT else "不小于 0 的数（万元）"
            rule = {"validate": "custom",
                    "value": f"=OR(AND(ISNUMBER({top}),{top}>=0{whole}),{markers})",
                    "input_title": "请填写数字",
                    "input_message": f"填写{what}；本机关没有此项职能的填“/”。",
                    "error_title": "输入有误",
                    "error_message": f"应填写{what}，或填“/”表示不适用。"}
        elif cell.kind == YEAR:
            rule = {"validate": "integer", "criteria": "between", "minimum": 2000,
                    "maximum": 2100, "input_title": "报告年度", "input_message": "例如 2022",
                    "error_title": "输入有误", "error_message": "请填写四位数的年度，例如 2022。"}
        elif cell.kind == CODE:
            rule = {"validate": "length", "criteria": "between", "minimum": 1, "maximum": 64,
                    "input_title": "单位代码", "input_message": "填写下发通知中的单位代码。",
                    "error_title": "输入有误", "error_message": "单位代码应为 1 至 64 个字符。"}
        else:
            return
        if ref is not None:
            ws.data_validation(ref, rule)
        else:
            ws.data_validation(a.row, a.col, a.last_row, a.last_col, rule)

    def highlight_invalid(self, cell: InputCell, ref: str) -> None:
        """Mark a typed value that breaks R8 as soon as it is entered (text, <0, fraction)."""
        ws = self.sheets[cell.area.sheet]
        top = cell.area.a1
        number_bad = f"OR({top}<0,{top}<>INT({top}))" if cell.kind == COUNT else f"{top}<0"
        text_ok = "".join(f',{top}<>"{m}"' for m in NA_MARKERS) if cell.not_applicable else ""
        ws.conditional_format(ref, {
            "type": "formula",
            "criteria": f'=IF(ISNUMBER({top}),{number_bad},AND({top}<>""{text_ok}))',
            "format": self.color("red"),
        })

    def color(self, name: str) -> Any:
        """The shared red/amber/green formats of conditional formatting."""
        if name not in self.formats:
            self.formats[name] = self.wb.add_format({"red": RED, "amber": AMBER,
                                                     "green": GREEN}[name])
        return self.formats[name]

    def write_formulas(self) -> None:
        cached = sheet_values(self.layout, dict(self.opts.values))
        green = self.color("green")
        for cell in self.layout.formulas:
            a = cell.area
            ws = self.sheets[a.sheet]
            fmt = self.fmt(cell.style)
            if a.merged:
                ws.merge_range(a.row, a.col, a.last_row, a.last_col, "", fmt)
            value = cached[a.key]
            value = float(value) if isinstance(value, Decimal) else value
            if cell.array:
                ws.write_array_formula(a.row, a.col, a.row, a.col, "{=" + cell.excel + "}", fmt,
                                       value)
            else:
                ws.write_formula(a.row, a.col, "=" + cell.excel, fmt, value)
            if cell.field in self.opts.marks:
                ws.write_comment(a.row, a.col, self.opts.marks[cell.field],
                                 {"x_scale": 2.2, "y_scale": 1.6, "font_name": self.font})
            if cell.role in ("values", "unbalanced", "invalid"):
                self.verdict_colours(ws, a.ref)
            elif cell.role == "blank":
                ws.conditional_format(a.ref, {"type": "cell", "criteria": "==", "value": 0,
                                              "format": green})
            elif cell.role in ("status", "table_status"):
                self.status_colours(ws, a)

        # the many check cells get their colours by block, not one by one: a smaller file
        checks = [c.area for c in self.layout.formulas if c.role == "check"]
        for sheet in dict.fromkeys(a.sheet for a in checks):
            cells = [(r, c) for a in checks if a.sheet == sheet
                     for r in range(a.row, a.last_row + 1)
                     for c in range(a.col, a.last_col + 1)]
            for rect in rectangles(cells):
                self.verdict_colours(self.sheets[sheet], a1_range(*rect))

    def status_colours(self, ws: Worksheet, a: Area) -> None:
        """Green only for a complete and balanced form ("…校验通过" and nothing more),
        amber while only blank cells remain, red for anything to correct."""
        done = f'RIGHT({a.a1},4)="校验通过"'
        blanks = f'AND(NOT({done}),ISNUMBER(SEARCH("未填写",{a.a1})),' \
                 f'ISERROR(SEARCH("标红",{a.a1})))'
        for criteria, colour in ((done, "green"), (blanks, "amber"),
                                 (f"AND(NOT({done}),NOT({blanks}))", "red")):
            ws.conditional_format(a.ref, {"type": "formula", "criteria": "=" + criteria,
                                          "format": self.color(colour)})

    def verdict_colours(self, ws: Worksheet, ref: str) -> None:
        """Red where a check (a difference, a count of errors) is not 0, green where it is."""
        ws.conditional_format(ref, {"type": "cell", "criteria": "!=", "value": 0,
                                    "format": self.color("red")})
        ws.conditional_format(ref, {"type": "cell", "criteria": "==", "value": 0,
                                    "format": self.color("green")})

    def write_meta(self) -> None:
        ws = self.wb.add_worksheet(META_SHEET)
        for row, (key, value) in enumerate(meta_values(self.layout, self.opts).items()):
            ws.write_string(row, 0, key)
            ws.write_string(row, 1, value)
        ws.protect(self.opts.password or "")
        ws.very_hidden()
        self.wb.set_properties({
            "title": f"{self.layout.form.title}统计表", "subject": self.layout.version_text,
            "author": "nianbao", "created": FIXED_TIME, "comments": self.layout.fingerprint,
        })


_HEADER_UNSAFE = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def page_header(identity: Mapping[str, Any], cover: bool = True) -> str:
    """The printed page header: the unit's name left, the year right (none when blank).
    Only the cover names the unit; the other sheets print the workbook's file name (issued
    as 「单位-年度…」) so that they stay byte for byte the same in every unit's copy: the
    reader remembers those parts of a template by their bytes. An & is doubled: Excel
    reads & in headers as a code."""
    name = _HEADER_UNSAFE.sub("", str(identity.get("unit.name") or ""))[:60]
    name = name.replace("&", "&&").replace("[Picture]", "［Picture］")  # (an image code)
    year = identity.get("year")
    if not name and not year:
        return ""
    left = (f"&L{name}" if name else "") if cover else "&L&F"
    return left + (f"&R{year} 年度" if year else "")


def _write_value(ws: Worksheet, row: int, col: int, value: Any, fmt: Any) -> None:
    if value is None or value == "":
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, int | float) and math.isfinite(value):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, Decimal):
        ws.write_number(row, col, float(value), fmt)
    else:
        ws.write_string(row, col, str(value), fmt)
