"""A real `nianbao serve` on a loopback port: 50 simultaneous uploads from 20 units, and a
server SIGKILLed during uploads (restart, send again: nothing lost, nothing doubled)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from nianbao.collect.ledger import Ledger
from nianbao.collect.status import unit_status
from nianbao.web.tokens import office_secret
from tests.collect_helpers import complete_values, issue, make_workspace, sha
from tests.web_helpers import (
    free_port,
    link_path,
    served,
    start_server,
    uploads_until_killed,
    wait_ready,
)

UNITS = [f"330599-{i:03d}" for i in range(1, 21)]
ROSTER = "单位代码,单位名称,上级单位代码,联系人,截止日期\n" + "".join(
    f"{code},青溪区第{i}局,,,\n" for i, code in enumerate(UNITS, start=1))


def names(code: str) -> str:
    return f"青溪区第{UNITS.index(code) + 1}局"


def returns(ws: Any, count: int) -> list[tuple[str, str, bytes, str]]:
    """(link unit, file name, bytes, expected verdict): distinct files, some with errors,
    some sent through another unit's link."""
    out = []
    for i in range(count):
        code = UNITS[i % len(UNITS)]
        wrong = i % 7 == 3
        values = complete_values(t2__licensing=100 + i, **(
            {"t3__new__natural_person": 11} if wrong else {}))
        data = issue(ws, code, values, name=names(code))
        foreign = i % 11 == 5
        sender = UNITS[(i + 1) % len(UNITS)] if foreign else code
        verdict = "rejected" if foreign else "invalid" if wrong else "valid"
        out.append((sender, f"第{i}份.xlsx", data, verdict))
    return out


async def _send_all(base: str, key: bytes, files: list[tuple[str, str, bytes, str]],
                    limit: int) -> list[dict[str, Any]]:
    bound = asyncio.Semaphore(limit)
    async with httpx.AsyncClient(base_url=base, timeout=120,
                                 limits=httpx.Limits(max_connections=limit)) as c:
        async def one(sender: str, name: str, data: bytes) -> dict[str, Any]:
            async with bound:
                r = await c.post(link_path(key, sender) + "/upload",
                                 files={"file": (name, data)},
                                 headers={"accept": "application/json"})
                r.raise_for_status()
                return dict(r.json())
        return await asyncio.gather(*(one(s, n, d) for s, n, d, _ in files))


def test_fifty_simultaneous_uploads(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws", ROSTER)
    ledger.close()
    files = returns(ws, 50)
    with served(ws.root) as base:
        answers = asyncio.run(_send_all(base, ws.key, files, 50))
        status = httpx.get(f"{base}/api/status", timeout=30, headers={
            "authorization": "Bearer " + office_secret(ws.key)}).json()
    assert [a["verdict"] for a in answers] == [f[3] for f in files]
    with Ledger(ws.ledger_path) as ledger:
        rows = {r.sha256: r for r in ledger.rows()}
        refused = sum(f[3] == "rejected" for f in files)
        assert ledger.counts() == {"stored": 50 - refused, "rejected": refused} and refused
        report = unit_status(ledger, ws.config)
    assert len(rows) == 50
    for sender, _, data, verdict in files:
        row = rows[sha(data)]
        assert (row.verdict.unit_code, row.verdict.status) == (sender, verdict)
    assert {a["submission_id"] for a in answers} == {r.id for r in rows.values()}
    assert status["totals"] == report.totals and report.totals["valid"] == 20


def _cut_upload(base: str, path: str, data: bytes) -> None:
    """Send half of an upload over a raw socket and hang up."""
    host, port = base.removeprefix("http://").split(":")
    head = (b"--nb\r\nContent-Disposition: form-data; name=\"file\"; "
            b"filename=\"cut.xlsx\"\r\n\r\n")
    body = head + data + b"\r\n--nb--\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
                  "Content-Type: multipart/form-data; boundary=nb\r\n\r\n".encode()
                  + body[: len(body) // 2])
        time.sleep(0.5)


def test_server_killed_during_uploads(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws", ROSTER)
    ledger.close()
    files = returns(ws, 16)
    port = free_port()
    proc = start_server(ws.root, port)
    base = wait_ready(proc, port, 60)
    done = uploads_until_killed(proc, base, ws.key, files)
    assert len(done) < len(files)  # the kill landed while uploads were under way
    uploads = ws.root / ".nianbao" / "uploads"
    with served(ws.root) as base2:
        # what the killed server was receiving is gone
        assert not [p for p in uploads.rglob("*") if p.is_file()]
        _cut_upload(base2, link_path(ws.key, files[0][0]) + "/upload", files[0][2])
        answers = asyncio.run(_send_all(base2, ws.key, files, 8))
        assert not [p for p in uploads.rglob("*") if p.is_file()]
    assert [a["verdict"] for a in answers] == [f[3] for f in files]
    db = sqlite3.connect(ws.ledger_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Ledger(ws.ledger_path) as ledger:
        rows = list(ledger.rows())
        assert sorted(r.sha256 for r in rows) == sorted(sha(f[2]) for f in files)
        for r in rows:
            assert (ws.store_dir / r.stored).is_file()
        counts = ledger.counts()
    assert counts["stored"] + counts["rejected"] == len(files)
    # every file the ledger had before the kill came back as a duplicate, nothing twice
    assert counts.get("duplicate", 0) == sum(a["duplicate"] for a in answers) >= len(done)
