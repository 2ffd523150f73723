"""`nianbao collect` killed at any moment, or run twice at once, loses and duplicates nothing.

An inbox of 40 returns (valid, invalid, resubmissions, byte-identical copies, files of
another office and year, and bad files from tests/badfiles.py) is built once per module
with render + issue_options (no LibreOffice), together with a clean reference run.

* Kill: `nianbao collect -w WS INBOX --jobs 2` runs as a subprocess in its own process
  group, which gets SIGKILL at a point chosen by the seed (20 seeds): at a random time in
  start-up, after a random number of blobs were stored (workers writing blobs, feedback and
  receipts), once the run is in the ledger, a random moment after the last blob (the
  sync and the ledger transaction), right after the submissions were committed, or after
  the run finished. Progress is watched rather than guessed, so every phase is hit on a
  fast or a loaded machine. The ledger must then be consistent (integrity_check ok;
  every submission has a validation and its blob; every blob's hash is its name); a re-run
  must complete, account for every file once, and leave the same judged submissions as
  the clean run.
* Concurrency: two collects started together on one workspace and the same inbox store
  each file's bytes once, record 2 x files sightings, and never fail on a locked database.

Every subprocess runs in its own session; its whole process group is SIGKILLed in a
`finally`, so a failing test leaves nothing running.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nianbao.collect.ledger import Ledger
from tests.badfiles import build_corpus
from tests.collect_helpers import NAMES, complete_values, issue, make_workspace, put
from tests.collect_helpers import sha as sha256

NIANBAO = Path(sys.executable).with_name("nianbao")
KILL_SEEDS = range(20)
CONCURRENT_SEEDS = range(4)
RUN_TIMEOUT = 120.0
BAD_FILES = ("empty.xlsx", "csv_utf8.xlsx", "html_page.xlsx", "plain_text.xlsx",
             "random_bytes.xlsx", "old_excel.xls", "wps_table.et", "encrypted.xlsx",
             "zip_password.xlsx", "ods_renamed.xlsx", "docx_renamed.xlsx", "truncated.xlsx",
             "bad_crc.xlsx", "macros.xlsm", "zip_bomb.xlsx", "too_many_members.xlsx",
             "billion_laughs.xlsx", "external_links.xlsx")


@dataclass(frozen=True)
class Inbox:
    workspace: Path          # a fresh workspace (roster synced, empty ledger): copy it
    folder: Path             # the inbox, read-only
    files: dict[str, str]    # path -> sha256 of every file collect will be handed
    clean: dict[str, Any]    # judged submissions after one uninterrupted run
    clean_seconds: float     # how long that run took


def build_inbox(root: Path) -> tuple[Path, Path]:
    ws, ledger = make_workspace(root / "ws")
    ledger.close()
    other, other_ledger = make_workspace(root / "city", office="青溪市政务公开办")
    other_ledger.close()
    inbox = root / "inbox"
    for i, code in enumerate(NAMES):
        put(inbox, f"a_{code}.xlsx", issue(ws, code))
        put(inbox, f"b_{code}_错.xlsx", issue(ws, code, complete_values(
            t3__new__natural_person=11 + i)))
        put(inbox, f"c_{code}_修改.xlsx", issue(ws, code, complete_values(
            t2__licensing=200 + i)))
        put(inbox / "邮件" / "转发", f"a_{code}（副本）.xlsx", issue(ws, code))
    put(inbox, "d_市里的模板.xlsx", issue(other, "330599-002"))
    put(inbox, "e_2021.xlsx", issue(ws, "330599-003", year=2021))
    corpus = build_corpus(root / "corpus", issue(ws, "330599-007",
                                                  complete_values(t2__penalty=7)))
    (inbox / "坏文件").mkdir()
    for name in BAD_FILES:
        shutil.copyfile(corpus[name][0], inbox / "坏文件" / name)
    return ws.root, inbox


def inbox_files(inbox: Path) -> dict[str, str]:
    return {str(p): sha256(p.read_bytes()) for p in sorted(inbox.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Inbox:
    root = tmp_path_factory.mktemp("crash")
    ws, folder = build_inbox(root)
    files = inbox_files(folder)
    assert len(files) == 40
    reference = root / "reference"
    shutil.copytree(ws, reference)
    started = time.monotonic()
    report, _ = run_to_end(reference, folder)
    seconds = time.monotonic() - started
    assert report["files"] == len(files)
    assert report["outcomes"] == {"stored": 16, "rejected": 19, "duplicate": 5}
    with Ledger(reference / "ledger.sqlite") as ledger:
        clean = judged(ledger)
    return Inbox(ws, folder, files, clean, seconds)


# --- running and killing collect --------------------------------------------------------------


def start(ws: Path, inbox: Path, out: Path) -> subprocess.Popen[bytes]:
    """`nianbao collect` in its own session (process group); output into files."""
    with open(out.with_suffix(".out"), "wb") as stdout, \
            open(out.with_suffix(".err"), "wb") as stderr:
        return subprocess.Popen(
            [str(NIANBAO), "collect", "-w", str(ws), str(inbox), "--jobs", "2", "--json"],
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"})


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group this test started (collect and its workers), reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def live_members(pgid: int) -> list[int]:
    """Pids of the group's processes that are still running (zombies excluded)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = stat.read_text()
            fields = text[text.rfind(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return pids


def assert_group_gone(pgid: int) -> None:
    deadline = time.monotonic() + 5
    while live_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_members(pgid) == []


def outputs(out: Path) -> tuple[str, str]:
    return (out.with_suffix(".out").read_text(encoding="utf-8", errors="replace"),
            out.with_suffix(".err").read_text(encoding="utf-8", errors="replace"))


def run_to_end(ws: Path, inbox: Path, out: Path | None = None) -> tuple[dict[str, Any], str]:
    """A collect that must complete: its JSON report (and stderr)."""
    out = out or ws.parent / f"{ws.name}-run"
    proc = start(ws, inbox, out)
    try:
        proc.wait(RUN_TIMEOUT)
    finally:
        kill_group(proc)
    stdout, stderr = outputs(out)
    assert proc.returncode in (0, 1, 2), (proc.returncode, stderr[-3000:])
    assert "Traceback" not in stderr and "locked" not in stderr, stderr[-3000:]
    return json.loads(stdout), stderr


# --- what the ledger must be -------------------------------------------------------------------


def judged(ledger: Ledger) -> dict[str, Any]:
    """The judged submissions by sha256, without ids, times or paths."""
    return {r.sha256: (r.size, r.verdict.status, r.verdict.reason, r.verdict.unit_code,
                       r.verdict.year, sorted(f["code"] for f in r.verdict.findings))
            for r in ledger.rows()}


def assert_consistent(ws: Path) -> None:
    """What a killed collect may leave: anything, as long as what is there is whole."""
    db = sqlite3.connect(ws / "ledger.sqlite", timeout=30)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = db.execute(
            "SELECT s.id, s.file_name FROM submissions s WHERE NOT EXISTS"
            " (SELECT 1 FROM validations v WHERE v.submission_id = s.id)").fetchall()
        assert orphans == []
        stray = db.execute(
            "SELECT id, path FROM sightings WHERE outcome != 'rejected' AND submission_id IS"
            " NULL OR (submission_id IS NOT NULL AND submission_id NOT IN"
            " (SELECT id FROM submissions))").fetchall()
        assert stray == []
        for sha, stored in db.execute("SELECT sha256, stored FROM submissions"):
            blob = ws / "store" / stored
            assert blob.is_file(), f"submission {sha} has no blob {stored}"
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha
    finally:
        db.close()
    for blob in (ws / "store").glob("*/*"):
        if blob.name.startswith("."):
            continue  # a temporary file of an interrupted atomic write, never a blob
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, blob
        assert blob.parent.name == blob.name[:2]


def sightings(ws: Path, run: int | None = None) -> list[tuple[str, str | None, str]]:
    db = sqlite3.connect(ws / "ledger.sqlite", timeout=30)
    try:
        sql = "SELECT path, sha256, outcome FROM sightings"
        rows = db.execute(sql + (" WHERE run_id = ?" if run else ""),
                          (run,) if run else ()).fetchall()
        return [tuple(r) for r in rows]
    finally:
        db.close()


def assert_complete(ws: Path, box: Inbox, report: dict[str, Any]) -> None:
    """After a completed run: every inbox file once in the ledger, every sighting counted."""
    n = len(box.files)
    assert report["files"] == n and sum(report["outcomes"].values()) == n
    with Ledger(ws / "ledger.sqlite") as ledger:
        subs = [r.sha256 for r in ledger.rows()]
        assert sorted(subs) == sorted(set(box.files.values()))  # each bytes once, none lost
        assert judged(ledger) == box.clean                       # and judged as a clean run
        last = sightings(ws, report["run"])
        assert sorted((p, s) for p, s, _ in last) == sorted(box.files.items())
        counts = ledger.counts()
        assert sum(counts.values()) == len(sightings(ws))
        db = ledger.db
        per_run = dict(db.execute("SELECT run_id, count(*) FROM sightings GROUP BY run_id"))
        assert per_run[report["run"]] == n
        assert {o: c for o, c in db.execute(
            "SELECT outcome, count(*) FROM sightings WHERE run_id = ? GROUP BY outcome",
            (report["run"],))} == {k: v for k, v in report["outcomes"].items() if v}
    blobs = sorted(p.name for p in (ws / "store").glob("*/*") if not p.name.startswith("."))
    assert blobs == sorted(set(box.files.values()))


# --- the tests ------------------------------------------------------------------------------


def blobs(ws: Path) -> int:
    return sum(1 for p in (ws / "store").glob("*/*") if not p.name.startswith("."))


def ledger_says(ws: Path, sql: str) -> int:
    """One number from the ledger, read-only (0 while it cannot be read)."""
    try:
        db = sqlite3.connect(f"file:{ws / 'ledger.sqlite'}?mode=ro", uri=True, timeout=0.05)
        try:
            return int(db.execute(sql).fetchone()[0] or 0)
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def kill_point(seed: int, rng: random.Random, box: Inbox) -> tuple[str, Any]:
    """Where seed `seed` kills collect: a time during start-up, or a moment defined by
    progress (so that every phase is hit whatever the machine's speed)."""
    kinds = ["startup", "blobs", "blobs", "blobs", "blobs", "ledger", "blobs", "blobs",
             "stored-all", "committed", "startup", "blobs", "blobs", "blobs", "blobs", "ledger",
             "stored-all", "committed", "stored-all", "finished"]
    kind = kinds[seed % len(kinds)]
    if kind == "startup":
        return kind, rng.uniform(0.0, 0.8)
    if kind == "blobs":
        return kind, 1 + rng.randrange(len(set(box.files.values())) - 1)
    if kind == "committed":  # between the commit and the end of the run
        return kind, rng.uniform(0.0, 0.005)
    return kind, rng.uniform(0.0, 0.4)  # extra delay after the event


def wait_for(kind: str, arg: Any, ws: Path, proc: subprocess.Popen[bytes], box: Inbox
             ) -> None:
    """Sleep until the kill point (or until collect ended on its own)."""
    if kind == "startup":
        time.sleep(arg)
        return
    distinct = len(set(box.files.values()))
    reached = {
        "blobs": lambda: blobs(ws) >= arg,
        "ledger": lambda: ledger_says(ws, "SELECT count(*) FROM runs") > 0,
        "stored-all": lambda: blobs(ws) >= distinct,
        "committed": lambda: ledger_says(ws, "SELECT count(*) FROM submissions") > 0,
        "finished": lambda: ledger_says(ws, "SELECT count(finished_at) FROM runs") > 0,
    }[kind]
    deadline = time.monotonic() + RUN_TIMEOUT
    while proc.poll() is None and not reached() and time.monotonic() < deadline:
        time.sleep(0.002)
    if kind != "blobs":
        time.sleep(arg)


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_collect_killed_then_rerun(inbox: Inbox, tmp_path: Path, seed: int) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(inbox.workspace, ws)
    kind, arg = kill_point(seed, random.Random(seed), inbox)
    proc = start(ws, inbox.folder, tmp_path / "killed")
    try:
        wait_for(kind, arg, ws, proc, inbox)
    finally:
        kill_group(proc)
    assert_group_gone(proc.pid)
    assert_consistent(ws)
    killed = sightings(ws)
    assert len(killed) == len({p for p, _, _ in killed}) <= len(inbox.files)  # no path twice
    if kind == "blobs" and proc.returncode == -signal.SIGKILL:
        assert blobs(ws) >= arg  # the kill came where it was meant to

    report, _ = run_to_end(ws, inbox.folder, tmp_path / "rerun")
    assert_consistent(ws)
    assert_complete(ws, inbox, report)
    # what the killed run committed is not stored again: the re-run sees it as a duplicate
    committed = {s for _, s, o in killed if o != "duplicate"}
    again = {s for _, s, o in sightings(ws, report["run"]) if o != "duplicate"}
    assert committed.isdisjoint(again)
    assert len(committed) + len(again) == len(set(inbox.files.values()))


@pytest.mark.parametrize("seed", CONCURRENT_SEEDS)
def test_two_collects_at_once(inbox: Inbox, tmp_path: Path, seed: int) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(inbox.workspace, ws)
    rng = random.Random(1000 + seed)
    procs = []
    try:
        procs.append(start(ws, inbox.folder, tmp_path / "one"))
        time.sleep(rng.uniform(0.0, 0.3))
        procs.append(start(ws, inbox.folder, tmp_path / "two"))
        for proc in procs:
            proc.wait(RUN_TIMEOUT)
    finally:
        for proc in procs:
            kill_group(proc)
    for proc in procs:
        assert_group_gone(proc.pid)
    reports = []
    for name, proc in zip(("one", "two"), procs, strict=True):
        stdout, stderr = outputs(tmp_path / name)
        assert proc.returncode in (0, 1, 2), (proc.returncode, stderr[-3000:])
        assert "locked" not in stderr and "Traceback" not in stderr, stderr[-3000:]
        reports.append(json.loads(stdout))
    n = len(inbox.files)
    assert [r["files"] for r in reports] == [n, n]
    assert_consistent(ws)
    with Ledger(ws / "ledger.sqlite") as ledger:
        assert sorted(r.sha256 for r in ledger.rows()) == sorted(set(inbox.files.values()))
        assert judged(ledger) == inbox.clean
        assert sum(ledger.counts().values()) == 2 * n
    seen = sightings(ws)
    assert len(seen) == 2 * n
    for path, sha in inbox.files.items():  # each path sighted once per run ...
        assert [s for p, s, _ in seen if p == path] == [sha, sha]
    for sha in set(inbox.files.values()):  # ... and its bytes entered the ledger once
        assert sum(1 for _, s, o in seen if s == sha and o != "duplicate") == 1
    outcomes: dict[str, int] = {}
    for r in reports:
        for k, v in r["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + v
    assert outcomes.get("stored", 0) + outcomes.get("rejected", 0) == len(set(
        inbox.files.values()))
    blobs = sorted(p.name for p in (ws / "store").glob("*/*") if not p.name.startswith("."))
    assert blobs == sorted(set(inbox.files.values()))
