"""A finding as a filler reads it: where by row and column labels, the rule in words, values.

A clerk knows 「一、本年新收政府信息公开申请数量 / 自然人」, not 依申请公开!D7: the place of a
finding is its field's label path (or the cover or prose label), the cell address only
as a fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nianbao.findings import Severity, title
from nianbao.spec.model import Form

VALUE_WORDS = {"lhs": "左边", "rhs": "右边", "diff": "相差", "found": "填写的值",
               "expected": "应为"}


def finding_place(finding: dict[str, Any], form: Form | None) -> str:
    """Where a finding is, in the form's own labels (「一、本年新收… / 自然人」)."""
    field_id = finding.get("field") or ""
    if form is not None and field_id:
        fld = form.fields.get(field_id)
        if fld is not None:
            return fld.label
        cover = next((c for c in form.cover.fields if c.id == field_id), None)
        if cover is not None:
            return f"{form.cover.title} / {cover.label}"
        prose = next((p for p in form.prose.fields if p.id == field_id), None)
        if prose is not None:
            return prose.label
    if finding.get("sheet") and finding.get("cell"):
        return f"{finding['sheet']}!{finding['cell']}"
    return finding.get("sheet") or "整个文件"


def rule_words(finding: dict[str, Any], form: Form | None) -> str:
    """The rule broken, in words (「R1 …」), or the finding's short title."""
    rule_id = finding.get("rule") or ""
    if form is not None and rule_id:
        rule = next((r for r in form.rules if r.id == rule_id), None)
        if rule is not None:
            return f"{rule.id} {rule.text}"
    return title(finding.get("code") or "")


def value_words(finding: dict[str, Any]) -> str:
    """The values a finding names, as 「左边 5，右边 4，相差 1」."""
    values = finding.get("values") or {}
    parts = [f"{word} {values[k]}" for k, word in VALUE_WORDS.items()
             if values.get(k) not in (None, "")]
    return "，".join(parts)


@dataclass(frozen=True)
class FindingView:
    level: str
    severity: str
    place: str
    rule: str
    values: str
    message: str


def finding_views(findings: list[dict[str, Any]], form: Form | None) -> list[FindingView]:
    """Every finding, most severe first, ready for a page."""
    order = sorted(findings, key=lambda f: -Severity(f.get("severity", "info")).rank)
    return [FindingView(Severity(f.get("severity", "info")).label, f.get("severity", "info"),
                        finding_place(f, form), rule_words(f, form), value_words(f),
                        str(f.get("message") or "")) for f in order]
