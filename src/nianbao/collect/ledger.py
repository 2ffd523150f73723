"""The ledger: every file received, as an immutable submission, and every verdict on it.

SQLite by default, behind this one module; the schema uses plain SQL types so that a
server database could hold it too. Submissions never change: a re-validation appends a
new verdict, and the latest verdict of a submission is its current one. Writes happen in
short `BEGIN IMMEDIATE` transactions, so two processes on one workspace serialise cleanly
and a killed process leaves the ledger as of its last committed batch.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nianbao.collect.roster import Unit
from nianbao.findings import json_safe
from nianbao.fsutil import storable

SCHEMA_VERSION = "2"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    code     TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    parent   TEXT,
    contact  TEXT,
    deadline TEXT,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    detail      TEXT
);
CREATE TABLE IF NOT EXISTS submissions (
    id          INTEGER PRIMARY KEY,
    sha256      TEXT NOT NULL UNIQUE,
    size        INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    source_path TEXT NOT NULL,
    received_at TEXT NOT NULL,
    run_id      INTEGER REFERENCES runs(id),
    stored      TEXT NOT NULL,
    saved_at    TEXT
);
CREATE TABLE IF NOT EXISTS validations (
    id            INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    run_id        INTEGER REFERENCES runs(id),
    validated_at  TEXT NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT,
    unit_code     TEXT,
    year          INTEGER,
    form_id       TEXT,
    form_version  TEXT,
    signature     TEXT,
    record        TEXT NOT NULL,
    findings      TEXT NOT NULL,
    errors        INTEGER NOT NULL,
    warnings      INTEGER NOT NULL,
    explained     INTEGER NOT NULL,
    engine        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS validations_by_submission ON validations (submission_id, id);
CREATE INDEX IF NOT EXISTS validations_by_unit ON validations (unit_code, year);
CREATE TABLE IF NOT EXISTS sightings (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER REFERENCES runs(id),
    path          TEXT NOT NULL,
    sha256        TEXT,
    outcome       TEXT NOT NULL,
    submission_id INTEGER REFERENCES submissions(id),
    seen_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sightings_by_path ON sightings (path, sha256);
CREATE TABLE IF NOT EXISTS extracts (
    submission_id INTEGER PRIMARY KEY REFERENCES submissions(id),
    key           TEXT NOT NULL,
    data          BLOB NOT NULL
);
CREATE VIEW IF NOT EXISTS current_validations AS
    SELECT v.* FROM validations v
    WHERE v.id = (SELECT max(id) FROM validations w WHERE w.submission_id = v.submission_id);
"""

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
        texts = self.__dict__.get("_texts")
        return texts if texts is not None else (_dump(self.record), _dump(self.findings))

    def __reduce__(self) -> tuple[Any, ...]:
        # A verdict crosses processes (collect's workers) with its record and findings as
        # the ledger's text: encoded by the workers, decoded here only if read.
        plain = {k: v for k, v in self.__dict__.items()
                 if k not in ("record", "findings", "_texts")}
        return (_from_texts, (plain, self.texts()))

    def __getattr__(self, name: str) -> Any:
        """The record or findings of a verdict unpickled as text, decoded when first read
        (from then on they may change, so the text is dropped)."""
        texts = self.__dict__.get("_texts")
        if texts is None or name not in ("record", "findings"):
            raise AttributeError(name)
        del self.__dict__["_texts"]
        self.record, self.findings = json.loads(texts[0]), json.loads(texts[1])
        return self.__dict__[name]

    def same_as(self, other: Verdict) -> bool:
        """Same outcome (ignoring when and by which engine it was judged)."""
        keys = ("status", "reason", "unit_code", "year", "form_id", "form_version",
                "signature", "record")
        return all(getattr(self, k) == getattr(other, k) for k in keys) and \
            _finding_keys(self.findings) == _finding_keys(other.findings)


def _from_texts(plain: dict[str, Any], texts: tuple[str, str]) -> Verdict:
    verdict = Verdict.__new__(Verdict)
    verdict.__dict__.update(plain, _texts=texts)
    return verdict


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
    verdict: Verdict | None = None     # None: a duplicate found before judging
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
    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("PRAGMA foreign_keys = ON")
        with self.transaction():
            self._migrate()
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                            (SCHEMA_VERSION,))
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                            (SCHEMA_VERSION,))

    def _migrate(self) -> None:
        """A ledger of schema 1 gains submissions.saved_at (NULL for what it holds)."""
        try:
            self.db.execute("SELECT saved_at FROM submissions WHERE 0 = 1")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return  # a new ledger: the schema makes the table
            self.db.execute("ALTER TABLE submissions ADD COLUMN saved_at TEXT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> _Transaction:
        return _Transaction(self.db)

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
            cur = self.db.execute("INSERT INTO runs (kind, started_at, detail) VALUES (?, ?, ?)",
                                  (kind, at, _dump(detail or {})))
            return int(cur.lastrowid or 0)

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
                existing = self.submission_id(it.sha256)
                if existing is not None or it.verdict is None:
                    out.append((DUPLICATE, existing or 0))
                    self._sighting(run_id, it.path, it.sha256, DUPLICATE, existing, at)
                    continue
                cur = self.db.execute(
                    "INSERT INTO submissions (sha256, size, kind, file_name, source_path,"
                    " received_at, run_id, stored, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (it.sha256, it.size, it.kind, storable(it.file_name), storable(it.path), at,
                     run_id, it.stored, it.saved_at))
                sid = int(cur.lastrowid or 0)
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
        self.db.execute("INSERT OR REPLACE INTO extracts VALUES (?, ?, ?)", (sid, key, data))

    def put_extracts(self, items: list[tuple[int, tuple[str, bytes]]]) -> None:
        with self.transaction():
            for sid, (key, data) in items:
                self._extract(sid, key, data)

    def extracts(self, key: str) -> dict[int, bytes]:
        """Submission id -> its extract, for the extracts made under `key`."""
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT submission_id, data FROM extracts WHERE key = ?", (key,))}

    def _validation(self, sid: int, run_id: int, at: str, v: Verdict) -> None:
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


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (re-entrant: nested uses
    join the outer transaction)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.outer = False

    def __enter__(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self.outer = True

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if not self.outer:
            return
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()  # a failed COMMIT (disk full) may leave it open
                raise
        else:
            self._rollback()

    def _rollback(self) -> None:
        """Undo what is open. SQLite may have rolled back already (disk full): then there
        is nothing to do, and the error that caused it is the one to report."""
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")


def _dump(data: Any) -> str:
    try:  # the usual case: records and findings are JSON values already
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(json_safe(data), ensure_ascii=False, separators=(",", ":"))
    return storable(text)
