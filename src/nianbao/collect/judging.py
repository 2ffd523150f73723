"""The verdict policy of collect: what a checked file means for this collection (its
signature, issued identity, roster unit, year, a blank issued template, a unit's personal
link, explanations of warnings), and the context that judging needs. Plain data in and out;
intake.py runs it in its workers, revalidate.py again from kept extracts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from nianbao.check import UNUSABLE, CheckResult
from nianbao.collect.ledger import Ledger, Verdict
from nianbao.collect.signing import key_id, verify
from nianbao.collect.workspace import Workspace
from nianbao.findings import Finding, Severity, blocking, make
from nianbao.read.normalise import json_values
from nianbao.read.submission import IDENTITY_FIELDS
from nianbao.spec.layout import layout_for
from nianbao.spec.model import Form
from nianbao.validate.digest import link_consequences
from nianbao.validate.rules import check_rules
from nianbao.version import __version__

ENGINE = f"nianbao {__version__}"
CHINA = timezone(timedelta(hours=8))
SIGNATURE_CODES = {"unsigned": "SIGNATURE_MISSING", "other-office": "SIGNED_BY_OTHER_OFFICE",
                   "forged": "SIGNATURE_INVALID"}


def now_iso() -> str:
    return datetime.now(CHINA).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Context:
    """What judging a file needs; plain data so that it can be sent to worker processes."""

    key: bytes
    year: int
    form_id: str
    office: str
    units: dict[str, str]                 # roster: code -> name
    store_dir: str
    feedback_dir: str | None              # None: write no feedback
    block_unexplained: bool = False
    received_at: str = ""
    previous: dict[str, dict[str, Any]] = field(default_factory=dict)  # unit -> last year
    expected_unit: str | None = None      # uploaded through this unit's link: only its files
    expected_units: dict[str, str] = field(default_factory=dict)  # path -> its link's unit
    deadlines: dict[str, str] = field(default_factory=dict)  # unit -> its deadline (ISO date)

    @classmethod
    def of(cls, ws: Workspace, units: dict[str, str], *, feedback: bool = True,
           received_at: str = "", ledger: Ledger | None = None,
           year: int | None = None) -> Context:
        """The context of judging files for `year` (default: the workspace's year), with
        the previous year's records from the ledger for the cross-year rules."""
        year = year or ws.config.year
        previous = {}
        if ledger is not None:
            from nianbao.collect.records import records
            from nianbao.spec.load import load_form

            previous = {r.unit_code: r.values for r in
                        records(ledger, load_form(ws.config.form), year - 1)}
        deadlines = {}
        if ledger is not None:
            for u in ledger.units():
                due = u.deadline or ws.config.deadline
                if due:
                    deadlines[u.code] = due.isoformat()
        return cls(ws.key, year, ws.config.form, ws.config.office, units,
                   str(ws.store_dir), str(ws.feedback_dir) if feedback else None,
                   ws.config.block_unexplained_warnings, received_at, previous,
                   deadlines=deadlines)

    @property
    def office_tag(self) -> str:
        """What issued templates carry as `office`: the name and the key's public id."""
        return f"{self.office}#{key_id(self.key)}"


# -- judging one file ----------------------------------------------------------------------

def judge(result: CheckResult, ctx: Context) -> Verdict:
    """Turn a check result into this collection's verdict: valid, invalid or rejected."""
    findings = list(result.findings)
    sub = result.submission
    form = result.form
    reason = next((f.code for f in findings if f.severity == Severity.FATAL), None)
    signature = None
    # an unusable file is still attributed to the unit its _meta claims (unverified), so
    # that the unit shows as "rejected" to be chased rather than as "missing"
    claimed = sub.meta.get("unit_code") if sub is not None else None
    unit_code = claimed if claimed in ctx.units else None
    year = None
    if result.status != UNUSABLE and sub is not None:
        unit_code = result.identity.get("unit.code")
        year = result.identity.get("year")
        signature = verify(ctx.key, sub.meta)
        if signature != "ok":
            code = SIGNATURE_CODES[signature]
            findings.append(make(code, file=result.file,
                                 office=sub.meta.get("office", "").rpartition("#")[0] or "未知",
                                 ours=ctx.office))
            reason = reason or code
        if any(f.code == "IDENTITY_EDITED" for f in findings):
            reason = reason or "IDENTITY_EDITED"
        if unit_code not in ctx.units:
            findings.append(make("UNIT_UNKNOWN", file=result.file, code=unit_code or "（空）",
                                 name=result.identity.get("unit.name") or ""))
            reason = reason or "UNIT_UNKNOWN"
        if year != ctx.year:
            findings.append(make("YEAR_MISMATCH", file=result.file, found=year or "（空）",
                                 expected=ctx.year))
            reason = reason or "YEAR_MISMATCH"
        if not reason and signature == "ok" and form is not None and unfilled(result, form):
            # our own outbox copy, never filled: not a report (the unit is still chased)
            findings = [make("TEMPLATE_BLANK", file=result.file,
                             unit=ctx.units.get(unit_code or "", unit_code or ""))]
            reason = "TEMPLATE_BLANK"
    if ctx.expected_unit is not None:
        unit_code, reason = _for_linked_unit(ctx, result.file, unit_code, findings, reason)
    if form is not None and result.status != UNUSABLE and unit_code in ctx.previous \
            and reason != "TEMPLATE_BLANK":
        findings += check_rules(form, result.values, file=result.file, cross_year_only=True,
                                previous=ctx.previous[unit_code])
    explained = 0
    if form is not None:
        findings, explained = explain(findings, form, result.values)
    if form is not None:  # (the cross-year rules' consequences too)
        findings = link_consequences(form, findings)
        # explained mistakes, as counted: a consequence is neither counted nor explained
        explained = sum(f.severity == Severity.WARNING and "explanation" in f.values
                        and "caused_by" not in f.values for f in findings)
    warnings = sum(f.severity == Severity.WARNING and "caused_by" not in f.values
                   for f in findings)
    # mistakes, not their consequences: one slip is one error
    errors = sum(f.severity.rank >= Severity.ERROR.rank and "caused_by" not in f.values
                 for f in findings)
    if reason:
        status = "rejected"
    elif blocking(findings) or (ctx.block_unexplained and warnings > explained):
        status = "invalid"
    else:
        status = "valid"
    identity = json_values(result.identity)
    return Verdict(
        status=status, reason=reason, unit_code=unit_code, year=year,
        form_id=form.id if form else (sub.meta.get("form_id") if sub else None),
        form_version=(sub.meta.get("form_version") if sub else None) or None,
        signature=signature,
        record={"identity": identity,
                "values": json_values(result.values)},
        findings=[f.to_dict() for f in findings], errors=errors, warnings=warnings,
        explained=explained, engine=f"{ENGINE}; {form.id} {form.version}" if form else ENGINE)


def _for_linked_unit(ctx: Context, file: str, unit_code: str | None, findings: list[Finding],
                     reason: str | None) -> tuple[str, str | None]:
    """A file sent through a unit's personal link is that unit's: another unit's file is
    refused (and kept as the sender's attempt, never as the other unit's submission)."""
    expected = ctx.expected_unit or ""
    if unit_code is not None and unit_code != expected:
        findings.append(make("UNIT_NOT_LINKED", file=file, code=unit_code or "（无法识别）",
                             expected=expected, name=ctx.units.get(expected, "")))
        reason = reason or "UNIT_NOT_LINKED"
    return expected, reason


def unfilled(result: CheckResult, form: Form) -> bool:
    """Every input cell blank: an issued template exactly as it went out (judged on the
    values, which a revalidation from the kept extract has too)."""
    values = result.values
    return all(values.get(fid) in (None, "") for fid in layout_for(form).inputs
               if fid not in IDENTITY_FIELDS)


def explain(findings: list[Finding], form: Form, values: dict[str, Any]
            ) -> tuple[list[Finding], int]:
    """Attach the filler's 说明 of a table to each warning on that table's sheet."""
    notes = {t.sheet: str(values.get(t.note.id) or "").strip()
             for t in form.tables if t.note}
    out, count = [], 0
    for f in findings:
        text = notes.get(f.sheet or "")
        if f.severity == Severity.WARNING and text:
            brief = text if len(text) <= 120 else text[:117] + "…"
            f = Finding(f.code, f.severity, f"{f.message}（填报单位说明：{brief}）", f.file,
                        f.sheet, f.cell, f.field, f.rule, {**f.values, "explanation": text})
            count += 1
        out.append(f)
    return out, count


# -- one file, in a worker -------------------------------------------------------------------

_CTX: Context | None = None
_KNOWN: frozenset[str] = frozenset()
