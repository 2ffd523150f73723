"""Two `nianbao serve` hosts on one workspace folder and one PostgreSQL ledger: 100 uploads
spread over both, the same file sent to both at once, and one host SIGKILLed mid-upload.
Every file is accounted for once and every unit's status is exact."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from nianbao.collect.ledger import open_ledger
from nianbao.collect.status import unit_status
from nianbao.testing.postgres import ThrowawayPostgres
from nianbao.web.tokens import office_secret
from tests.collect_helpers import complete_values, issue, make_workspace, sha
from tests.test_web_server import ROSTER, UNITS, _send_all, names, returns
from tests.web_helpers import (
    free_port,
    kill_server,
    served,
    start_server,
    uploads_until_killed,
    wait_ready,
)


@pytest.fixture
def pg_workspace(tmp_path: Path, postgres: ThrowawayPostgres,
                 monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("NIANBAO_DB", postgres.fresh_schema())
    ws, ledger = make_workspace(tmp_path / "ws", ROSTER)
    ledger.close()
    monkeypatch.delenv("NIANBAO_DB")  # the workspace's own config names its schema
    assert ws.config.db and not (ws.root / "ledger.sqlite").exists()
    return ws


def test_two_hosts_one_database(pg_workspace: Any) -> None:
    ws = pg_workspace
    files = returns(ws, 100)
    # sent to both hosts at the same moment (figures no other file has)
    twin = issue(ws, UNITS[0], complete_values(t2__licensing=9999), name=names(UNITS[0]))
    port_a = free_port()
    host_a = start_server(ws.root, port_a)
    try:
        base_a = wait_ready(host_a, port_a, 60)
        with served(ws.root) as base_b:
            at_once = _at_once([base_a, base_b], ws.key, (UNITS[0], "同一份.xlsx", twin, "valid"))
            first = asyncio.run(_send_all(base_a, ws.key, files[0:50:2], 8))
            second = asyncio.run(_send_all(base_b, ws.key, files[1:50:2], 8))
            # host A is killed while slow uploads stream into it; B goes on
            done = uploads_until_killed(host_a, base_a, ws.key, files[50:60])
            assert len(done) < 10  # the kill landed while uploads were under way
            rest = asyncio.run(_send_all(base_b, ws.key, files[60:], 8))
            again = asyncio.run(_send_all(base_b, ws.key, files[50:60], 8))
            status = httpx.get(f"{base_b}/api/status", timeout=30, headers={
                "authorization": "Bearer " + office_secret(ws.key)}).json()
    finally:
        kill_server(host_a)
    assert sorted(a["duplicate"] for a in at_once) == [False, True]
    assert {a["submission_id"] for a in at_once} == {at_once[0]["submission_id"]}
    answers = first + second + rest
    expected = files[0:50:2] + files[1:50:2] + files[60:]
    assert [a["verdict"] for a in answers] == [f[3] for f in expected]
    assert [a["verdict"] for a in again] == [f[3] for f in files[50:60]]
    # what was answered before the kill is recorded (and maybe more, unanswered)
    assert sum(a["duplicate"] for a in again) >= len(done)
    with open_ledger(ws) as ledger:
        rows = {r.sha256: r for r in ledger.rows()}
        report = unit_status(ledger, ws.config)
        counts = ledger.counts()
    assert sorted(rows) == sorted({sha(f[2]) for f in files} | {sha(twin)})
    for sender, _, data, verdict in files:
        assert (rows[sha(data)].verdict.unit_code, rows[sha(data)].verdict.status) == (
            sender, verdict)
    for row in rows.values():
        assert (ws.store_dir / row.stored).is_file()
    assert counts["stored"] + counts["rejected"] == len(files) + 1
    assert status["totals"] == report.totals and report.totals["valid"] == len(UNITS)


def _at_once(bases: list[str], key: bytes, upload: tuple[str, str, bytes, str]
             ) -> list[dict[str, Any]]:
    """The same upload to every host, released together by a barrier."""
    ready = threading.Barrier(len(bases))
    answers: list[dict[str, Any]] = [{} for _ in bases]

    def send(i: int) -> None:
        ready.wait()
        answers[i] = asyncio.run(_send_all(bases[i], key, [upload], 1))[0]

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers
