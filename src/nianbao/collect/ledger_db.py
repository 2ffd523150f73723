"""The database under the ledger: SQLite (embedded default) or PostgreSQL, one interface.

The ledger writes its SQL once, with `?` placeholders and the syntax both databases share
(`INSERT ... ON CONFLICT`, `RETURNING`); this module connects, translates placeholders,
opens short transactions and turns every database failure into a `LedgerError` in Chinese.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from nianbao.errors import StorageError
from nianbao.fsutil import disk_full

SQLITE, POSTGRESQL = "sqlite", "postgresql"


class LedgerError(StorageError):
    """The ledger's database cannot be used; the message says which and why, in Chinese."""


class Database(Protocol):
    """What the ledger needs of a database connection."""

    dialect: str
    where: str                                   # for messages: a path or a URL without password

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    def in_transaction(self) -> bool: ...
    def close(self) -> None: ...


def is_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def connect(target: str | Path, timeout: float = 60.0) -> Database:
    """A connection to the ledger at `target`: a SQLite file path or a PostgreSQL URL."""
    if is_url(target):
        return PostgresDatabase(str(target), timeout)
    return SqliteDatabase(Path(target), timeout)


def display(target: str | Path) -> str:
    """The target as it may be shown to a person: a URL without its password."""
    if not is_url(target):
        return str(target)
    parts = urlsplit(str(target))
    if parts.password is None:
        return str(target)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


class SqliteDatabase:
    """One SQLite file; WAL, full sync, `BEGIN IMMEDIATE` so writers serialise cleanly."""

    dialect = SQLITE

    def __init__(self, path: Path, timeout: float) -> None:
        self.where = str(path)
        try:
            self.conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise LedgerError(f"{path}：无法打开台账：{exc}") from None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, args)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def close(self) -> None:
        self.conn.close()


class Record(tuple):  # type: ignore[type-arg]
    """A PostgreSQL row that reads like sqlite3.Row: by position, by name, `dict(row)`."""

    names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return self.names


def _record_factory(cursor: Any) -> Any:
    names = tuple(c.name for c in cursor.description or ())

    def make(values: Sequence[Any]) -> Record:
        row = Record(values)
        row.names = names
        return row
    return make


class PostgresDatabase:
    """A PostgreSQL server (or a compatible one) reached by a libpq URL; autocommit with
    explicit short transactions, as on SQLite."""

    dialect = POSTGRESQL

    def __init__(self, url: str, timeout: float) -> None:
        self.where = display(url)
        try:
            import psycopg
        except ImportError:
            raise LedgerError("台账设在 PostgreSQL，但没有安装 psycopg：请运行 "
                              "pip install 'nianbao[postgresql]'") from None
        self.errors = psycopg.Error
        try:
            self.conn = psycopg.connect(url, autocommit=True, row_factory=_record_factory,
                                        connect_timeout=max(1, int(timeout)))
        except psycopg.Error as exc:
            raise LedgerError(f"无法连接台账数据库 {self.where}：{_first_line(exc)}") from None
        self._sql: dict[str, str] = {}

    def _translate(self, sql: str) -> str:
        text = self._sql.get(sql)
        if text is None:
            text = self._sql[sql] = sql.replace("%", "%%").replace("?", "%s")
        return text

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self._translate(sql), tuple(args))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self._translate(sql), [tuple(r) for r in rows])

    def begin(self) -> None:
        self.conn.execute("BEGIN")

    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.conn.close()


class Transaction:
    """BEGIN ... COMMIT, rolled back on any exception (re-entrant: nested uses join the outer
    transaction). A database failure becomes a LedgerError that says what happened; a
    rollback that itself fails (the connection or the disk is gone) does not hide it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.outer = False

    def __enter__(self) -> None:
        if not self.db.in_transaction():
            try:
                self.db.begin()  # type: ignore[attr-defined]
            except database_errors(self.db) as exc:
                raise LedgerError(describe(self.db, exc)) from exc
            self.outer = True

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if not self.outer:
            return
        errors = database_errors(self.db)
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return
            except errors as failure:
                exc = failure
        try:
            if self.db.in_transaction():
                self.db.execute("ROLLBACK")
        except errors:
            pass  # the connection is gone: the server or SQLite discards the transaction
        if exc is not None and isinstance(exc, errors):
            raise LedgerError(describe(self.db, exc)) from exc


def database_errors(db: Database) -> tuple[type[BaseException], ...]:
    """The exception types a failing statement on `db` raises."""
    extra = getattr(db, "errors", None)
    return (sqlite3.Error,) + ((extra,) if extra else ())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe(db: Database, exc: BaseException) -> str:
    """A database failure in Chinese, naming the ledger; disk full said as such."""
    text = _first_line(exc)
    if disk_full(exc) or "No space left" in text:  # (the server's own words for ENOSPC)
        return f"{db.where}：磁盘空间不足，台账无法写入（{text}）"
    if db.dialect == POSTGRESQL:
        return f"台账数据库 {db.where} 出错：{text}"
    return f"{db.where}：台账出错：{text}"
