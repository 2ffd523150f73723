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
from nianbao.collect.intake import Context, _unreadable, judge, now_iso
from nianbao.collect.ledger import Ledger, Verdict
from nianbao.collect.workspace import Workspace
from nianbao.findings import make
from nianbao.sandbox import sandboxed_map

_CTX: Context | None = None


def _init(ctx: Context) -> None:
    global _CTX
    _CTX = ctx


@dataclass
class RevalidateReport:
    run_id: int
    checked: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "checked": self.checked, "changed": len(self.changes),
                "changes": self.changes}


def _judge_stored(item: tuple[int, str, str, str]) -> tuple[int, Verdict]:
    sid, rel, name, received_at = item
    ctx = _CTX
    assert ctx is not None
    try:
        data = store.get(Path(ctx.store_dir), rel)
    except (OSError, ValueError) as exc:
        return sid, _unreadable(make("FILE_UNREADABLE", file=name, detail=str(exc)))
    result = check_bytes(data, name, expected_form=ctx.form_id)
    return sid, judge(result, Context(**{**ctx.__dict__, "received_at": received_at}))


def revalidate(ws: Workspace, ledger: Ledger, *, jobs: int = 1,
               progress: Callable[[int], None] | None = None) -> RevalidateReport:
    at = now_iso()
    units = {u.code: u.name for u in ledger.units()}
    ctx = Context.of(ws, units, feedback=False, ledger=ledger)
    rows = {r.id: r for r in ledger.rows() if r.kind == "workbook"}
    run_id = ledger.start_run("revalidate", at)
    report = RevalidateReport(run_id)
    items = [(r.id, r.stored, r.file_name, r.received_at) for r in rows.values()]
    pending: list[tuple[int, Verdict]] = []
    def failed(item: tuple[int, str, str, str], reason: str) -> tuple[int, Verdict]:
        return item[0], _unreadable(make("FILE_TIMEOUT", file=item[2], detail=reason))

    for sid, verdict in sandboxed_map(_judge_stored, items, jobs=jobs, on_failure=failed,
                                      initializer=_init, initargs=(ctx,)):
        report.checked += 1
        old = rows[sid].verdict
        if not verdict.same_as(old):
            pending.append((sid, verdict))
            report.changes.append(_change(rows[sid].file_name, sid, old, verdict))
        if len(pending) >= 256:
            ledger.add_validations(pending, run_id, at)
            pending.clear()
        if progress:
            progress(1)
    ledger.add_validations(pending, run_id, at)
    ledger.finish_run(run_id, now_iso(), {"checked": report.checked,
                                          "changed": len(report.changes)})
    return report


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
