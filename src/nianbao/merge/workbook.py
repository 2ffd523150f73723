"""The consolidated workbook: merged totals in the official layout, read-only, with the
provenance of every figure and the per-unit detail."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from nianbao.merge.totals import MergeResult
from nianbao.read.normalise import NA
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import layout_for
from nianbao.untrusted import QUOTED, write_xlsx_text

PROVENANCE_SHEET = "汇总来源"
DETAIL_SHEET = "明细"
MAX_ROWS = 1_000_000  # Excel holds 1,048,576 rows a sheet; longer details continue on


def merged_workbook(result: MergeResult, detail: bool = True, *, office: str = "",
                    office_code: str = "", as_of: str = "") -> bytes:
    """The 汇总 workbook: its own cover (the collecting office, how many units are in it as
    of when, what is left out), no 填报说明, the sources and the detail set up to print."""
    layout = layout_for(result.form)
    inputs = {fid: v for fid, v in result.totals.items() if fid in layout.inputs}
    identity = dict(result.identity)
    if not identity.get("unit.code") and office_code:
        identity["unit.code"] = office_code

    def extra(wb: Any, fmt: Any) -> None:
        _provenance(wb, fmt, result)
        if detail:
            _detail(wb, fmt, result)

    opts = RenderOptions(identity=identity, lock_identity=True, values=inputs,
                         lock_inputs=True, after=extra,
                         meta={"office": "汇总", "signature": ""},
                         cover_note=cover_note(result, office, office_code, as_of),
                         omit_sheets=frozenset({result.form.instructions.sheet}))
    return render(layout, opts)


def cover_note(result: MergeResult, office: str, office_code: str, as_of: str) -> str:
    """What the 汇总 cover says instead of the filler's instructions."""
    n = len(result.contributions)
    total = n + len(result.left_out)
    when = f"（截至 {as_of}）" if as_of else ""
    by = f"汇总单位：{office}" + (f"（代码 {office_code}）" if office_code else "") + "。" \
        if office else ""
    text = f"{by}汇总：纳入 {n} / {total} 个单位{when}。"
    if result.left_out:
        why: dict[str, int] = {}
        for _, reason in result.left_out:
            why[reason] = why.get(reason, 0) + 1
        text += (f"未纳入 {len(result.left_out)} 个（"
                 + "，".join(f"{k} {v} 个" for k, v in why.items())
                 + "），逐一列在“汇总来源”表中。")
    return text + "本表数字为汇总结果，已锁定。"


def _provenance(wb: Any, fmt: Any, result: MergeResult) -> None:
    ws = wb.add_worksheet(PROVENANCE_SHEET)
    widths = (14, 30, 10, 8, 36, 18, 16, 6, 6, 6, 40)
    for i, w in enumerate(widths):
        ws.set_column(i, i, w)
    _print_setup(ws, 2)
    scope = result.identity["unit.name"]
    ws.merge_range(0, 0, 0, len(widths) - 1, f"{scope} {result.year} 年度汇总来源",
                   fmt("title"))
    ws.set_row(0, 28)
    head = ("单位代码", "单位名称", "审核结果", "提交编号", "文件校验值（SHA-256）", "模板版本",
            "收到时间", "错误", "提醒", "已说明", "填报单位说明")
    for col, text in enumerate(head):
        ws.write_string(2, col, text, fmt("header"))
    notes = [t.note.id for t in result.form.tables if t.note]
    row = 3
    for c in result.contributions:
        v = c.row.verdict
        explanation = "；".join(str(c.values.get(n)) for n in notes if c.values.get(n))
        verdict = "通过" if c.status == "valid" else "有错误（按要求纳入）"
        cells = (c.unit.code, c.unit.name, verdict,
                 c.row.id, c.row.sha256, f"{v.form_id or ''} {v.form_version or ''}".strip(),
                 c.row.received_at, v.errors, v.warnings, v.explained, explanation)
        for col, value in enumerate(cells):
            _put(ws, row, col, value, fmt("label"), fmt("label+quoted"))
        ws.set_row(row, 30)  # the file's hash on two lines: printed whole, not cut
        row += 1
    row += 1
    ws.merge_range(row, 0, row, 3, f"未纳入汇总的单位（{len(result.left_out)} 个）",
                   fmt("section"))
    row += 1
    for col, text in enumerate(("单位代码", "单位名称")):
        ws.write_string(row, col, text, fmt("header"))
    ws.merge_range(row, 2, row, 5, "原因", fmt("header"))
    for unit, why in result.left_out:
        row += 1
        write_xlsx_text(ws, row, 0, unit.code, fmt("label"), fmt("label+quoted"))
        write_xlsx_text(ws, row, 1, unit.name, fmt("label"), fmt("label+quoted"))
        ws.merge_range(row, 2, row, 5, why, fmt("label"))
    ws.protect("", {"select_locked_cells": True, "select_unlocked_cells": True,
                    "format_columns": True, "autofilter": True})


def _detail(wb: Any, fmt: Any, result: MergeResult) -> None:
    form = result.form
    numeric = [f for f in form.fields.values() if f.numeric]
    ws, row, part = None, 0, 0
    quoted = wb.add_format(QUOTED)
    for c in result.contributions:
        for f in numeric:
            if ws is None or row >= MAX_ROWS:
                part += 1
                ws = wb.add_worksheet(DETAIL_SHEET if part == 1 else f"{DETAIL_SHEET}{part}")
                for i, w in enumerate((14, 30, 36, 60, 12)):
                    ws.set_column(i, i, w)
                head = ("单位代码", "单位名称", "字段标识", "标签路径", "数值")
                for col, text in enumerate(head):
                    ws.write_string(0, col, text, fmt("header"))
                ws.freeze_panes(1, 0)
                _print_setup(ws, 0)
                row = 1
            value = c.values.get(f.id)
            for col, cell in enumerate((c.unit.code, c.unit.name, f.id, f.label)):
                write_xlsx_text(ws, row, col, cell, None, quoted)
            _put(ws, row, 4, "/" if value is NA else value, None, quoted)
            row += 1


def _print_setup(ws: Any, header_row: int) -> None:
    """Landscape A4, fit to the width, the header row repeated on every page."""
    ws.set_paper(9)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.repeat_rows(header_row)
    ws.set_footer("&C第 &P 页，共 &N 页")


def _put(ws: Any, row: int, col: int, value: Any, fmt: Any, quoted: Any) -> None:
    if value is None:
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        ws.write_number(row, col, float(value), fmt)
    else:
        write_xlsx_text(ws, row, col, str(value), fmt, quoted)
