"""A published report against what the same unit submitted for the same year, field by field.

The submission compared with is the one that counts in the ledger (the latest valid one,
else the latest one with errors; imported published reports and rejected files are not
submissions). Only figures read from the published report are compared: a cell that could
not be read is no difference. Blank, not applicable and 0 stay distinct.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nianbao.collect.ledger import Ledger, Row
from nianbao.findings import Finding, make
from nianbao.publish.report import format_value
from nianbao.read.normalise import NA, from_json
from nianbao.spec.model import Form


@dataclass
class Comparison:
    """The outcome for one published report: which submission, and the fields that differ."""

    unit_code: str
    year: int
    submission: int | None = None
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)  # (field, pub, sub)

    def to_dict(self, form: Form) -> dict[str, Any]:
        return {"unit_code": self.unit_code, "year": self.year, "submission": self.submission,
                "differences": [{"field": fid, "label": form.fields[fid].label,
                                 "published": format_value(p), "submitted": format_value(s)}
                                for fid, p, s in self.differences]}


def counted_submission(ledger: Ledger, unit_code: str, year: int) -> Row | None:
    """The unit's submission that counts for the year, or None."""
    best: Row | None = None
    for row in ledger.rows(unit_code=unit_code, year=year):
        if row.kind == "published" or row.verdict.status == "rejected":
            continue
        if best is None or row.verdict.status == "valid" or best.verdict.status != "valid":
            best = row
    return best


def compare(form: Form, published: dict[str, Any], ledger: Ledger, unit_code: str,
            year: int) -> Comparison:
    """Every figure read from the published report that differs from the submission."""
    out = Comparison(unit_code, year)
    row = counted_submission(ledger, unit_code, year)
    if row is None:
        return out
    out.submission = row.id
    raw = row.verdict.record.get("values", {})
    for f in form.fields.values():
        if not f.numeric or f.id not in published:
            continue
        submitted = from_json(raw.get(f.id), f.kind)
        if not _same(published[f.id], submitted):
            out.differences.append((f.id, published[f.id], submitted))
    return out


def findings(form: Form, comparison: Comparison, report: str, unit_name: str) -> list[Finding]:
    """The comparison in the report's findings: one per differing field, or why none."""
    if comparison.submission is None:
        return [make("PUBLISHED_NOT_SUBMITTED", file=report, report=report, unit=unit_name,
                     unit_code=comparison.unit_code, year=comparison.year)]
    return [make("PUBLISHED_DIFFERS", file=report, report=report, field=fid,
                 sheet=form.table(form.fields[fid].table or "").title,
                 cell=form.fields[fid].label, published=_shown(p), submitted=_shown(s),
                 submission=comparison.submission)
            for fid, p, s in comparison.differences]


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None or a is NA or b is NA:
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a.strip() == b.strip()
    return bool(a == b)


def _shown(value: Any) -> str:
    return "空白" if value is None else format_value(value)
