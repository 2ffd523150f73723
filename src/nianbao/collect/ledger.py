"""The ledger: every file received, as an immutable submission, and every verdict on it.

SQLite by default, PostgreSQL for several hosts (ledger_db.py); the SQL here is the same
for both. Submissions never change: a re-validation appends a new verdict, and the latest
verdict of a submission is its current one. Writes happen in short transactions, so two
processes on one workspace serialise cleanly, the same bytes are recorded once (a unique
constraint decides, not a read-then-write), and a killed process leaves the ledger as of
its last committed batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nianbao.collect import ledger_schema
from nianbao.collect.ledger_db import Database, LedgerError, Transaction, connect, display
from nianbao.collect.roster import Unit
from nianbao.collect.workspace import Workspace
from nianbao.findings import json_safe
from nianbao.fsutil import storable

# Outcomes of a sighting: a file handed to collect ends as exactly one of these.
STORED, REJECTED, DUPLICATE = "stored", "rejected", "duplicate"


@dataclass
class Verdict:
    """One judgement of one submission (what a validation row holds)."""

    status: str                        # valid | invalid | rejected
    reason: str | None
    unit_code: str | None
    year: int | None
    form_id: str | None
    form_version: str | None
    signature: str | None
    record: dict[str, Any]             # {"identity": {...}, "values": {...}} as JSON values
    findings: list[dict[str, Any]]
    errors: int
    warnings: int
    explained: int
    engine: str

    def texts(self) -> tuple[str, str]:
        """The record and the findings as the ledger stores them (JSON text)."""
        return _dump(self.record), _dump(self.findings)

    def same_as(self, other: Verdict) -> bool:
        """Same outcome (ignoring when and by which engine it was judged)."""
        keys = ("status", "reason", "unit_code", "year", "form_id", "form_version",
                "signature", "record")
        return all(getattr(self, k) == getattr(other, k) for k in keys) and \
            _finding_keys(self.findings) == _finding_keys(other.findings)


@dataclass
class EncodedVerdict:
    """A verdict as it crosses from a collect worker to the parent: record and findings are
    already the ledger's JSON text (encoded once, in the worker), decoded only if read."""

    status: str
    reason: str | None
    unit_code: str | None
    year: int | None
    form_id: str | None
    form_version: str | None
    signature: str | None
    record_text: str
    findings_text: str
    errors: int
    warnings: int
    explained: int
    engine: str

    @classmethod
    def of(cls, v: Verdict) -> EncodedVerdict:
        record, findings = v.texts()
        return cls(v.status, v.reason, v.unit_code, v.year, v.form_id, v.form_version,
                   v.signature, record, findings, v.errors, v.warnings, v.explained, v.engine)

    def texts(self) -> tuple[str, str]:
        return self.record_text, self.findings_text

    def decode(self) -> Verdict:
        return Verdict(self.status, self.reason, self.unit_code, self.year, self.form_id,
                       self.form_version, self.signature, json.loads(self.record_text),
                       json.loads(self.findings_text), self.errors, self.warnings,
                       self.explained, self.engine)

    @property
    def record(self) -> dict[str, Any]:
        return json.loads(self.record_text)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return json.loads(self.findings_text)


def _finding_keys(findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((f.get("code"), f.get("sheet"), f.get("cell"), f.get("field"), f.get("rule"),
                   f.get("severity")) for f in findings)


@dataclass
class Intake:
    """A file handed to collect, after it was read and judged (plain data: crosses processes)."""

    path: str
    file_name: str
    sha256: str
    size: int
    stored: str
    kind: str = "workbook"
    verdict: Verdict | EncodedVerdict | None = None  # None: a duplicate found before judging
    outputs: dict[str, str] = field(default_factory=dict)  # feedback/receipt paths
    extract: tuple[str, bytes] | None = None  # what reading found (collect/extract.py)
    saved_at: str | None = None        # when the file says it was last saved (conflicts.py)
    staged: list[tuple[str, str]] = field(default_factory=list)  # outputs not yet in place:
    #                                  (temporary, final); collect renames the submission's


@dataclass
class Row:
    """A submission with its current verdict, as read back from the ledger."""

    id: int
    sha256: str
    size: int
    kind: str
    file_name: str
    source_path: str
    received_at: str
    stored: str
    validation_id: int
    verdict: Verdict
    run_id: int | None = None
    saved_at: str | None = None


class Ledger:
    """The ledger at `target` (a SQLite path or a PostgreSQL URL). With `workspace_id`, the
    ledger is bound to that workspace and refuses to serve another one."""

    def __init__(self, target: str | Path, timeout: float = 60.0, *,
                 workspace_id: str | None = None) -> None:
        self.target = target
        self.db: Database = connect(target, timeout)
        try:
            with self.transaction():
                ledger_schema.ensure(self.db, workspace_id)
        except BaseException:
            self.db.close()
            raise

    @property
    def path(self) -> str | Path:
        return self.target

    @staticmethod
    def shown(target: str | Path) -> str:
        """A ledger target as a person may see it (no password)."""
        return display(target)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> Transaction:
        return Transaction(self.db)

    # -- units -------------------------------------------------------------------------
    def sync_units(self, units: Iterable[Unit]) -> None:
        """Make the units table the roster. Submissions of a unit that left the roster stay
        in the ledger; status lists them as not attributable to a listed unit."""
        units = list(units)
        with self.transaction():
            self.db.execute("DELETE FROM units")
            self.db.executemany(
                "INSERT INTO units VALUES (?, ?, ?, ?, ?, ?)",
                [(u.code, u.name, u.parent or None, u.contact or None,
                  u.deadline.isoformat() if u.deadline else None, i)
                 for i, u in enumerate(units)])

    # -- runs --------------------------------------------------------------------------
    def start_run(self, kind: str, at: str, detail: dict[str, Any] | None = None) -> int:
        with self.transaction():
            row = self.db.execute("INSERT INTO runs (kind, started_at, detail) VALUES (?, ?, ?)"
                                  " RETURNING id", (kind, at, _dump(detail or {}))).fetchone()
            return int(row[0])

    def finish_run(self, run_id: int, at: str, detail: dict[str, Any]) -> None:
        with self.transaction():
            self.db.execute("UPDATE runs SET finished_at = ?, detail = ? WHERE id = ?",
                            (at, _dump(detail), run_id))

    def unfinished_runs(self) -> list[dict[str, Any]]:
        """Runs started and never finished: running now, or killed."""
        return [{"id": r["id"], "kind": r["kind"], "started_at": r["started_at"],
                 "detail": json.loads(r["detail"] or "{}")} for r in self.db.execute(
            "SELECT id, kind, started_at, detail FROM runs WHERE finished_at IS NULL"
            " ORDER BY id")]

    def close_run(self, run_id: int, at: str, detail: dict[str, Any]) -> dict[str, int]:
        """Finish a run that was killed, with what it had recorded (outcome -> files);
        a run that finished meanwhile is left as it is."""
        with self.transaction():
            counts = {r[0]: r[1] for r in self.db.execute(
                "SELECT outcome, count(*) FROM sightings WHERE run_id = ? GROUP BY outcome",
                (run_id,))}
            self.db.execute("UPDATE runs SET finished_at = ?, detail = ? WHERE id = ?"
                            " AND finished_at IS NULL",
                            (at, _dump({**detail, "recorded": counts}), run_id))
        return counts

    # -- submissions -------------------------------------------------------------------
    def known_hashes(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT sha256 FROM submissions")}

    def submission_id(self, sha256: str) -> int | None:
        row = self.db.execute("SELECT id FROM submissions WHERE sha256 = ?", (sha256,)).fetchone()
        return int(row[0]) if row else None

    def add_intakes(self, intakes: list[Intake], run_id: int, at: str) -> list[tuple[str, int]]:
        """Store a batch in one transaction; returns (outcome, submission id) per intake.
        Bytes already in the ledger (even if another process stored them a moment ago)
        are a duplicate: nothing new is stored, the sighting is recorded."""
        out = []
        with self.transaction():
            for it in intakes:
                sid = None
                if it.verdict is not None:
                    row = self.db.execute(
                        "INSERT INTO submissions (sha256, size, kind, file_name, source_path,"
                        " received_at, run_id, stored, saved_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (sha256) DO NOTHING RETURNING id",
                        (it.sha256, it.size, it.kind, storable(it.file_name), storable(it.path),
                         at, run_id, it.stored, it.saved_at)).fetchone()
                    sid = int(row[0]) if row else None
                if sid is None or it.verdict is None:
                    existing = self.submission_id(it.sha256)
                    out.append((DUPLICATE, existing or 0))
                    self._sighting(run_id, it.path, it.sha256, DUPLICATE, existing, at)
                    continue
                self._validation(sid, run_id, at, it.verdict)
                if it.extract is not None:
                    self._extract(sid, *it.extract)
                outcome = REJECTED if it.verdict.status == "rejected" else STORED
                self._sighting(run_id, it.path, it.sha256, outcome, sid, at)
                out.append((outcome, sid))
        return out

    def add_sighting(self, run_id: int, path: str, sha256: str | None, outcome: str,
                     at: str) -> None:
        with self.transaction():
            self._sighting(run_id, path, sha256, outcome, None, at)

    def add_validation(self, submission_id: int, run_id: int, at: str, verdict: Verdict) -> None:
        with self.transaction():
            self._validation(submission_id, run_id, at, verdict)

    def add_validations(self, items: list[tuple[int, Verdict]], run_id: int, at: str) -> None:
        with self.transaction():
            for sid, verdict in items:
                self._validation(sid, run_id, at, verdict)

    def _extract(self, sid: int, key: str, data: bytes) -> None:
        self.db.execute("INSERT INTO extracts VALUES (?, ?, ?) ON CONFLICT (submission_id)"
                        " DO UPDATE SET key = excluded.key, data = excluded.data",
                        (sid, key, data))

    def put_extracts(self, items: list[tuple[int, tuple[str, bytes]]]) -> None:
        with self.transaction():
            for sid, (key, data) in items:
                self._extract(sid, key, data)

    def extracts(self, key: str) -> dict[int, bytes]:
        """Submission id -> its extract, for the extracts made under `key`."""
        return {r[0]: bytes(r[1]) for r in self.db.execute(
            "SELECT submission_id, data FROM extracts WHERE key = ?", (key,))}

    def _validation(self, sid: int, run_id: int, at: str, v: Verdict | EncodedVerdict) -> None:
        self.db.execute(
            "INSERT INTO validations (submission_id, run_id, validated_at, status, reason,"
            " unit_code, year, form_id, form_version, signature, record, findings, errors,"
            " warnings, explained, engine) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (sid, run_id, at, v.status, v.reason, v.unit_code, v.year, v.form_id,
             v.form_version, v.signature, *v.texts(), v.errors,
             v.warnings, v.explained, v.engine))

    def _sighting(self, run_id: int, path: str, sha256: str | None, outcome: str,
                  sid: int | None, at: str) -> None:
        self.db.execute(
            "INSERT INTO sightings (run_id, path, sha256, outcome, submission_id, seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (run_id, storable(path), sha256, outcome, sid, at))

    # -- reading -----------------------------------------------------------------------
    def rows(self, *, unit_code: str | None = None, year: int | None = None,
             status: str | None = None) -> Iterator[Row]:
        """Submissions with their current verdict, oldest first (which of a unit's counts:
        collect/conflicts.py `order_key`)."""
        sql = ("SELECT s.*, v.id AS vid, v.status, v.reason, v.unit_code, v.year, v.form_id,"
               " v.form_version, v.signature, v.record, v.findings, v.errors, v.warnings,"
               " v.explained, v.engine FROM submissions s JOIN current_validations v"
               " ON v.submission_id = s.id")
        where, args = [], []
        for column, value in (("v.unit_code", unit_code), ("v.year", year),
                              ("v.status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.id"
        for r in self.db.execute(sql, args):
            yield Row(
                id=r["id"], sha256=r["sha256"], size=r["size"], kind=r["kind"],
                file_name=r["file_name"], source_path=r["source_path"],
                received_at=r["received_at"], stored=r["stored"], validation_id=r["vid"],
                run_id=r["run_id"], saved_at=r["saved_at"],
                verdict=Verdict(
                    status=r["status"], reason=r["reason"], unit_code=r["unit_code"],
                    year=r["year"], form_id=r["form_id"], form_version=r["form_version"],
                    signature=r["signature"], record=json.loads(r["record"]),
                    findings=json.loads(r["findings"]), errors=r["errors"],
                    warnings=r["warnings"], explained=r["explained"], engine=r["engine"]))

    def duplicate_of(self, sid: int) -> dict[str, Any]:
        """What an already-stored submission is, and whether a later one from the same unit
        supersedes it (then receiving it again is a replay of an old file)."""
        row = self.db.execute(
            "SELECT s.id, s.received_at, s.file_name, s.run_id, v.unit_code, v.year, v.status"
            " FROM submissions s JOIN current_validations v ON v.submission_id = s.id"
            " WHERE s.id = ?", (sid,)).fetchone()
        if row is None:
            return {}
        latest = self.db.execute(
            "SELECT max(s.id), max(s.received_at) FROM submissions s JOIN current_validations v"
            " ON v.submission_id = s.id WHERE v.unit_code = ? AND v.year = ?"
            " AND v.status != 'rejected'", (row["unit_code"], row["year"])).fetchone()
        newer = latest[0] is not None and latest[0] > sid and row["unit_code"] is not None
        return {"submission": sid, "received_at": row["received_at"], "file": row["file_name"],
                "unit": row["unit_code"], "status": row["status"], "replay": newer,
                "run": row["run_id"],
                "latest": latest[0] if newer else None,
                "latest_received_at": latest[1] if newer else None}

    def seen_at(self, path: str, sha256: str) -> int:
        """How many times these bytes were handed over at this path (this one included)."""
        row = self.db.execute("SELECT count(*) FROM sightings WHERE path = ? AND sha256 = ?",
                              (storable(path), sha256)).fetchone()
        return int(row[0])

    def units(self) -> list[Unit]:
        from datetime import date

        return [Unit(r["code"], r["name"], r["parent"] or "", r["contact"] or "",
                     date.fromisoformat(r["deadline"]) if r["deadline"] else None, r["position"])
                for r in self.db.execute("SELECT * FROM units ORDER BY position")]

    def counts(self) -> dict[str, int]:
        """How many files were ever handed over, by outcome (for accounting checks)."""
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT outcome, count(*) FROM sightings GROUP BY outcome")}

    def history(self, submission_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(
            "SELECT id, run_id, validated_at, status, reason, errors, warnings, engine"
            " FROM validations WHERE submission_id = ? ORDER BY id", (submission_id,))]


def _dump(data: Any) -> str:
    try:  # the usual case: records and findings are JSON values already
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(json_safe(data), ensure_ascii=False, separators=(",", ":"))
    return storable(text)


def open_ledger(ws: Workspace, timeout: float = 60.0) -> Ledger:
    """The workspace's ledger, wherever its config puts it. A workspace whose submissions are
    still in ledger.sqlite is not silently switched to an empty server database."""
    target = ws.ledger_target
    if not isinstance(target, Path) and ws.ledger_path.exists():
        with Ledger(ws.ledger_path, timeout) as local:
            held = local.db.execute("SELECT count(*) FROM submissions").fetchone()[0]
        if held:
            raise LedgerError(
                f"{ws.ledger_path} 里还有 {held} 份提交，而台账已设为 "
                f"{Ledger.shown(target)}：请先运行 nianbao db copy --to 该地址 --use 把台账"
                "搬过去，或去掉 db 设置（和环境变量 NIANBAO_DB）继续用本地台账")
    return Ledger(target, timeout, workspace_id=ws.ledger_id)
