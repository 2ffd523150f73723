"""问题清单, the first sheet of a feedback workbook: its summary line and one row per mistake
or group of warnings, computed once for the full render and the patcher alike
(feedback.py and feedback_package.py both use it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nianbao.collect.ledger import Verdict
from nianbao.findings import Severity, title
from nianbao.spec.layout import ISSUES_SHEET
from nianbao.spec.model import Form
from nianbao.untrusted import looks_like_formula, write_xlsx_text
from nianbao.validate.digest import Digest, digest

ISSUE_HEADERS = ("序号", "级别", "位置", "规则", "问题", "填写的值")
STATUS_WORDS = {"valid": "通过", "invalid": "未通过", "rejected": "未受理"}


@dataclass(frozen=True)
class IssueRow:
    """One row of 问题清单: a finding, its place (an internal link when it has a cell)."""

    number: int
    level: str
    link: str | None      # "'sheet'!A1" for a finding with a cell, else None
    place: str
    rule: str
    message: str
    found: str
    height: int           # row height in points


@dataclass(frozen=True)
class IssueList:
    """The texts of 问题清单, computed once for the full render and the patcher alike."""

    summary: str
    rows: tuple[IssueRow, ...]


def issue_list(form: Form, verdict: Verdict, file: str) -> IssueList:
    """The summary line and one row per mistake (its consequences said on it), then one
    per group of warnings and of notes; what the feedback repaired is said first."""
    d = digest(verdict.findings, form)
    rules = {r.id: r for r in form.rules}
    rows: list[IssueRow] = []

    def add(level: str, f: Mapping[str, Any], message: str, cells: tuple[str, ...]) -> None:
        linked = bool(f.get("sheet") and f.get("cell"))
        rule = rules.get(f.get("rule") or "")
        rule_text = f"{rule.id} {rule.text}" if rule else title(f["code"])
        found = (f.get("values") or {}).get("found") if len(cells) <= 1 else None
        place = f"{f['sheet']}!{f['cell']}" if linked else (f.get("sheet") or "整个文件")
        if len(cells) > 1:
            place += f" 等 {len(cells)} 格"
        lines = max(len(message) / 34, len(rule_text) / 14, 1)
        rows.append(IssueRow(
            number=len(rows) + 1, level=level,
            link=f"'{f['sheet']}'!{f['cell']}" if linked else None, place=place,
            rule=rule_text, message=message, found="" if found is None else str(found),
            height=15 * min(int(lines) + 1, 12)))

    for f in d.errors:
        level = "已恢复" if f["code"] in REPAIRED else Severity(f["severity"]).label
        add(level, f, f["message"], ())
    for g in (*d.warnings, *d.notes):
        add(Severity(g.severity).label, g.first, g.message, g.cells)
    return IssueList(summary_text(d, verdict, file), tuple(rows))


# What a feedback workbook puts back as the template has it: a fresh copy of the template
# holds the filler's values only, so a changed label, a lost sheet or an overwritten
# formula is repaired in it (the filler is told, and checks what the totals became).
REPAIRED = ("FORMULA_CHANGED", "LABEL_CHANGED", "SHEET_MISSING", "CACHED_MISMATCH")


def summary_text(d: Digest, verdict: Verdict, file: str) -> str:
    """The top line of 问题清单: the verdict, the counts, what was repaired, what to do."""
    repaired = [f for f in d.errors if f["code"] in REPAIRED]
    left = len(d.errors) - len(repaired)
    status = STATUS_WORDS.get(verdict.status, verdict.status)
    text = f"文件：{Path(file).name}；审核结果：{status}；{d.counts_text()}。"
    if repaired:
        where = "、".join(f"{f['sheet']}!{f['cell']}" if f.get("cell") else title(f["code"])
                         for f in repaired[:3]) + ("等" if len(repaired) > 3 else "")
        text += (f"本反馈表已按模板恢复 {len(repaired)} 处被改动的表格文字或公式（{where}），"
                 "请核对恢复后的合计。")
    if any(g.code == "VALUE_NORMALISED" for g in d.warnings):
        text += "标橙单元格中的数字已按读取的结果填好（不再以文本形式存储）。"
    if verdict.status == "invalid" and left:
        return text + ("请修改标红的单元格（鼠标停在单元格上可看批注），封面“校验结果”显示"
                       "“校验通过”后保存为 .xlsx 重新报送。")
    if verdict.status == "invalid" and d.unexplained:  # warnings block in this collection
        return text + ("请在该表下方“说明”栏说明标橙单元格的情况（或更正），"
                       "保存为 .xlsx 后重新报送。")
    if verdict.status == "invalid":
        return text + "请核对无误后将本反馈表保存为 .xlsx 重新报送。"
    if d.unexplained:
        return text + ("无需重新报送。标橙的单元格是提醒：数字无误的，可在该表下方“说明”栏"
                       "注明情况；需要更正的，改好后保存为 .xlsx 重新报送。")
    return text + "无需处理。"


def issues_sheet(wb: Any, fmt: Any, issues: IssueList) -> None:
    """Write 问题清单 with xlsxwriter (the full render; feedback_package.py patches the same)."""
    ws = wb.add_worksheet(ISSUES_SHEET)
    ws.set_column(0, 0, 6)
    ws.set_column(1, 1, 8)
    ws.set_column(2, 2, 16)
    ws.set_column(3, 3, 30)
    ws.set_column(4, 4, 70)
    ws.set_column(5, 5, 16)
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(3)
    ws.merge_range(0, 0, 0, 5, "数据审核问题清单", fmt("title"))
    ws.set_row(0, 28)
    ws.merge_range(1, 0, 1, 5, issues.summary, fmt("hint"))
    ws.set_row(1, 48)
    for col, text in enumerate(ISSUE_HEADERS):
        ws.write_string(3, col, text, fmt("header"))
    for r in issues.rows:
        row = 3 + r.number
        ws.write_number(row, 0, r.number, fmt("label"))
        ws.write_string(row, 1, r.level, fmt("label"))
        label, quoted = fmt("label"), fmt("label+quoted")
        if r.link is not None:
            ws.write_url(row, 2, f"internal:{r.link}", quoted if looks_like_formula(r.place)
                         else label, string=r.place)
        else:
            write_xlsx_text(ws, row, 2, r.place, label, quoted)
        for col, text in ((3, r.rule), (4, r.message), (5, r.found)):
            write_xlsx_text(ws, row, col, text, label, quoted)
        ws.set_row(row, r.height)
    ws.protect("", {"select_locked_cells": True, "select_unlocked_cells": True,
                    "format_columns": True, "format_rows": True})
