"""Merge: the area's totals, by field id, over the submission that counts for each unit.

By default only units with a valid submission contribute; units with errors, rejected or
missing files are left out and listed with the reason (`include_invalid` adds the latest
usable submission of units with errors, marked as such in the provenance). Blank and
"not applicable" count as 0 in a total; how many of each went into a field is recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nianbao.collect.conflicts import order_key
from nianbao.collect.ledger import Ledger, Row
from nianbao.collect.roster import Unit, subtree
from nianbao.findings import Finding
from nianbao.read.normalise import NA, from_json, json_values
from nianbao.spec.model import AMOUNT, Form
from nianbao.validate.rules import check_rules


@dataclass
class Contribution:
    unit: Unit
    row: Row
    status: str                 # valid | invalid (only with include_invalid)
    values: dict[str, Any]


@dataclass
class MergeResult:
    form: Form
    year: int
    scope: Unit | None
    identity: dict[str, Any]
    totals: dict[str, Any]
    contributions: list[Contribution] = field(default_factory=list)
    left_out: list[tuple[Unit, str]] = field(default_factory=list)
    blanks: Counter[str] = field(default_factory=Counter)
    not_applicable: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "form": {"id": self.form.id, "version": self.form.version},
            "year": self.year,
            "scope": self.scope.code if self.scope else None,
            "identity": json_values(self.identity),
            "totals": json_values(self.totals),
            "contributors": [{"unit": c.unit.code, "name": c.unit.name, "status": c.status,
                              "submission": c.row.id, "sha256": c.row.sha256,
                              "form_version": c.row.verdict.form_version,
                              "received_at": c.row.received_at,
                              "errors": c.row.verdict.errors, "warnings": c.row.verdict.warnings,
                              "explained": c.row.verdict.explained}
                             for c in self.contributions],
            "left_out": [{"unit": u.code, "name": u.name, "why": why}
                         for u, why in self.left_out],
            "blanks": dict(self.blanks), "not_applicable": dict(self.not_applicable),
            "findings": [f.to_dict() for f in self.findings],
        }


LEFT_OUT_WORDS = {"invalid": "报送的文件有错误（未通过审核）", "rejected": "报送的文件未受理",
                  "missing": "未报送"}


def counting_rows(ledger: Ledger, year: int) -> dict[str, dict[str, Row]]:
    """Per unit code: its latest valid and latest invalid collected submission for `year`."""
    out: dict[str, dict[str, Row]] = {}
    for row in sorted(ledger.rows(year=year), key=order_key):  # the one that counts last
        v = row.verdict
        if row.kind == "workbook" and v.unit_code and v.status in ("valid", "invalid"):
            out.setdefault(v.unit_code, {})[v.status] = row
    return out


def values_of(form: Form, row: Row) -> dict[str, Any]:
    raw = row.verdict.record.get("values", {})
    return {fid: from_json(raw.get(fid), f.kind) for fid, f in form.fields.items()
            if fid in raw}


def merge(ledger: Ledger, form: Form, year: int, units: list[Unit], *,
          under: str | None = None, include_invalid: bool = False,
          office: str = "") -> MergeResult:
    scope = next((u for u in units if u.code == under), None) if under else None
    members = subtree(units, under) if under else units
    rows = counting_rows(ledger, year)
    # as in status: a unit whose files were all refused (any claimed year) is "rejected"
    rejected = {r.verdict.unit_code for r in ledger.rows(status="rejected")}
    name = f"{scope.name if scope else office or '本地区'}（汇总）"
    identity = {"unit.code": scope.code if scope else "", "unit.name": name, "year": year}
    result = MergeResult(form, year, scope, identity, {})
    for unit in members:
        mine = rows.get(unit.code, {})
        if "valid" in mine:
            result.contributions.append(Contribution(unit, mine["valid"], "valid",
                                                     values_of(form, mine["valid"])))
        elif "invalid" in mine and include_invalid:
            result.contributions.append(Contribution(unit, mine["invalid"], "invalid",
                                                     values_of(form, mine["invalid"])))
        elif "invalid" in mine:
            result.left_out.append((unit, LEFT_OUT_WORDS["invalid"]))
        elif unit.code in rejected:
            result.left_out.append((unit, LEFT_OUT_WORDS["rejected"]))
        else:
            result.left_out.append((unit, LEFT_OUT_WORDS["missing"]))
    result.totals = sum_values(form, (c.values for c in result.contributions), result)
    result.totals.update(identity)
    result.findings = check_rules(form, result.totals, file="汇总")
    return result


def sum_values(form: Form, records: Iterable[dict[str, Any]],
               tally: MergeResult | None = None) -> dict[str, Any]:
    """Field-by-field sums of the numeric fields, computed totals included."""
    numeric = [fid for fid, f in form.fields.items() if f.numeric]
    sums: dict[str, Any] = {fid: (Decimal(0) if form.fields[fid].kind == AMOUNT else 0)
                            for fid in numeric}
    for values in records:
        for fid in numeric:
            v = values.get(fid)
            if isinstance(v, int | Decimal) and not isinstance(v, bool):
                sums[fid] += v
            elif tally is not None:
                (tally.not_applicable if v is NA else tally.blanks)[fid] += 1
    # Totals are summed like every other field, not recomputed: if a unit's own totals
    # did not add up, the rules run on the merged totals say so.
    return sums
