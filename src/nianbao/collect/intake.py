"""Collect: take returned files into the ledger, judged, with feedback for the filler.

Each file is checked (the same pipeline as `nianbao check`), its signature and issued
identity verified against this workspace, then stored as an immutable submission: the
original bytes content-addressed, the verdict, the findings. Workers (one per core) read
and judge; only this process writes the ledger, in batches.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from nianbao.check import UNUSABLE, CheckResult, check_bytes, read_failure
from nianbao.collect import store
from nianbao.collect.conflicts import batch_conflicts, saved_time
from nianbao.collect.extract import make_extract
from nianbao.collect.inbox import Entry, Own, walk
from nianbao.collect.ledger import DUPLICATE, REJECTED, EncodedVerdict, Intake, Ledger, Verdict
from nianbao.collect.runs import close_interrupted, run_lock
from nianbao.collect.signing import key_id, verify
from nianbao.collect.workspace import Workspace
from nianbao.errors import StorageError
from nianbao.findings import Finding, Severity, blocking, make
from nianbao.fsutil import deferred_renames, disk_full, read_regular, storable
from nianbao.read.normalise import json_values
from nianbao.read.precheck import Limits as SizeLimits
from nianbao.read.submission import IDENTITY_FIELDS
from nianbao.sandbox import Failure, Limits, note, sandboxed_map
from nianbao.spec.layout import layout_for
from nianbao.spec.model import Form
from nianbao.validate.digest import NO_PROBLEMS, link_consequences, problems
from nianbao.validate.rules import check_rules
from nianbao.version import __version__

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


def _init_worker(ctx: Context, known: frozenset[str]) -> None:
    global _CTX, _KNOWN
    _CTX, _KNOWN = ctx, known


def intake_path(path: str, ctx: Context | None = None, known: frozenset[str] = frozenset(),
                *, source: str | None = None, outside: str = "", stage: bool = False
                ) -> Intake:
    """Read, store, check and judge one file; write its feedback and receipt. `source`: the
    file to open when it is not `path` (a link's target); `outside`: where a link refused
    for pointing outside its folder points. Only a regular file is read, its size checked
    (fstat) first: a pipe, a device or a file over the size limit is refused unread.
    `stage` (collect's workers): the feedback and receipt are left under temporary names,
    and collect puts those of the submission in place, once (`place_outputs`)."""
    ctx = ctx or _CTX
    assert ctx is not None
    name, shown = storable(os.path.basename(path)), storable(path)
    if outside:
        return Intake(shown, name, "", 0, "", verdict=_unreadable(
            make("FILE_LINK_OUTSIDE", file=shown, target=outside)))
    try:
        data = read_regular(source or path, SizeLimits().max_file_bytes, nofollow=True)
    except OSError as exc:
        return Intake(shown, name, "", getattr(exc, "size", 0), "",
                      verdict=_unreadable(read_failure(exc, shown)))
    sha, rel = store.put(Path(ctx.store_dir), data, fsync=False)
    note((sha, len(data), rel))  # should this file now kill its reader, its bytes are kept
    if sha in known:
        return Intake(shown, name, sha, len(data), rel)
    result = check_bytes(data, name, expected_form=ctx.form_id, sha256=sha)
    expected = ctx.expected_units.get(path)
    verdict = judge(result, replace(ctx, expected_unit=expected) if expected else ctx)
    intake = Intake(shown, name, sha, len(data), rel, verdict=verdict,
                    extract=make_extract(result),
                    saved_at=saved_time(data) if result.status != UNUSABLE else None)
    if ctx.feedback_dir:
        from nianbao.collect.feedback import write_outputs

        with deferred_renames() if stage else contextlib.nullcontext() as pending:
            try:
                intake.outputs = write_outputs(result, verdict, ctx, Path(ctx.feedback_dir))
            except BaseException:  # failed half-way: nothing is left behind
                intake.staged = pending or []
                drop_outputs(intake)
                raise
        intake.staged = pending or []
    return intake


def place_outputs(it: Intake) -> None:
    """Put a new submission's feedback and receipt in place (under their final names)."""
    for tmp, final in it.staged:
        os.replace(tmp, final)
    it.staged = []


def drop_outputs(it: Intake) -> None:
    """A duplicate's outputs, never put in place: the submission it repeats has its own."""
    for tmp, _ in it.staged:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    it.staged, it.outputs = [], {}


def failure_finding(file: str, why: Failure) -> Finding:
    """A file whose reading overran or crashed: the file's fault or, for an exception, ours."""
    if why.kind == "error":
        return make("INTERNAL_ERROR", file=file, detail=why.detail)
    return make("FILE_TIMEOUT", file=file, detail=why.detail)


def _unreadable(finding: Finding) -> Verdict:
    return Verdict("rejected", finding.code, None, None, None, None, None, {}, [finding.to_dict()],
                   1, 0, 0, ENGINE)


# -- a whole collect run ---------------------------------------------------------------------

class DiskFull(StorageError):
    """The disk filled up while collect wrote: the batch in hand was not recorded."""

    def __init__(self, where: str, recorded: int) -> None:
        super().__init__(f"磁盘空间不足：写入 {where} 时失败。本次回收未全部入账（之前已入账的 "
                         f"{recorded} 个文件保留，台账完好）；请清理磁盘空间后重新运行 nianbao "
                         "collect，未入账的文件会再次收取")
        self.where, self.recorded = where, recorded


@dataclass
class CollectReport:
    run_id: int
    files: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)   # stored/rejected/duplicate
    statuses: Counter[str] = field(default_factory=Counter)   # valid/invalid/rejected
    items: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)       # {"path", "reason"}
    conflicts: list[dict[str, Any]] = field(default_factory=list)     # see conflicts.py
    interrupted: list[dict[str, Any]] = field(default_factory=list)   # runs closed now

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "files": self.files, "outcomes": dict(self.outcomes),
                "statuses": dict(self.statuses), "items": self.items, "skipped": self.skipped,
                "conflicts": self.conflicts, "interrupted": self.interrupted}


def _duplicate(ledger: Ledger, path: str, sha256: str, sid: int,
               interrupted: dict[int, int]) -> dict[str, Any]:
    """Say what a duplicate repeats: the same file at the same place is just 「已收过」; an
    old file sent again after a newer one is a replay; anything else a copy."""
    info = ledger.duplicate_of(sid)
    if not info:
        return {}
    if ledger.seen_at(path, sha256) > 1:
        code = "ALREADY_RECEIVED"
    else:
        code = "REPLAYED_FILE" if info["replay"] else "DUPLICATE_FILE"
    finding = make(code, file=path, submission=sid, received_at=info["received_at"],
                   latest=info["latest"], latest_received_at=info["latest_received_at"])
    out = {"unit": info["unit"], "reason": code, "finding": finding.to_dict()}
    if info["run"] in interrupted:  # taken in by a run that was killed: never shown yet
        out.update(interrupted_run=info["run"], recorded_status=info["status"])
    return out


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """The files to read under `paths` (see inbox.walk for what is skipped and why)."""
    for entry in walk(paths).files:
        yield Path(entry.path)


def collect(ws: Workspace, ledger: Ledger, paths: Iterable[Path], *, jobs: int = 1,
            received_at: str | None = None, feedback: bool = True,
            progress: Callable[[int], None] | None = None,
            limits: Limits | None = None, expected_units: dict[str, str] | None = None
            ) -> CollectReport:
    """Take every file under `paths` into the ledger; nothing is dropped: every path is
    read or listed as skipped. Raises DiskFull when the disk fills up (nothing half-done
    is recorded; the next run closes this one and goes on). `expected_units` (path -> unit
    code): files that came through a unit's personal link (the portal) are that unit's
    attempts, and only its own file is accepted."""
    paths = list(paths)
    at = received_at or now_iso()
    units = {u.code: u.name for u in ledger.units()}
    ctx = Context.of(ws, units, feedback=feedback, received_at=at, ledger=ledger)
    if expected_units:
        ctx = replace(ctx, expected_units=dict(expected_units))
    inbox = walk(paths, Own.of(ws.root, ws.config.roster, ws.ledger_path.name))
    with run_lock(ws.root) as token:
        closed = close_interrupted(ws.root, ledger, now_iso())
        run_id = ledger.start_run("collect", at, {"paths": [storable(str(p)) for p in paths],
                                                  "lock": token})
        report = CollectReport(run_id, skipped=inbox.skipped, interrupted=closed)
        try:
            _take_in(inbox.files, ctx, ledger, report, jobs, limits, progress)
        except Exception as exc:
            if disk_full(exc, ws.ledger_path):
                raise DiskFull(_where(exc, ws), sum(report.outcomes.values())) from exc
            raise
        report.conflicts = batch_conflicts(report.items, ledger)
        ledger.finish_run(run_id, now_iso(), {
            "files": report.files, **report.outcomes, "skipped": report.skipped,
            "conflicts": len(report.conflicts)})
    return report


def _where(exc: BaseException, ws: Workspace) -> str:
    """The file a full disk failed to take: the one named by the error, else the ledger."""
    name = getattr(exc, "filename", None)
    return storable(str(name)) if name else str(ws.ledger_path)


def _take_in(files: list[Entry], ctx: Context, ledger: Ledger, report: CollectReport,
             jobs: int, limits: Limits | None, progress: Callable[[int], None] | None
             ) -> None:
    at, run_id = ctx.received_at, report.run_id
    known = frozenset(ledger.known_hashes())
    interrupted = {r["run"]: r["files"] for r in report.interrupted}
    batch: list[Intake] = []

    def flush() -> None:
        if not batch:
            return
        owners: set[str] = set()
        for it in batch:  # the same bytes twice in a batch: the first one is the submission
            if it.verdict is None or it.sha256 in owners:
                drop_outputs(it)
            else:
                owners.add(it.sha256)
                place_outputs(it)
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
                **(problems(v) if v and outcome != DUPLICATE else NO_PROBLEMS),
                **(it.outputs if outcome != DUPLICATE else {})}
            if outcome == DUPLICATE:
                item.update(_duplicate(ledger, it.path, it.sha256, sid, interrupted))
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


def _run(files: list[Entry], ctx: Context, known: frozenset[str], jobs: int,
         limits: Limits | None = None) -> Iterator[Intake]:
    """Each file in a limited child process; one that overruns is rejected and reported,
    its bytes kept as the child stored them: this process never reads the file itself."""
    def failed(entry: Entry, why: Failure) -> Intake:
        if why.kind == "error" and f"[Errno {errno.ENOSPC}]" in why.detail:
            raise OSError(errno.ENOSPC, "No space left on device", ctx.store_dir)
        path = storable(entry.path)
        verdict = _unreadable(failure_finding(path, why))
        verdict.unit_code = ctx.expected_units.get(entry.path)  # the sender's, if linked
        if not why.note:  # failed before its bytes were kept: recorded without them
            return Intake(path, storable(os.path.basename(entry.path)), "", 0, "",
                          verdict=verdict)
        sha, size, rel = why.note
        return Intake(path, storable(os.path.basename(entry.path)), sha, size, rel,
                      verdict=verdict)

    return sandboxed_map(_intake_in_worker, files, jobs=jobs, limits=limits,
                         on_failure=failed, initializer=_init_worker, initargs=(ctx, known))


def _intake_in_worker(entry: Entry) -> Intake:
    """The worker's side of the boundary: the verdict leaves as the ledger's JSON text."""
    it = intake_path(entry.path, None, _KNOWN, source=entry.source, outside=entry.outside,
                     stage=True)
    if isinstance(it.verdict, Verdict):
        it.verdict = EncodedVerdict.of(it.verdict)
    return it
