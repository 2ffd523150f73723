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
from pathlib import Path
from typing import Any

from nianbao.check import UNUSABLE, check_bytes, read_failure
from nianbao.collect import store
from nianbao.collect.conflicts import batch_conflicts, saved_time
from nianbao.collect.extract import make_extract
from nianbao.collect.inbox import Entry, Own, walk
from nianbao.collect.judging import ENGINE, Context, judge, now_iso
from nianbao.collect.ledger import DUPLICATE, REJECTED, EncodedVerdict, Intake, Ledger, Verdict
from nianbao.collect.runs import close_interrupted, run_lock
from nianbao.collect.workspace import Workspace
from nianbao.errors import StorageError
from nianbao.findings import Finding, make
from nianbao.fsutil import deferred_renames, disk_full, read_regular, storable
from nianbao.read.precheck import Limits as SizeLimits
from nianbao.sandbox import Failure, Limits, note, sandboxed_map
from nianbao.validate.digest import NO_PROBLEMS, problems

BATCH = 64


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
