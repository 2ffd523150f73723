"""Re-run the current rules on every stored submission; the ledger follows.

Submissions are immutable; a re-validation whose verdict differs from the current one is
appended as the new current verdict, and every change is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nianbao.check import check_bytes
from nianbao.collect import store
from nianbao.collect.extract import extract_key, make_extract, result_from_extract
from nianbao.collect.intake import _unreadable, failure_finding
from nianbao.collect.judging import Context, judge, now_iso
from nianbao.collect.ledger import Ledger, Row, Verdict
from nianbao.collect.runs import run_lock
from nianbao.collect.workspace import Workspace
from nianbao.findings import make
from nianbao.sandbox import Failure, sandboxed_map
from nianbao.spec.load import load_form

_CTXS: dict[int, Context] = {}


def _init(ctxs: dict[int, Context]) -> None:
    global _CTXS
    _CTXS = ctxs


@dataclass
class RevalidateReport:
    run_id: int
    checked: int = 0
    reread: int = 0        # files read again from their bytes (no valid extract kept)
    changes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "checked": self.checked, "reread": self.reread,
                "changed": len(self.changes), "changes": self.changes}


# submission, blob, file name, received at, year, its extract (when still valid), record
Item = tuple[int, str, str, str, int, bytes | None, dict[str, Any]]
Judged = tuple[int, Verdict, tuple[str, bytes] | None]  # ..., a new extract to keep


def _judge_stored(item: Item) -> Judged:
    sid, rel, name, received_at, year, extract, record = item
    ctx = _CTXS[year]
    at = Context(**{**ctx.__dict__, "received_at": received_at})
    if extract is not None:  # what reading found is still valid: only rules and judgement
        result = result_from_extract(extract, record, load_form(ctx.form_id))
        return sid, judge(result, at), None
    try:
        data = store.get(Path(ctx.store_dir), rel)
    except (OSError, ValueError) as exc:
        return sid, _unreadable(make("FILE_UNREADABLE", file=name, detail=str(exc))), None
    result = check_bytes(data, name, expected_form=ctx.form_id)
    return sid, judge(result, at), make_extract(result)


def revalidate(ws: Workspace, ledger: Ledger, *, jobs: int = 1, reread: bool = False,
               progress: Callable[[int], None] | None = None) -> RevalidateReport:
    """Judge every stored submission again with the current rules, roster and config;
    `reread` reads every file again even where its kept extract is still valid."""
    with run_lock(ws.root) as token:  # a killed revalidate is closed by the next collect
        return _revalidate(ws, ledger, jobs, reread, progress, token)


def _revalidate(ws: Workspace, ledger: Ledger, jobs: int, reread: bool,
                progress: Callable[[int], None] | None, token: str) -> RevalidateReport:
    at = now_iso()
    units = {u.code: u.name for u in ledger.units()}
    rows = {r.id: r for r in ledger.rows() if r.kind == "workbook"}
    # A submission accepted for a year is judged again for that year (a workspace moved on
    # to the next year keeps last year's returns as last year's); others for the
    # workspace's year.
    years = {sid: _year_of(r, ws.config.year) for sid, r in rows.items()}
    ctxs = {y: Context.of(ws, units, feedback=False, ledger=ledger, year=y)
            for y in sorted(set(years.values()))}
    run_id = ledger.start_run("revalidate", at, {"lock": token})
    report = RevalidateReport(run_id)
    # Reading gives the same for the same bytes while nianbao and the layout are the same:
    # then the rules and the judgement start from the kept extract, not the file.
    kept = ledger.extracts(extract_key(load_form(ws.config.form))) if not reread else {}
    items = [(r.id, r.stored, r.file_name, r.received_at, years[r.id], kept.get(r.id),
              r.verdict.record) for r in rows.values()]
    pending: list[tuple[int, Verdict]] = []
    fresh: list[tuple[int, tuple[str, bytes]]] = []

    def failed(item: Item, why: Failure) -> Judged:
        return item[0], _unreadable(failure_finding(item[2], why)), None

    def flush() -> None:
        ledger.add_validations(pending, run_id, at)
        ledger.put_extracts(fresh)
        pending.clear()
        fresh.clear()

    for sid, verdict, extract in sandboxed_map(_judge_stored, items, jobs=jobs,
                                               on_failure=failed, initializer=_init,
                                               initargs=(ctxs,)):
        report.checked += 1
        report.reread += extract is not None or kept.get(sid) is None
        old = rows[sid].verdict
        if not verdict.same_as(old):
            pending.append((sid, verdict))
            report.changes.append(_change(rows[sid].file_name, sid, old, verdict))
        if extract is not None:
            fresh.append((sid, extract))
        if len(pending) + len(fresh) >= 256:
            flush()
        if progress:
            progress(1)
    flush()
    ledger.finish_run(run_id, now_iso(), {"checked": report.checked,
                                          "changed": len(report.changes)})
    return report


def _year_of(row: Row, default: int) -> int:
    v = row.verdict
    if v.status != "rejected" and isinstance(v.year, int):
        return v.year
    return default


def _change(file: str, sid: int, old: Verdict, new: Verdict) -> dict[str, Any]:
    before = {(f["code"], f.get("cell"), f.get("rule")) for f in old.findings}
    after = {(f["code"], f.get("cell"), f.get("rule")) for f in new.findings}
    return {"submission": sid, "file": file, "unit": new.unit_code or old.unit_code,
            "status_before": old.status, "status_after": new.status,
            "added": [dict(zip(("code", "cell", "rule"), k, strict=True))
                      for k in sorted(after - before, key=str)],
            "removed": [dict(zip(("code", "cell", "rule"), k, strict=True))
                        for k in sorted(before - after, key=str)],
            "values_changed": old.record != new.record}
