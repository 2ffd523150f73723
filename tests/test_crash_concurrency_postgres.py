"""The crash and concurrency guarantees on PostgreSQL: real `nianbao collect` processes on one
server, SIGKILLed mid-run or racing each other; every file accounted for, each bytes once."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from nianbao.collect.ledger import Ledger, open_ledger
from nianbao.collect.workspace import open_workspace
from nianbao.testing.postgres import ThrowawayPostgres
from tests.collect_helpers import copy_workspace
from tests.test_crash_concurrency import (
    RUN_TIMEOUT,
    Inbox,
    assert_group_gone,
    build_inbox,
    inbox_files,
    judged,
    kill_group,
    outputs,
    run_to_end,
    start,
)


@pytest.fixture(scope="module")
def pg_inbox(tmp_path_factory: pytest.TempPathFactory, postgres: ThrowawayPostgres) -> Inbox:
    root = tmp_path_factory.mktemp("crash-pg")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NIANBAO_DB", postgres.fresh_schema())
        ws, folder = build_inbox(root)
        reference = copy_workspace(ws, root / "reference").root
    files = inbox_files(folder)
    started = time.monotonic()
    report, _ = run_to_end(reference, folder)
    seconds = time.monotonic() - started
    assert report["outcomes"] == {"stored": 16, "rejected": 19, "duplicate": 5}
    with open_ledger(open_workspace(reference)) as ledger:
        clean = judged(ledger)
    return Inbox(ws, folder, files, clean, seconds)


def ledger_of(ws: Path) -> Ledger:
    return open_ledger(open_workspace(ws))


def sightings(ledger: Ledger, run: int | None = None) -> list[tuple[str, str | None, str]]:
    sql = "SELECT path, sha256, outcome FROM sightings"
    rows = ledger.db.execute(sql + (" WHERE run_id = ?" if run else "") + " ORDER BY id",
                             (run,) if run else ())
    return [tuple(r) for r in rows]


def assert_whole(ledger: Ledger, ws: Path) -> None:
    """Whatever a killed run left: every submission has its verdict and its blob."""
    db = ledger.db
    assert db.execute("SELECT count(*) FROM submissions s WHERE NOT EXISTS (SELECT 1 FROM"
                      " validations v WHERE v.submission_id = s.id)").fetchone()[0] == 0
    for _, stored in db.execute("SELECT sha256, stored FROM submissions"):
        assert (ws / "store" / stored).is_file()


@pytest.mark.parametrize("seed", range(3))
def test_collect_killed_then_rerun_on_postgresql(pg_inbox: Inbox, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 seed: int) -> None:
    ws = copy_workspace(pg_inbox.workspace, tmp_path / "ws").root
    proc = start(ws, pg_inbox.folder, tmp_path / "killed")
    try:
        # kill once the ledger holds something (or, with seed 0, during start-up)
        deadline = time.monotonic() + RUN_TIMEOUT
        with ledger_of(ws) as watch:
            while seed and proc.poll() is None and time.monotonic() < deadline:
                if watch.db.execute("SELECT count(*) FROM sightings").fetchone()[0]:
                    break
                time.sleep(0.01)
        time.sleep(random.Random(seed).uniform(0.0, 0.2))
    finally:
        kill_group(proc)
    assert_group_gone(proc.pid)
    with ledger_of(ws) as ledger:
        assert_whole(ledger, ws)
        killed = sightings(ledger)
    report, _ = run_to_end(ws, pg_inbox.folder, tmp_path / "rerun")
    with ledger_of(ws) as ledger:
        assert_whole(ledger, ws)
        assert sorted(r.sha256 for r in ledger.rows()) == sorted(set(pg_inbox.files.values()))
        assert judged(ledger) == pg_inbox.clean
        again = sightings(ledger, report["run"])
    assert sorted((p, s) for p, s, _ in again) == sorted(pg_inbox.files.items())
    committed = {s for _, s, o in killed if o != "duplicate"}
    new = {s for _, s, o in again if o != "duplicate"}
    assert committed.isdisjoint(new)
    assert len(committed) + len(new) == len(set(pg_inbox.files.values()))
    # killed, or it finished first: 1 and 2 are its verdicts on the inbox's bad files
    if proc.returncode not in (-signal.SIGKILL, 0, 1, 2):
        pytest.fail(f"collect ended with {proc.returncode}")


def test_two_collects_at_once_on_postgresql(pg_inbox: Inbox, tmp_path: Path) -> None:
    ws = copy_workspace(pg_inbox.workspace, tmp_path / "ws").root
    procs = []
    try:
        procs.append(start(ws, pg_inbox.folder, tmp_path / "one"))
        procs.append(start(ws, pg_inbox.folder, tmp_path / "two"))
        for proc in procs:
            proc.wait(RUN_TIMEOUT)
    finally:
        for proc in procs:
            kill_group(proc)
    reports: list[dict[str, Any]] = []
    import json

    for name, proc in zip(("one", "two"), procs, strict=True):
        stdout, stderr = outputs(tmp_path / name)
        assert proc.returncode in (0, 1, 2), (proc.returncode, stderr[-3000:])
        assert "Traceback" not in stderr, stderr[-3000:]
        reports.append(json.loads(stdout))
    n = len(pg_inbox.files)
    assert [r["files"] for r in reports] == [n, n]
    with ledger_of(ws) as ledger:
        assert_whole(ledger, ws)
        assert sorted(r.sha256 for r in ledger.rows()) == sorted(set(pg_inbox.files.values()))
        assert judged(ledger) == pg_inbox.clean
        assert sum(ledger.counts().values()) == 2 * n
        seen = sightings(ledger)
    for path, sha in pg_inbox.files.items():  # each path sighted once per run
        assert [s for p, s, _ in seen if p == path] == [sha, sha]
