"""What goes back to the filler: a feedback workbook and a receipt.

The feedback workbook is a fresh official template, issued and signed again for the same
unit, holding the filler's own values, every cell with a finding highlighted and
commented, and a first sheet 问题清单 listing every finding with a link to its cell. The
filler corrects it and sends it back. The receipt records what was received and the
verdict, for every submission.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nianbao.check import CheckResult
from nianbao.collect.distribute import issue_options
from nianbao.collect.ledger import Verdict
from nianbao.collect.naming import inside
from nianbao.findings import Severity, title
from nianbao.fsutil import atomic_write, atomic_write_text
from nianbao.read.normalise import NA
from nianbao.render.workbook import render
from nianbao.spec.layout import NA_MARKERS, layout_for
from nianbao.spec.model import Form

if TYPE_CHECKING:
    from nianbao.collect.intake import Context

ISSUES_SHEET = "问题清单"
STATUS_WORDS = {"valid": "通过", "invalid": "未通过（有错误，请按反馈表修改后重新报送）",
                "rejected": "未受理"}


def write_outputs(result: CheckResult, verdict: Verdict, ctx: Context, folder: Path
                  ) -> dict[str, str]:
    """Write the receipt (always) and the feedback workbook (when there is an error or a
    warning to act on and the file came from a unit of this collection); return paths."""
    unit = verdict.unit_code if verdict.status != "rejected" else None
    unit_name = ctx.units.get(unit or "", "")
    short = result.sha256[:8]
    sub = inside(folder, f"{unit}-{unit_name[:40]}" if unit else "未受理")
    # the unit's name is cut so that the hash at the end always survives in the file name
    base = f"{(unit_name or Path(result.file).stem)[:40]}-{ctx.year}年"
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
    for f in verdict.findings:
        if f.get("field") and f["field"] in layout.places:
            comments[f["field"]].append(_brief(f))
    marks = {fid: "\n".join(texts)[:1500] for fid, texts in comments.items()}
    identity = {"unit.code": verdict.unit_code, "unit.name": ctx.units.get(
        verdict.unit_code or "", result.identity.get("unit.name")), "year": verdict.year}

    def issues_sheet(wb: Any, fmt: Any) -> None:
        _issues_sheet(wb, fmt, form, verdict, result.file)

    opts = issue_options(layout, identity, ctx.key, ctx.office, values=values, marks=marks,
                         before=issues_sheet)
    return render(layout, opts)


def _brief(f: dict[str, Any]) -> str:
    """A finding's message without its location prefix (the comment sits on the cell)."""
    text = f["message"]
    prefix = f"{f.get('sheet')}!{f.get('cell')}"
    return text[len(prefix):].lstrip("：") if text.startswith(prefix) else text


def _issues_sheet(wb: Any, fmt: Any, form: Form, verdict: Verdict, file: str) -> None:
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
    status = STATUS_WORDS.get(verdict.status, verdict.status)
    summary = (f"文件：{Path(file).name}；审核结果：{status}；错误 {verdict.errors} 处，"
               f"提醒 {verdict.warnings} 处（已说明 {verdict.explained} 处）。"
               "请在本工作簿的各表中修改标红的单元格（鼠标停在单元格上可看批注），"
               "“校验结果”显示“校验通过”后保存为 .xlsx 重新报送。")
    ws.merge_range(1, 0, 1, 5, summary, fmt("hint"))
    ws.set_row(1, 48)
    for col, text in enumerate(("序号", "级别", "位置", "规则", "问题", "填写的值")):
        ws.write_string(3, col, text, fmt("header"))
    rules = {r.id: r for r in form.rules}
    order = sorted(verdict.findings, key=lambda f: -Severity(f["severity"]).rank)
    for i, f in enumerate(order, start=1):
        row = 3 + i
        ws.write_number(row, 0, i, fmt("label"))
        ws.write_string(row, 1, Severity(f["severity"]).label, fmt("label"))
        if f.get("sheet") and f.get("cell"):
            ws.write_url(row, 2, f"internal:'{f['sheet']}'!{f['cell']}", fmt("label"),
                         string=f"{f['sheet']}!{f['cell']}")
        else:
            ws.write_string(row, 2, f.get("sheet") or "整个文件", fmt("label"))
        rule = rules.get(f.get("rule") or "")
        rule_text = f"{rule.id} {rule.text}" if rule else title(f["code"])
        ws.write_string(row, 3, rule_text, fmt("label"))
        ws.write_string(row, 4, f["message"], fmt("label"))
        found = f.get("values", {}).get("found")
        ws.write_string(row, 5, "" if found is None else str(found), fmt("label"))
        lines = max(len(f["message"]) / 34, len(rule_text) / 14, 1)
        ws.set_row(row, 15 * min(int(lines) + 1, 12))
    ws.protect("", {"select_locked_cells": True, "select_unlocked_cells": True,
                    "format_columns": True, "format_rows": True})


def receipt_text(result: CheckResult, verdict: Verdict, ctx: Context) -> str:
    unit = verdict.unit_code or result.identity.get("unit.code") or "（未识别）"
    name = ctx.units.get(verdict.unit_code or "", result.identity.get("unit.name") or "（未识别）")
    status = STATUS_WORDS.get(verdict.status, verdict.status)
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
        f"审核结果：{status}",
        f"错误 {verdict.errors} 处，提醒 {verdict.warnings} 处（已说明 {verdict.explained} 处）",
    ]
    if verdict.status == "rejected":
        first = next((f for f in verdict.findings if f["code"] == verdict.reason), None)
        lines.append(f"未受理原因：{first['message'] if first else verdict.reason}")
    elif verdict.errors:
        lines.append("请按随附的反馈表修改后重新报送。")
    return "\n".join(lines) + "\n"
