"""Report upward: this office's merged totals as its return to the level above.

The level above issued this office a signed template (as one unit of its roster). The
return is that template rendered again with the same identity, office tag and signature
(which covers only form, version, structure and identity), now holding the totals: a
field is blank where every unit left it blank, "/" where every unit wrote 不适用, and the
sum otherwise; every formula carries its computed result. The upper level's check and
collect read it as they read a file a person typed. Its _meta also carries the provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nianbao.check import UNUSABLE, check_bytes, os_reason
from nianbao.collect.signing import signed_text
from nianbao.errors import RefusedError
from nianbao.findings import Finding, Severity, blocking
from nianbao.merge.provenance import meta_entries
from nianbao.merge.totals import MergeResult
from nianbao.publish.importer import import_report
from nianbao.read.normalise import NA
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import layout_for
from nianbao.spec.model import Form

# What a template altered after it was issued shows when read (nianbao's own findings).
ALTERED = ("SHEET_MISSING", "LABEL_CHANGED", "FORMULA_CHANGED", "FORM_FINGERPRINT",
           "IDENTITY_EDITED", "IDENTITY_INVALID", "IDENTITY_MISSING")
SHOWN = 5  # findings quoted in a refusal


class UpwardRefused(RefusedError):
    """The return cannot be made; the message (Chinese) says why, each reason on a line.
    exit_code: 2 for a template that cannot be used, 1 for totals that still have errors."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class IssuedTemplate:
    """The template the level above issued to this office, as read from its _meta."""

    file: str
    meta: dict[str, str]

    @property
    def identity(self) -> dict[str, Any]:
        return {"unit.code": self.meta.get("unit_code", ""),
                "unit.name": self.meta.get("unit_name", ""),
                "year": int(self.meta["year"]) if self.meta.get("year", "").isdigit() else None}

    @property
    def upper_office(self) -> str:
        return self.meta.get("office", "").rpartition("#")[0] or "上级单位"


@dataclass(frozen=True)
class Own:
    """Who this workspace reports as: its office (or the --under unit) and year."""

    code: str
    name: str
    year: int


def read_issued(data: bytes, name: str, form: Form, own: Own) -> IssuedTemplate:
    """Read and verify the issued template; refuse with every reason found."""
    result = check_bytes(data, name)
    sub = result.submission
    meta = sub.meta if sub is not None else {}
    reasons: list[str] = []
    if result.status == UNUSABLE and not meta.get("form_id"):
        raise UpwardRefused("\n".join([f"{name} 不能作为上报模板：",
                                       *_quoted(result.findings)]))
    if meta.get("form_id") != form.id:
        reasons.append(f"模板编号不同：下发的模板是“{meta.get('form_id')}”，"
                       f"本工作区使用“{form.id}”")
    elif meta.get("form_version") != form.version:
        reasons.append(f"模板版本不同：下发的模板是 {meta.get('form_version') or '（无）'} 版，"
                       f"本工作区使用 {form.version} 版；请用同一版本的 nianbao 和模板")
    if not meta.get("signature") or "#" not in meta.get("office", ""):
        # a blank template nobody issued: its identity is whatever was typed, say only this
        reasons.append("这不是上级签发的模板（没有下发单位的签名）；请使用上级下发给本单位的模板")
        raise UpwardRefused("\n".join([f"{name} 不能用于上报：", *reasons]))
    altered = [f for f in result.findings if f.code in ALTERED]
    if altered:
        reasons.append("下发的模板已被改动（上级将拒收）：")
        reasons += _quoted(altered)
    elif result.status == UNUSABLE and not reasons:
        reasons += _quoted(result.findings)
    issued = IssuedTemplate(name, dict(meta))
    year = issued.identity["year"]
    if year != own.year:
        reasons.append(f"年度不同：下发的模板是 {year or '（无）'} 年度的，"
                       f"本工作区汇总的是 {own.year} 年度")
    code, unit_name = issued.identity["unit.code"], issued.identity["unit.name"]
    if own.code and code != own.code:
        reasons.append(f"单位不符：这份模板是{issued.upper_office}下发给“{unit_name}”"
                       f"（代码 {code or '（无）'}）的，本工作区是“{own.name}”（代码 {own.code}）")
    elif not own.code and unit_name != own.name:
        reasons.append(f"单位不符：这份模板是{issued.upper_office}下发给“{unit_name}”"
                       f"（代码 {code or '（无）'}）的，本工作区是“{own.name}”（未设单位代码，"
                       "请在 nianbao.toml 中填写 office_code）")
    if reasons:
        raise UpwardRefused("\n".join([f"{name} 不能用于上报：", *reasons]))
    return issued


def _quoted(findings: list[Finding]) -> list[str]:
    lines = [f"  {f.message}" for f in findings[:SHOWN]]
    if len(findings) > SHOWN:
        lines.append(f"  （另有 {len(findings) - SHOWN} 处）")
    return lines


def return_values(result: MergeResult) -> dict[str, Any]:
    """The return's inputs: blank where every unit left a field blank, "/" where every unit
    wrote 不适用, otherwise the total (a mix of blank and 不适用 with no figure stays blank)."""
    layout = layout_for(result.form)
    n = len(result.contributions)
    out: dict[str, Any] = {}
    for fid in layout.inputs:
        if not result.form.fields[fid].numeric:
            continue
        if result.not_applicable[fid] == n:
            out[fid] = "/"
        elif result.blanks[fid] + result.not_applicable[fid] < n:
            out[fid] = result.totals[fid]
    return out


def include_invalid_note(result: MergeResult) -> str:
    """What the return's 说明 says when units with errors were let in (--include-invalid)."""
    invalid = [c.unit for c in result.contributions if c.status == "invalid"]
    names = "、".join(f"{u.name}（{u.code}）" for u in invalid[:10])
    more = f"等 {len(invalid)} 个单位" if len(invalid) > 10 else ""
    errors = sum(f.severity.rank >= Severity.ERROR.rank for f in result.findings)
    text = "本表汇总时选择纳入未通过审核的单位报送的数据（--include-invalid）："
    text += (f"纳入了 {names}{more}的数据" if invalid else "实际没有未通过审核的单位被纳入")
    text += f"；汇总数据校验有 {errors} 处错误。" if errors else "；汇总数据校验无错误。"
    return text


def prose_from(data: bytes, name: str, form: Form) -> dict[str, str]:
    """The office's own text of the prose sections (一、五、六), from its report draft
    (.docx, .md, .html or plain text with the section headings)."""
    imported = import_report(data, name, form)
    prose = {p.id: imported.values[p.id] for p in form.prose.fields
             if isinstance(imported.values.get(p.id), str) and imported.values[p.id].strip()}
    if not prose:
        headings = "、".join(p.label for p in form.prose.fields)
        raise UpwardRefused(f"{name} 中没有找到文字部分（应有标题：{headings}）")
    return prose


def return_workbook(result: MergeResult, issued: IssuedTemplate, *,
                    prose: dict[str, str] | None = None, include_invalid: bool = False,
                    provenance: dict[str, Any] | None = None) -> bytes:
    """The return: the issued template again, signed as issued, holding the totals."""
    if not result.contributions:
        raise UpwardRefused("没有可以汇总的单位（没有审核通过的提交），未生成上报文件")
    if blocking(result.findings) and not include_invalid:
        raise UpwardRefused("\n".join(
            ["汇总数据仍有错误，未生成上报文件；请先改正，或用 --include-invalid "
             "照样上报（将在“说明”栏注明）：", *_quoted(result.findings)]), exit_code=1)
    form = result.form
    values: dict[str, Any] = {**return_values(result), **(prose or {})}
    if include_invalid:
        note = next(t.note.id for t in form.tables if t.note)
        values[note] = include_invalid_note(result)
    meta = {"office": issued.meta.get("office", ""), "signature": issued.meta["signature"],
            **(meta_entries(provenance) if provenance is not None else {})}
    data = render(layout_for(form), RenderOptions(
        identity=issued.identity, lock_identity=True, values=values, meta=meta))
    _verify(data, issued, values)
    return data


def _verify(data: bytes, issued: IssuedTemplate, values: dict[str, Any]) -> None:
    """Read the return back as the level above will: same signed text, same figures."""
    back = check_bytes(data, "上报文件")
    sub = back.submission
    if sub is None or signed_text(sub.meta) != signed_text(issued.meta) or any(
            f.code in ALTERED or f.code.startswith("CACHED_") for f in back.findings):
        raise RuntimeError("nianbao 内部错误：生成的上报文件读回时与下发的模板不一致")
    for fid, value in values.items():
        if not back.form or not back.form.fields[fid].numeric:
            continue
        got = sub.values.get(fid)
        if (got is NA) != (value == "/") or (value != "/" and got != value):
            raise RuntimeError(f"nianbao 内部错误：上报文件中 {fid} 读回为 {got!r}，应为 {value!r}")


def read_text_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UpwardRefused(f"{path}：无法读取（{os_reason(exc)}）") from None
