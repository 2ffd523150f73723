"""Keep imported published reports in the ledger, as the units' records of past years
(the cross-year rules X1/X2 compare with them). The CLI and the portal only report what
this returns."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nianbao.collect import store
from nianbao.collect.judging import ENGINE, now_iso
from nianbao.collect.ledger import Intake, Ledger, Verdict
from nianbao.collect.roster import Unit
from nianbao.collect.workspace import Workspace
from nianbao.findings import Severity, blocking
from nianbao.publish.import_result import ImportResult
from nianbao.read.normalise import json_values


@dataclass
class Kept:
    """What keeping a batch of reports did: stored, duplicates, and each refusal's reason."""

    stored: int = 0
    duplicates: int = 0
    refused: list[tuple[Path, str]] = field(default_factory=list)


def refusal(r: ImportResult, code: str | None, year: object, codes: set[str]) -> str | None:
    """Why a report cannot be kept (in Chinese), or None."""
    if r.outcome == "failed":
        return "无法读取，未存入台账"
    if code not in codes:
        return "请用 --unit 指定名单中的单位代码（未能从标题识别单位）"
    if not isinstance(year, int):
        return "请用 --year 指定年度（未能从标题识别年度）"
    return None


def verdict_of(r: ImportResult, code: str, year: int, form_id: str) -> Verdict:
    """What the report says, as a verdict: valid unless its own figures break a rule."""
    identity = {**json_values(r.identity), "unit.code": code, "year": year}
    return Verdict(
        "invalid" if blocking(r.findings) else "valid", None, code, year, form_id, None, None,
        {"identity": identity, "values": json_values(r.values)},
        [f.to_dict() for f in r.findings],
        sum(f.severity.rank >= Severity.ERROR.rank for f in r.findings),
        sum(f.severity == Severity.WARNING for f in r.findings), 0, ENGINE)


def keep_published(ws: Workspace, ledger: Ledger, units: list[Unit],
                   reports: Iterable[tuple[Path, bytes | None, ImportResult]], *,
                   unit: str | None, year: int | None, form_id: str) -> Kept:
    """Store every attributable report (one run, one transaction); refuse the rest."""
    names = {u.name: u.code for u in units}
    codes = {u.code for u in units}
    at = now_iso()
    kept = Kept()
    run_id = ledger.start_run("import", at)
    intakes = []
    for path, data, r in reports:
        code = unit or names.get(str(r.identity.get("unit.name") or ""))
        yr = year or r.identity.get("year")
        why = refusal(r, code, yr, codes)
        if why is not None or data is None or code is None or not isinstance(yr, int):
            kept.refused.append((path, why or "无法读取，未存入台账"))
            continue
        sha, rel = store.put(ws.store_dir, data, hashlib.sha256(data).hexdigest())
        intakes.append(Intake(str(path), path.name, sha, len(data), rel, "published",
                              verdict_of(r, code, yr, form_id)))
    outcomes = ledger.add_intakes(intakes, run_id, at)
    ledger.finish_run(run_id, now_iso(), {"files": len(intakes)})
    kept.stored = sum(o == "stored" for o, _ in outcomes)
    kept.duplicates = len(outcomes) - kept.stored
    return kept
