"""What goes back to the filler: a feedback workbook and a receipt.

The feedback workbook is a fresh official template, issued and signed again for the same
unit, holding the filler's own values, every cell with a finding highlighted and
commented, and a first sheet 问题清单 listing every finding with a link to its cell. The
filler corrects it and sends it back. The receipt records what was received and the
verdict, for every submission.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nianbao.check import CheckResult
from nianbao.collect.distribute import issue_options
from nianbao.collect.ledger import Verdict
from nianbao.collect.naming import inside
from nianbao.findings import Severity, title
from nianbao.fsutil import atomic_write, atomic_write_text
from nianbao.read.normalise import NA
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import ISSUES_SHEET, NA_MARKERS, layout_for
from nianbao.spec.model import Form
from nianbao.untrusted import looks_like_formula, write_xlsx_text
from nianbao.validate.digest import Digest, digest
from nianbao.validate.wording import finding_fields

if TYPE_CHECKING:
    from nianbao.collect.intake import Context

ISSUE_HEADERS = ("序号", "级别", "位置", "规则", "问题", "填写的值")
STATUS_WORDS = {"valid": "通过", "invalid": "未通过", "rejected": "未受理"}


def write_outputs(result: CheckResult, verdict: Verdict, ctx: Context, folder: Path
                  ) -> dict[str, str]:
    """Write the receipt (always) and the feedback workbook (when there is an error or a
    warning to act on and the file came from a unit of this collection); return paths."""
    unit = verdict.unit_code if verdict.status != "rejected" else None
    unit_name = ctx.units.get(unit or "", "")
    short = result.sha256[:8]
    sub = inside(folder, f"{unit}-{unit_name[:40]}" if unit else "未受理")
    # the unit's name is cut so that the hash at the end always survives in the file name
    base = (unit_name or Path(result.file).stem)[:40]  # (the folder is of this year already)
    out = {}
    receipt = inside(sub, f"{base}-回执-{short}.txt")
    atomic_write_text(receipt, receipt_text(result, verdict, ctx), fsync=False)
    out["receipt"] = str(receipt)
    form = result.form
    to_act_on = any(f["severity"] != "info" for f in verdict.findings)
    if unit and form is not None and to_act_on and result.submission is not None:
        path = inside(sub, f"{base}-反馈-{short}.xlsx")
        atomic_write(path, feedback_workbook(form, result, verdict, ctx), fsync=False)
        out["feedback"] = str(path)
    return out


def feedback_workbook(form: Form, result: CheckResult, verdict: Verdict, ctx: Context) -> bytes:
    """The feedback workbook of one submission: patched into a prepared package when the
    patcher can do it exactly (see feedback_package.py), otherwise rendered in full."""
    from nianbao.collect.feedback_package import writer_for

    opts, issues = feedback_options(form, result, verdict, ctx)
    layout = layout_for(form)
    data = writer_for(layout, ctx.key, ctx.office).workbook(opts, issues)
    return data if data is not None else render(layout, opts)


def feedback_options(form: Form, result: CheckResult, verdict: Verdict, ctx: Context
                     ) -> tuple[RenderOptions, IssueList]:
    """What a feedback workbook holds: the render options (values, marks, identity,
    signature, the 问题清单 sheet) and the rows of 问题清单."""
    layout = layout_for(form)
    sub = result.submission
    assert sub is not None
    values: dict[str, Any] = {}
    for fid in layout.inputs:
        value = sub.values.get(fid)
        raw = sub.raw.get(fid)
        if value is NA:
            values[fid] = raw if isinstance(raw, str) and raw.strip() in NA_MARKERS else "/"
        elif value is not None:
            values[fid] = value
        elif raw is not None:
            values[fid] = raw  # the filler's own wrong entry, shown so it can be corrected
    comments: dict[str, list[str]] = defaultdict(list)
    errors: set[str] = set()
    for f in verdict.findings:
        if (f.get("values") or {}).get("caused_by"):
            continue  # said on its cause
        # a rule finding tints every cell of its equation, not one of them
        for fid in finding_fields(f, form):
            if fid in layout.places:
                comments[fid].append(_brief(f))
                if Severity(f["severity"]).rank >= Severity.ERROR.rank:
                    errors.add(fid)
    marks = {fid: "\n".join(dict.fromkeys(texts))[:1500] for fid, texts in comments.items()}
    identity = {"unit.code": verdict.unit_code, "unit.name": ctx.units.get(
        verdict.unit_code or "", result.identity.get("unit.name")), "year": verdict.year}
    issues = issue_list(form, verdict, result.file)

    def issues_sheet(wb: Any, fmt: Any) -> None:
        _issues_sheet(wb, fmt, issues)

    opts = issue_options(layout, identity, ctx.key, ctx.office, values=values, marks=marks,
                         warned=frozenset(marks) - errors, before=issues_sheet)
    return opts, issues


def _brief(f: dict[str, Any]) -> str:
    """A finding's message without its location prefix (the comment sits on the cell)."""
    text = f["message"]
    for prefix in (f"{f.get('sheet')}!{f.get('cell')}", f"{f.get('sheet')}："):
        if text.startswith(prefix):
            return text[len(prefix):].lstrip("：")
    return text


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


def _issues_sheet(wb: Any, fmt: Any, issues: IssueList) -> None:
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


def receipt_text(result: CheckResult, verdict: Verdict, ctx: Context) -> str:
    """The receipt: what was received from whom, the verdict and what to do. With a BOM and
    CR LF line ends, so that old Windows editors (Notepad) open it correctly."""
    unit = verdict.unit_code or result.identity.get("unit.code") or "（未识别）"
    name = ctx.units.get(verdict.unit_code or "", result.identity.get("unit.name") or "（未识别）")
    status = STATUS_WORDS.get(verdict.status, verdict.status)
    d = digest(verdict.findings, result.form)
    deadline = ctx.deadlines.get(verdict.unit_code or "")
    lines = [
        "政府信息公开工作年度报告 收件回执",
        "",
        f"收集单位：{ctx.office}",
        f"报送单位：{name}（单位代码 {unit}）",
        f"报告年度：{verdict.year or ctx.year}",
        f"收到文件：{Path(result.file).name}（{result.size} 字节）",
        f"文件校验值（SHA-256）：{result.sha256}",
        f"模板版本：{verdict.form_id or '（未识别）'} {verdict.form_version or ''}".rstrip(),
        f"收到时间：{ctx.received_at}",
    ]
    if deadline:
        # (a refused file is not a report: it is neither on time nor late)
        on_time = ctx.received_at[:10] <= deadline if ctx.received_at and \
            verdict.status != "rejected" else None
        when = "" if on_time is None else ("（按时）" if on_time else "（已逾期）")
        lines.append(f"报送截止日期：{deadline}{when}")
    lines += [f"审核结果：{status}", d.counts_text()]
    if verdict.status == "rejected":
        first = next((f for f in verdict.findings if f["code"] == verdict.reason), None)
        lines.append(f"未受理原因：{first['message'] if first else verdict.reason}")
    elif verdict.status == "invalid":
        lines.append("请按随附的反馈表修改后重新报送。")
    elif d.unexplained:
        lines.append("无需重新报送。随附的反馈表列出了提醒：数字无误的，可在该表下方“说明”栏"
                     "注明情况。")
    else:
        lines.append("无需处理。")
    return "\ufeff" + "\r\n".join(lines) + "\r\n"
