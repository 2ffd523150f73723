"""The portal's state over one workspace: roster, links, ledger connections, and the intake.

Every upload goes through `collect` (the same intake as the command line: sandboxed child,
signature and identity checks, ledger, store, receipt, feedback). Each request thread uses
its own Ledger connection; SQLite serialises the writers as it does for two collects.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from nianbao.collect.distribute import Personaliser, template_name
from nianbao.collect.inbox import UPLOADS  # where uploads wait for the intake
from nianbao.collect.judging import CHINA
from nianbao.collect.ledger import Ledger, Row, open_ledger
from nianbao.collect.naming import inside
from nianbao.collect.roster import Unit, load_roster
from nianbao.collect.status import StatusReport, UnitStatus, _one, unit_status
from nianbao.collect.workspace import Workspace, open_workspace
from nianbao.spec.layout import layout_for
from nianbao.spec.load import load_form
from nianbao.web.intake_service import IntakeService
from nianbao.web.tokens import (
    LinkState,
    Throttle,
    TokenIndex,
    link_maker,
    office_secret,
    unit_links,
)

MB = 1024 * 1024
STATUS_TTL = 2.0   # seconds a status report is reused while nothing changed here


@dataclass(frozen=True)
class Settings:
    max_upload: int = 10 * MB
    base_url: str = "http://127.0.0.1:8000"
    intake_slots: int = 2          # collect's reader processes (jobs)


class Portal:
    """What every request needs; built once when the server starts."""

    def __init__(self, root: Path, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.ws: Workspace = open_workspace(root)
        self.roster: list[Unit] = load_roster(self.ws.roster_path)
        self.units = {u.code: u for u in self.roster}
        self.form = load_form(self.ws.config.form)
        self.key = self.ws.key
        self.office_secret = office_secret(self.key)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.intakes = IntakeService(self.ws.root, max(1, self.settings.intake_slots))
        self._personaliser: Personaliser | None = None
        self.throttle = Throttle()
        self._changes = 0
        self._status: tuple[int, float, StatusReport] | None = None
        with open_ledger(self.ws) as ledger:
            ledger.sync_units(self.roster)
        self.links = LinkState.load(self.ws)
        self.index = TokenIndex(unit_links(self.key, list(self.units), self.links))
        self._links_stamp = -1
        drop_stale_uploads(self.ws.root / UPLOADS)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)

    @property
    def uploads_dir(self) -> Path:
        """This server's own folder of uploads waiting for the intake (one per process, so
        that two servers on one workspace, on one machine or several, never remove each
        other's)."""
        return self.ws.root / UPLOADS / f"{_host()}-{os.getpid()}"

    # -- ledger -------------------------------------------------------------------------
    def ledger(self) -> Ledger:
        """This thread's ledger connection (SQLite connections stay in their thread)."""
        ledger = getattr(self._local, "ledger", None)
        if ledger is None:
            ledger = self._local.ledger = open_ledger(self.ws)
        return ledger

    # -- links --------------------------------------------------------------------------
    def unit_of(self, token: str) -> Unit | None:
        self._follow_links_file()
        code = self.index.unit(token)
        return self.units.get(code) if code else None

    def link(self, code: str) -> str | None:
        return link_maker(self.key, self.links, self.settings.base_url)(code)

    def _follow_links_file(self) -> None:
        """`nianbao links --revoke/--reissue` run beside the server take effect at once."""
        try:
            stamp = self.links.path.stat().st_mtime_ns
        except OSError:
            stamp = 0
        if stamp != self._links_stamp:
            with self._lock:
                self.links = LinkState.load(self.ws)
                self.index = TokenIndex(unit_links(self.key, list(self.units), self.links))
                self._links_stamp = stamp

    def change_link(self, code: str, action: str) -> None:
        """revoke / reissue a unit's link, close / open its upload window."""
        with self._lock:
            self.links = LinkState.load(self.ws)
            if action == "revoke":
                self.links.revoke(code)
            elif action == "reissue":
                self.links.reissue(code)
            elif action in ("close", "open"):
                self.links.set_closed(code, action == "close")
            else:
                raise ValueError(action)
            self.links.save()
            self.index = TokenIndex(unit_links(self.key, list(self.units), self.links))

    # -- units --------------------------------------------------------------------------
    def deadline(self, unit: Unit) -> date | None:
        return unit.deadline or self.ws.config.deadline

    def is_late(self, unit: Unit, when: datetime | None = None) -> bool:
        due = self.deadline(unit)
        return bool(due and (when or datetime.now(CHINA)).astimezone(CHINA).date() > due)

    def template_for(self, unit: Unit) -> tuple[str, bytes]:
        """The unit's pre-filled, signed template (as `distribute` issues it)."""
        with self._lock:
            if self._personaliser is None:
                self._personaliser = Personaliser(layout_for(self.form), self.ws.config.year,
                                                  self.key, self.ws.config.office)
            data = self._personaliser.copy_for(unit)
        return template_name(unit, self.ws.config.year), data

    def unit_rows(self, code: str) -> list[Row]:
        """The unit's submissions this year (and its refused files), oldest first."""
        year = self.ws.config.year
        return [r for r in self.ledger().rows(unit_code=code) if r.kind == "workbook"
                and (r.verdict.year == year or r.verdict.status == "rejected")]

    def unit_state(self, unit: Unit, rows: list[Row]) -> UnitStatus:
        return _one(unit.code, unit.name, unit.parent, unit.contact, self.deadline(unit), rows,
                    datetime.now(CHINA))

    def outputs_of(self, row: Row) -> dict[str, Path]:
        """The receipt and feedback workbook `collect` wrote for a submission."""
        short = row.sha256[:8]
        unit = self.units.get(row.verdict.unit_code or "")
        folders = [self.ws.feedback_dir / "未受理"]
        if unit is not None:
            folders.insert(0, inside(self.ws.feedback_dir, f"{unit.code}-{unit.name[:40]}"))
        out: dict[str, Path] = {}
        for folder in folders:
            for kind, pattern in (("receipt", f"*-回执-{short}.txt"),
                                  ("feedback", f"*-反馈-{short}.xlsx")):
                for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
                    if kind not in out and _mentions(path, row.sha256, kind):
                        out[kind] = path
        return out

    def status(self) -> StatusReport:
        """Where the collection stands (status --json), computed at most once per
        STATUS_TTL seconds while nothing changed through this portal: a dashboard polled by
        several clerks over 10,000 units does not recompute it for each of them. Changes
        made outside (a `collect` on the command line) show within STATUS_TTL."""
        with self._lock:
            cached = self._status
            if cached and cached[0] == self._changes and time.monotonic() - cached[1] < STATUS_TTL:
                return cached[2]
            changes = self._changes
        report = unit_status(self.ledger(), self.ws.config)
        with self._lock:
            self._status = (changes, time.monotonic(), report)
        return report

    def changed(self) -> None:
        """Something was stored or judged: the next status is computed afresh."""
        with self._lock:
            self._changes += 1

    # -- the intake -----------------------------------------------------------------------
    def intake(self, paths: list[Path], expected_unit: str | None) -> list[dict[str, Any]]:
        """Judge and store files through `collect` (in the intake process); the report
        item of each. `expected_unit`: they came through that unit's link."""
        try:
            return self.intakes.submit(paths, expected_unit)
        finally:
            self.changed()

    def close(self) -> None:
        self.intakes.close()


def drop_stale_uploads(folder: Path) -> None:
    """A server killed mid-upload leaves files that were never judged: the sender got no
    answer and sends again, so they are dropped (the ledger has what was committed).
    Only folders of servers no longer running are removed."""
    here = _host()
    for sub in folder.iterdir() if folder.is_dir() else []:
        host, _, pid = sub.name.rpartition("-")
        if host != here or not pid.isdigit():
            continue  # another host's, on a shared folder: its pids mean nothing here
        if _running(int(pid)) and int(pid) != os.getpid():
            continue
        shutil.rmtree(sub, ignore_errors=True)


def _host() -> str:
    """This machine's name as a folder name may hold it (hosts may share the workspace)."""
    return "".join(c if c.isalnum() or c in "._" else "_" for c in socket.gethostname())


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _mentions(path: Path, sha256: str, kind: str) -> bool:
    """A receipt names its file's full hash (8 hex digits in the name could collide);
    a feedback workbook sits in its unit's own folder."""
    if kind != "receipt":
        return True
    try:
        return sha256 in path.read_text(encoding="utf-8")
    except OSError:
        return False


def file_record(row: Row) -> dict[str, Any]:
    """A stored submission as `check --json` describes a file (plus the collection's
    own findings: signature, unit, year)."""
    v = row.verdict
    severities = {f.get("severity") for f in v.findings}
    status = ("unusable" if "fatal" in severities else
              "invalid" if severities & {"error"} else "valid")
    return {"file": row.file_name, "sha256": row.sha256, "size": row.size, "status": status,
            "form": {"id": v.form_id, "version": v.form_version},
            "identity": v.record.get("identity", {}), "values": v.record.get("values", {}),
            "findings": v.findings}
