"""Collect: take returned files into the ledger, judged, with feedback for the filler.

Each file is checked (the same pipeline as `nianbao check`), its signature and issued
identity verified against this workspace, then stored as an immutable submission: the
original bytes content-addressed, the verdict, the findings. Workers (one per core) read
and judge; only this process writes the ledger, in batches.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from nianbao import __version__
from nianbao.check import UNUSABLE, CheckResult, check_bytes, os_reason
from nianbao.collect import store
from nianbao.collect.extract import make_extract
from nianbao.collect.ledger import DUPLICATE, REJECTED, Intake, Ledger, Verdict
from nianbao.collect.signing import key_id, verify
from nianbao.collect.workspace import Workspace
from nianbao.findings import Finding, Severity, blocking, make
from nianbao.fsutil import storable
from nianbao.read.normalise import json_values
from nianbao.sandbox import Failure, Limits, sandboxed_map
from nianbao.spec.model import Form
from nianbao.validate.digest import NO_PROBLEMS, link_consequences, problems
from nianbao.validate.rules import check_rules

ENGINE = f"nianbao {__version__}"
CHINA = timezone(timedelta(hours=8))
BATCH = 64
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
            from nianbao.merge.export import records
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
                   ws.config.block_unexplained_warnings, received_at, previous, deadlines)

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
    if form is not None and result.status != UNUSABLE and unit_code in ctx.previous:
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


def _init_worker(ctx: Context, known: frozenset[str]) -> None:
    global _CTX, _KNOWN
    _CTX, _KNOWN = ctx, known


def intake_path(path: str, ctx: Context | None = None, known: frozenset[str] = frozenset()
                ) -> Intake:
    """Read, store, check and judge one file; write its feedback and receipt."""
    from nianbao.collect.feedback import write_outputs

    ctx = ctx or _CTX
    assert ctx is not None
    name, shown = storable(os.path.basename(path)), storable(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        finding = make("FILE_MISSING", file=shown, detail=os_reason(exc))
        return Intake(shown, name, "", 0, "", verdict=_unreadable(finding))
    sha, rel = store.put(Path(ctx.store_dir), data, fsync=False)
    if sha in known:
        return Intake(shown, name, sha, len(data), rel)
    result = check_bytes(data, name, expected_form=ctx.form_id, sha256=sha)
    verdict = judge(result, ctx)
    intake = Intake(shown, name, sha, len(data), rel, verdict=verdict,
                    extract=make_extract(result))
    if ctx.feedback_dir:
        intake.outputs = write_outputs(result, verdict, ctx, Path(ctx.feedback_dir))
    return intake


def failure_finding(file: str, why: Failure) -> Finding:
    """A file whose reading overran or crashed: the file's fault or, for an exception, ours."""
    if why.kind == "error":
        return make("INTERNAL_ERROR", file=file, detail=why.detail)
    return make("FILE_TIMEOUT", file=file, detail=why.detail)


def _unreadable(finding: Finding) -> Verdict:
    return Verdict("rejected", finding.code, None, None, None, None, None, {}, [finding.to_dict()],
                   1, 0, 0, ENGINE)


# -- a whole collect run ---------------------------------------------------------------------

@dataclass
class CollectReport:
    run_id: int
    files: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)   # stored/rejected/duplicate
    statuses: Counter[str] = field(default_factory=Counter)   # valid/invalid/rejected
    items: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "files": self.files, "outcomes": dict(self.outcomes),
                "statuses": dict(self.statuses), "items": self.items}


def _duplicate(ledger: Ledger, path: str, sid: int) -> dict[str, Any]:
    """Say what a duplicate repeats; an old file sent again after a newer one is a replay."""
    info = ledger.duplicate_of(sid)
    if not info:
        return {}
    code = "REPLAYED_FILE" if info["replay"] else "DUPLICATE_FILE"
    finding = make(code, file=path, submission=sid, received_at=info["received_at"],
                   latest=info["latest"], latest_received_at=info["latest_received_at"])
    return {"unit": info["unit"], "reason": code, "finding": finding.to_dict()}


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given, folders walked (sorted); office lock files and hidden files skipped."""
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    if not (f.startswith(".") or f.startswith("~$")):
                        yield Path(root) / f
        else:
            yield p


def collect(ws: Workspace, ledger: Ledger, paths: Iterable[Path], *, jobs: int = 1,
            received_at: str | None = None, feedback: bool = True,
            progress: Callable[[int], None] | None = None,
            limits: Limits | None = None) -> CollectReport:
    """Take every file under `paths` into the ledger; nothing is dropped."""
    at = received_at or now_iso()
    units = {u.code: u.name for u in ledger.units()}
    ctx = Context.of(ws, units, feedback=feedback, received_at=at, ledger=ledger)
    files = [str(p) for p in expand_paths(paths)]
    run_id = ledger.start_run("collect", at, {"paths": [str(p) for p in paths]})
    report = CollectReport(run_id)
    known = frozenset(ledger.known_hashes())
    batch: list[Intake] = []

    def flush() -> None:
        if not batch:
            return
        os.sync()  # the batch's blobs, feedback and receipts reach the disk before the ledger
        for it, (outcome, sid) in zip(batch, ledger.add_intakes(batch, run_id, at), strict=True):
            report.outcomes[outcome] += 1
            v = it.verdict
            if outcome != DUPLICATE and v is not None:
                report.statuses[v.status] += 1
            item = {
                "path": it.path, "outcome": outcome, "submission": sid or None,
                "status": v.status if v and outcome != DUPLICATE else None,
                "unit": v.unit_code if v else None, "reason": v.reason if v else None,
                "errors": v.errors if v else 0, "warnings": v.warnings if v else 0,
                **(problems(v) if v and outcome != DUPLICATE else NO_PROBLEMS), **it.outputs}
            if outcome == DUPLICATE:
                item.update(_duplicate(ledger, it.path, sid))
            report.items.append(item)
        batch.clear()

    for it in _run(files, ctx, known, jobs, limits):
        report.files += 1
        if not it.sha256:  # unreadable path: no bytes to keep, recorded all the same
            ledger.add_sighting(run_id, it.path, None, REJECTED, at)
            report.outcomes[REJECTED] += 1
            report.statuses["rejected"] += 1
            report.items.append({"path": it.path, "outcome": REJECTED, "submission": None,
                                 "status": "rejected", "unit": None,
                                 "reason": it.verdict.reason if it.verdict else None,
                                 "errors": 1, "warnings": 0,
                                 **(problems(it.verdict) if it.verdict else NO_PROBLEMS)})
        else:
            batch.append(it)
        if len(batch) >= BATCH:
            flush()
        if progress:
            progress(1)
    flush()
    ledger.finish_run(run_id, now_iso(), {"files": report.files, **report.outcomes})
    return report


def _run(files: list[str], ctx: Context, known: frozenset[str], jobs: int,
         limits: Limits | None = None) -> Iterator[Intake]:
    """Each file in a limited child process; one that overruns is rejected, kept, reported."""
    def failed(path: str, why: Failure) -> Intake:
        finding = failure_finding(storable(path), why)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            return Intake(storable(path), storable(os.path.basename(path)), "", 0, "",
                          verdict=_unreadable(make("FILE_MISSING", file=storable(path),
                                                   detail=os_reason(exc))))
        sha, rel = store.put(Path(ctx.store_dir), data)
        return Intake(storable(path), storable(os.path.basename(path)), sha, len(data), rel,
                      verdict=_unreadable(finding))

    return sandboxed_map(_intake_in_worker, files, jobs=jobs, limits=limits,
                         on_failure=failed, initializer=_init_worker, initargs=(ctx, known))


def _intake_in_worker(path: str) -> Intake:
    return intake_path(path, None, _KNOWN)
