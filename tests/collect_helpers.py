"""Shared helpers of the collection tests: a workspace with a roster, issued copies with
values (rendered directly, no LibreOffice), and the ledger read back without ids or times.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from nianbao.collect.distribute import issue_options
from nianbao.collect.ledger import Ledger, open_ledger
from nianbao.collect.roster import load_roster
from nianbao.collect.workspace import (
    CONFIG_NAME,
    Workspace,
    config_text,
    init_workspace,
    open_workspace,
)
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import layout_for
from nianbao.spec.load import load_form
from nianbao.testing.libreoffice import Edit, LibreOffice

LAYOUT = layout_for(load_form())
YEAR = 2022
OFFICE = "青溪区人民政府办公室"
DEADLINE = date(2023, 1, 20)
RECEIVED = "2023-01-15T10:00:00+08:00"

# The roster most tests use: a government office, departments under it, one street office
# with its own earlier deadline.
ROSTER_CSV = """单位代码,单位名称,上级单位代码,联系人,截止日期
330599,青溪区人民政府办公室,,办公室 张敏 0572-1000001,
330599-002,青溪区发展和改革局,330599,办公室 蒋琳 0572-1000002,
330599-003,青溪区教育局,330599,办公室 李明 0572-1000003,
330599-007,青溪区民政局,330599,办公室 王强 0572-1000007,
330599-101,青溪区城关街道办事处,330599,党政办 吴芳 0572-1000101,2023-01-13
"""

NAMES = {
    "330599": "青溪区人民政府办公室",
    "330599-002": "青溪区发展和改革局",
    "330599-003": "青溪区教育局",
    "330599-007": "青溪区民政局",
    "330599-101": "青溪区城关街道办事处",
}

APPLICANTS = ("natural_person", "business", "research", "nonprofit", "legal_service",
              "other_org")
OUTCOMES = (
    "granted", "partial",
    "denied.state_secret", "denied.prohibited_by_law", "denied.security_stability",
    "denied.third_party", "denied.internal_affairs", "denied.process_info",
    "denied.enforcement_files", "denied.inquiry",
    "unable.not_held", "unable.needs_creation", "unable.unclear",
    "not_processed.petition", "not_processed.duplicate", "not_processed.publication",
    "not_processed.excessive", "not_processed.confirmation",
    "other.overdue_correction", "other.overdue_fee", "other.other",
)


def complete_values(**overrides: Any) -> dict[str, Any]:
    """Every input of a clean record (no finding at all): tables balanced, prose written.
    Keyword overrides use "__" for "." (t3__new__natural_person=5)."""
    values: dict[str, Any] = {
        "t2.regulations.issued": 1, "t2.regulations.repealed": 0, "t2.regulations.in_force": 5,
        "t2.normative_docs.issued": 3, "t2.normative_docs.repealed": 1,
        "t2.normative_docs.in_force": 12,
        "t2.licensing": 120, "t2.penalty": 30, "t2.enforcement": 2, "t2.fees_wan_yuan": 0,
    }
    for col in APPLICANTS:
        for row in ("new", "carried_over", *OUTCOMES, "carry_forward"):
            values[f"t3.{row}.{col}"] = 0
    # natural persons: 10 new + 2 carried over = 6 granted + 1 partial + 2 not held + 3 forward
    values.update({"t3.new.natural_person": 10, "t3.carried_over.natural_person": 2,
                   "t3.granted.natural_person": 6, "t3.partial.natural_person": 1,
                   "t3.unable.not_held.natural_person": 2,
                   "t3.carry_forward.natural_person": 3,
                   "t3.new.business": 2, "t3.granted.business": 2})
    for block in ("review", "suit_direct", "suit_after_review"):
        for part in ("upheld", "corrected", "other", "pending"):
            values[f"t4.{block}.{part}"] = 0
    values.update({"t4.review.upheld": 1, "t4.review.pending": 1})
    values.update({"text.overview": "本年度主动公开政府信息 160 条。",
                   "text.problems": "公开的及时性有待提高。",
                   "text.other": "本年度未收取信息处理费。"})
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    assert set(values) <= set(LAYOUT.inputs), set(values) - set(LAYOUT.inputs)
    return values


def write_roster(folder: Path, text: str = ROSTER_CSV, name: str = "roster.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def make_workspace(root: Path, roster_text: str = ROSTER_CSV, *, year: int = YEAR,
                   office: str = OFFICE, deadline: date | None = DEADLINE
                   ) -> tuple[Workspace, Ledger]:
    """A new workspace under `root` with the roster synced into its ledger."""
    roster = write_roster(root.parent / f"{root.name}-roster", roster_text)
    ws = init_workspace(root, year=year, office=office, deadline=deadline, roster=roster,
                        db=fresh_ledger_target())
    ledger = open_ledger(ws)
    ledger.sync_units(load_roster(ws.roster_path))
    return ws, ledger


def fresh_ledger_target() -> str:
    """"" (ledger.sqlite) or, when the `ledger_backend` fixture chose PostgreSQL (through
    NIANBAO_DB), a schema of its own for each workspace a test makes."""
    url = os.environ.get("NIANBAO_DB", "")
    if not url:
        return ""
    from nianbao.testing.postgres import fresh_schema_beside

    return fresh_schema_beside(url)


def copy_workspace(source: Path, target: Path) -> Workspace:
    """A copy of a workspace folder (same key, config, roster) with a ledger of its own:
    on PostgreSQL a fresh schema, holding what the source's ledger held."""
    shutil.copytree(source, target)
    ws = open_workspace(target)
    if ws.config.db:
        from dataclasses import replace

        from nianbao.collect.ledger_copy import copy_ledger

        ws = Workspace(target, replace(ws.config, db=fresh_ledger_target()))
        (target / CONFIG_NAME).write_text(config_text(ws.config), encoding="utf-8")
        with open_ledger(open_workspace(source)) as src, open_ledger(ws) as dst:
            copy_ledger(src.db, dst.db)
    return ws


def ledger_of(root: Path) -> Ledger:
    """The ledger of the workspace in `root`, wherever its config puts it."""
    return open_ledger(open_workspace(root))


def identity(code: str, name: str | None = None, year: int = YEAR) -> dict[str, Any]:
    return {"unit.code": code, "unit.name": NAMES.get(code, "") if name is None else name,
            "year": year}


def issue(ws: Workspace, code: str, values: Mapping[str, Any] | None = None, *,
          name: str | None = None, year: int = YEAR, **extra: Any) -> bytes:
    """A copy issued by `ws` to one unit, returned with `values` (rendered directly)."""
    return render(LAYOUT, issue_options(LAYOUT, identity(code, name, year), ws.key,
                                        ws.config.office,
                                        values=complete_values() if values is None else values,
                                        **extra))


def unsigned(values: Mapping[str, Any] | None = None, **ident: Any) -> bytes:
    """A template nobody issued (downloaded blank), optionally filled in."""
    return render(LAYOUT, RenderOptions(identity=ident, values=dict(values or {})))


def put(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rows(ledger: Ledger, **where: Any) -> list[tuple[Any, ...]]:
    """(file, status, reason, unit, year) of every submission, oldest first."""
    return [(r.file_name, r.verdict.status, r.verdict.reason, r.verdict.unit_code,
             r.verdict.year) for r in ledger.rows(**where)]


def codes(ledger: Ledger, file_name: str) -> list[str]:
    row = next(r for r in ledger.rows() if r.file_name == file_name)
    return [f["code"] for f in row.verdict.findings]


def sightings(ledger: Ledger) -> list[tuple[str, str | None, str]]:
    """(path, sha256, outcome) of every sighting, in order."""
    return [tuple(r) for r in ledger.db.execute(
        "SELECT path, sha256, outcome FROM sightings ORDER BY id")]


def ledger_state(ledger: Ledger, *roots: Path) -> dict[str, Any]:
    """Everything the ledger holds, without ids, times or the workspace's location."""

    def rel(path: str | None) -> str | None:
        if path is None:
            return None
        for root in roots:
            if path.startswith(str(root)):
                return "<" + str(roots.index(root)) + ">" + path[len(str(root)):]
        return path

    subs = []
    for r in ledger.rows():
        v = r.verdict
        subs.append({
            "sha256": r.sha256, "size": r.size, "kind": r.kind, "file": r.file_name,
            "source": rel(r.source_path), "stored": r.stored, "status": v.status,
            "reason": v.reason, "unit": v.unit_code, "year": v.year, "form": v.form_id,
            "version": v.form_version, "signature": v.signature, "record": v.record,
            "findings": sorted((f["code"], f["sheet"] or "", f["cell"] or "", f["rule"] or "",
                                f["severity"]) for f in v.findings),
            "errors": v.errors, "warnings": v.warnings, "explained": v.explained,
            "history": [(h["status"], h["reason"]) for h in ledger.history(r.id)],
        })
    seen = sorted((rel(p), s or "", o) for p, s, o in sightings(ledger))
    return {"submissions": subs, "sightings": seen, "counts": ledger.counts(),
            "units": [(u.code, u.name) for u in ledger.units()]}


def lo_fill(libreoffice: LibreOffice, src: Path, dst: Path, values: Mapping[str, Any]) -> Path:
    """Type `values` into a workbook with LibreOffice (recalculated and saved as .xlsx)."""
    edits = [Edit(LAYOUT.places[fid].sheet, LAYOUT.places[fid].a1, value)
             for fid, value in values.items()]
    libreoffice.fill(src, dst, edits)
    return dst
