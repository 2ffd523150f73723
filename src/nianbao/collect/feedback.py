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
from nianbao.collect.issue_list import STATUS_WORDS, IssueList, issue_list, issues_sheet
from nianbao.collect.ledger import Verdict
from nianbao.collect.naming import inside
from nianbao.findings import Severity
from nianbao.fsutil import atomic_write, atomic_write_text
from nianbao.read.normalise import NA
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import NA_MARKERS, layout_for
from nianbao.spec.model import Form
from nianbao.validate.digest import digest
from nianbao.validate.wording import finding_fields

if TYPE_CHECKING:
    from nianbao.collect.judging import Context



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

    def first_sheet(wb: Any, fmt: Any) -> None:
        issues_sheet(wb, fmt, issues)

    opts = issue_options(layout, identity, ctx.key, ctx.office, values=values, marks=marks,
                         warned=frozenset(marks) - errors, before=first_sheet)
    return opts, issues


def _brief(f: dict[str, Any]) -> str:
    """A finding's message without its location prefix (the comment sits on the cell)."""
    text = f["message"]
    for prefix in (f"{f.get('sheet')}!{f.get('cell')}", f"{f.get('sheet')}："):
        if text.startswith(prefix):
            return text[len(prefix):].lstrip("：")
    return text


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
