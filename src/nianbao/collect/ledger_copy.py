"""Moving a ledger between databases (SQLite <-> PostgreSQL), verified table by table.

The copy keeps every id, so receipts, feedback and exports that cite a submission number
stay true; it is checked by row counts and a hash of every table's content on both sides.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from nianbao.collect.ledger_db import POSTGRESQL, Database, LedgerError, Transaction
from nianbao.collect.ledger_schema import KEYS, TABLES

SEQUENCED = ("runs", "submissions", "validations", "sightings")


def _select(db: Database, table: str) -> Any:
    return db.execute(f"SELECT * FROM {table} ORDER BY {KEYS.get(table, 'id')}")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": bytes(value).hex()}
    return value


def table_digest(db: Database, table: str) -> tuple[int, str]:
    """(rows, sha256 of the rows in key order): equal on both sides after a good copy."""
    digest, count = hashlib.sha256(), 0
    for row in _select(db, table):
        digest.update(json.dumps([_plain(v) for v in row], ensure_ascii=False).encode())
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


def copy_ledger(source: Database, target: Database) -> dict[str, tuple[int, str]]:
    """Copy every row of `source` into `target` (a ledger with the schema and no runs or
    submissions yet), in one transaction, then verify; returns rows and hash per table."""
    for table in ("runs", "submissions"):
        held = target.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if held:
            raise LedgerError(f"{target.where}：目标台账里已有数据（{table} 表 {held} 行），"
                              "只能复制到空的台账")
    with Transaction(target):
        target.execute("DELETE FROM units")
        for table in TABLES:
            cursor = _select(source, table)
            names = [d[0] for d in cursor.description]
            rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                    for r in cursor]
            marks = ", ".join("?" for _ in names)
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
            if table == "meta":
                sql += " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            if rows:
                target.executemany(sql, rows)
        if target.dialect == POSTGRESQL:
            # Ids were given explicitly: move each identity past them for the next insert.
            for table in SEQUENCED:
                target.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                               f" coalesce(max(id), 0) + 1, false) FROM {table}")
    digests = {}
    for table in TABLES:
        theirs, ours = table_digest(source, table), table_digest(target, table)
        if theirs != ours:
            raise LedgerError(f"复制后核对不符：{table} 表源 {theirs[0]} 行、目标 {ours[0]} 行"
                              "（或内容校验值不同）；目标台账可能不完整，请勿使用")
        digests[table] = ours
    return digests
