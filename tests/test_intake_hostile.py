"""Issue 15, what a hostile or clumsy inbox does to collect: special files, the workspace
collected into itself, paths skipped in silence, two files from one unit in one batch,
a full disk, a duplicate's outputs, a plain re-collect, a killed run, links out of the
folder. Inbox cases are real FIFOs, links and sparse files in a temporary folder."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nianbao.check import check_file
from nianbao.collect.distribute import distribute
from nianbao.collect.intake import collect
from nianbao.collect.ledger import Ledger
from nianbao.collect.roster import load_roster
from nianbao.collect.status import unit_status
from nianbao.read.precheck import precheck_file
from nianbao.sandbox import Failure, sandboxed_map
from tests.collect_helpers import (
    LAYOUT,
    RECEIVED,
    complete_values,
    issue,
    make_workspace,
    put,
    rows,
    sha,
    sightings,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def wsl(tmp_path: Path):
    ws, ledger = make_workspace(tmp_path / "ws")
    yield ws, ledger
    ledger.close()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail instead of hanging: a blocking open or read in this process is interrupted."""
    def expired(*_: object) -> None:
        raise TimeoutError(f"仍未结束（{seconds} 秒）：会一直挂起")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def by_name(report) -> dict[str, dict]:
    return {Path(it["path"]).name: it for it in report.items}


def store_files(ws) -> list[Path]:
    return sorted(p for p in ws.store_dir.rglob("*") if p.is_file())


# -- 1. special files: FIFO, devices, endless and huge files -----------------------------------

def test_fifo_device_and_sparse_file_are_refused_unread(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    inbox = tmp_path / "inbox"
    good = put(inbox, "a_发改局.xlsx", issue(ws, "330599-002"))
    fifo = inbox / "b_管道.xlsx"
    os.mkfifo(fifo)
    sparse = inbox / "c_巨大.xlsx"
    with open(sparse, "wb") as fh:
        fh.truncate(64 * 1024 ** 3)  # 64 GB of nothing: never read
    with deadline(60):
        report = collect(ws, ledger, [inbox, Path("/dev/zero")], jobs=2, received_at=RECEIVED)
    items = by_name(report)
    assert items["a_发改局.xlsx"]["outcome"] == "stored"
    got = {n: (it["outcome"], it["reason"]) for n, it in items.items() if n != "a_发改局.xlsx"}
    assert got == {"b_管道.xlsx": ("rejected", "FILE_MISSING"),
                   "c_巨大.xlsx": ("rejected", "FILE_TOO_LARGE"),
                   "zero": ("rejected", "FILE_MISSING")}
    assert [p.name for p in store_files(ws)] == [sha(good.read_bytes())]
    assert sorted(s for _, s, _ in sightings(ledger) if s) == [sha(good.read_bytes())]
    # nothing of them is stored: three sightings without bytes
    assert sum(1 for _, s, o in sightings(ledger) if s is None and o == "rejected") == 3
    assert ledger.counts() == {"stored": 1, "rejected": 3}


def test_check_and_precheck_never_block_on_a_fifo_or_read_a_device(tmp_path: Path) -> None:
    fifo = tmp_path / "管道.xlsx"
    os.mkfifo(fifo)
    sparse = tmp_path / "巨大.xlsx"
    with open(sparse, "wb") as fh:
        fh.truncate(8 * 1024 ** 3)
    with deadline(30):
        assert [f.code for f in check_file(fifo).findings] == ["FILE_MISSING"]
        assert "命名管道" in check_file(fifo).findings[0].message
        assert [f.code for f in check_file(Path("/dev/zero")).findings] == ["FILE_MISSING"]
        assert "设备文件" in check_file(Path("/dev/zero")).findings[0].message
        assert [f.code for f in check_file(sparse).findings] == ["FILE_TOO_LARGE"]
        assert precheck_file(fifo).kind == precheck_file("/dev/zero").kind == "missing"
        assert precheck_file(sparse).kind == "too-large"


def _note_then_die(item: int) -> int:
    from nianbao.sandbox import note

    note(("kept", item))
    os._exit(3)


def test_a_child_that_dies_hands_its_note_to_on_failure() -> None:
    """The parent never reads a file its child failed on: the child says where it kept the
    bytes before reading them, and the failure carries that."""
    failures: list[Failure] = []
    out = list(sandboxed_map(_note_then_die, [7], on_failure=lambda i, why: failures.append(why)))
    assert out == [None]
    assert (failures[0].kind, failures[0].note) == ("died", ("kept", 7))


def test_a_file_that_kills_its_reader_is_kept_without_the_parent_reading_it(
        wsl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reading child dies after keeping the bytes (forked children inherit the patched
    reader); the parent records the file from the child's note, and never opens it."""
    from nianbao.collect import intake

    ws, ledger = wsl
    data = issue(ws, "330599-002")
    path = put(tmp_path / "inbox", "致命.xlsx", data)
    monkeypatch.setattr(intake, "check_bytes", lambda *a, **k: os._exit(9))
    opened: list[str] = []
    real = intake.read_regular
    monkeypatch.setattr(intake, "read_regular",
                        lambda p, *a, **k: opened.append(os.getpid()) or real(p, *a, **k))
    report = collect(ws, ledger, [path], received_at=RECEIVED)
    (item,) = report.items
    assert (item["outcome"], item["reason"]) == ("rejected", "FILE_TIMEOUT")
    (row,) = ledger.rows()
    assert (row.sha256, (ws.store_dir / row.stored).read_bytes()) == (sha(data), data)
    assert "读取进程异常退出" in row.verdict.findings[0]["message"]
    assert os.getpid() not in opened  # read in the child only


# -- 2. the workspace collected into itself; an issued template never filled ------------------

def test_collecting_the_workspace_itself(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    units = load_roster(ws.roster_path)
    distribute(LAYOUT, units, 2022, ws.key, ws.config.office, ws.outbox)
    put(ws.root / "inbox", "教育局.xlsx", issue(ws, "330599-003"))
    collect(ws, ledger, [ws.root / "inbox"], received_at=RECEIVED)
    outbox_copy = sorted(ws.outbox.glob("*.xlsx"))[0]
    put(ws.root / "inbox", "民政局-原样退回.xlsx", outbox_copy.read_bytes())
    report = collect(ws, ledger, [ws.root], received_at="2023-01-16T10:00:00+08:00")
    skipped = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    assert {k: v for k, v in skipped.items() if k in ("outbox", "feedback", "store",
                                                      ".nianbao")} == {
        "outbox": "工作区自身的文件夹（下发模板），其中是本办的文件，不是报送文件",
        "feedback": "工作区自身的文件夹（反馈表和回执），其中是本办的文件，不是报送文件",
        "store": "工作区自身的文件夹（存档），其中是本办的文件，不是报送文件",
        ".nianbao": "工作区自身的文件夹（密钥），其中是本办的文件，不是报送文件"}
    assert {k for k, v in skipped.items() if v.startswith("工作区自身的文件（")} == {
        "nianbao.toml", "roster.csv", "ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"}
    items = by_name(report)
    assert set(items) == {"教育局.xlsx", "民政局-原样退回.xlsx"}
    assert items["教育局.xlsx"]["reason"] == "ALREADY_RECEIVED"
    blank = items["民政局-原样退回.xlsx"]
    assert (blank["outcome"], blank["status"], blank["reason"]) == (
        "rejected", "rejected", "TEMPLATE_BLANK")
    (row,) = [r for r in ledger.rows() if r.file_name == "民政局-原样退回.xlsx"]
    assert [f["code"] for f in row.verdict.findings] == ["TEMPLATE_BLANK"]
    assert "尚未填写" in row.verdict.findings[0]["message"]
    report = unit_status(ledger, ws.config)
    chased = {u.code: u.state for u in report.chase}
    assert chased[row.verdict.unit_code] == "rejected"  # still chased
    assert "330599-003" not in chased
    # the outbox given directly is refused as a whole
    again = collect(ws, ledger, [ws.outbox, ws.outbox / outbox_copy.name],
                    received_at=RECEIVED)
    assert again.files == 0
    assert [s["reason"][:9] for s in again.skipped] == ["工作区自身的文件夹"] * 2


# -- 3. every path accounted for ----------------------------------------------------------------

def test_every_path_is_read_or_listed_as_skipped(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    inbox = tmp_path / "inbox"
    real = issue(ws, "330599-002")
    assert len(real) > 4096
    put(inbox, "~$发改局年报.xlsx", real)            # a real return with a lock-file name
    put(inbox, "~$教育局.xlsx", b"\x05owner" + b" " * 160)   # Excel's 165-byte owner file
    put(inbox, ".DS_Store", b"\x00\x00\x00\x01Bud1")
    put(inbox, ".~lock.民政局.xlsx#", b"lock")
    put(inbox / ".git", "index", b"DIRC")
    other = put(tmp_path / "elsewhere", "x.xlsx", issue(ws, "330599-003"))
    os.symlink(other.parent, inbox / "链接文件夹")
    report = collect(ws, ledger, [inbox], received_at=RECEIVED)
    assert [(Path(it["path"]).name, it["outcome"]) for it in report.items] == [
        ("~$发改局年报.xlsx", "stored")]
    assert {Path(s["path"]).name: s["reason"] for s in report.skipped} == {
        "~$教育局.xlsx": "Office/WPS 打开文件时自动生成的锁定文件，不是报送文件",
        ".DS_Store": "隐藏文件，未读取", ".~lock.民政局.xlsx#": "隐藏文件，未读取",
        ".git": "隐藏文件夹，未进入", "链接文件夹": "指向文件夹的快捷方式（符号链接），未进入"}
    with Ledger(ws.ledger_path) as again:
        (detail,) = [json.loads(r[0]) for r in again.db.execute("SELECT detail FROM runs")]
    assert len(detail["skipped"]) == 5  # and the run's record keeps the list


# -- 4. two different files from one unit in one batch ------------------------------------------

def saved(data: bytes, when: str) -> bytes:
    """The workbook with another save time in docProps/core.xml (as Excel records it)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "docProps/core.xml":
                start = body.index(b"<dcterms:modified")
                end = body.index(b"</dcterms:modified>") + len(b"</dcterms:modified>")
                body = body[:start] + (b'<dcterms:modified xsi:type="dcterms:W3CDTF">'
                                       + when.encode() + b"</dcterms:modified>") + body[end:]
            dst.writestr(info, body)
    return out.getvalue()


def test_two_files_from_one_unit_in_one_batch(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    inbox = tmp_path / "inbox"
    # sorted by name, "a" comes first and "b" last; but "a" was saved last: it counts
    put(inbox, "a_发改局-终稿.xlsx", saved(issue(ws, "330599-002", complete_values(
        t2__licensing=121)), "2023-01-12T02:00:00Z"))
    put(inbox, "b_发改局-初稿.xlsx", saved(issue(ws, "330599-002"), "2023-01-11T02:00:00Z"))
    report = collect(ws, ledger, [inbox], jobs=2, received_at=RECEIVED)
    assert report.outcomes == {"stored": 2}
    (c,) = report.conflicts
    assert (c["unit"], c["counting_file"]) == ("330599-002", "a_发改局-终稿.xlsx")
    assert [(f["file"], f["saved_at"]) for f in c["files"]] == [
        ("b_发改局-初稿.xlsx", "2023-01-11T10:00:00+08:00"),
        ("a_发改局-终稿.xlsx", "2023-01-12T10:00:00+08:00")]
    assert "保存时间" in c["rule"]
    status = unit_status(ledger, ws.config)
    unit = next(u for u in status.units if u.code == "330599-002")
    assert unit.counting["file"] == "a_发改局-终稿.xlsx"
    assert unit.conflict is not None and "a_发改局-终稿.xlsx" in unit.why
    assert status.totals["conflicts"] == 1
    assert len(list(ledger.rows(unit_code="330599-002"))) == 2  # both kept
    # merge and export take the same one
    from nianbao.merge.export import records
    from nianbao.merge.totals import counting_rows

    (rec,) = [r for r in records(ledger, LAYOUT.form, 2022) if r.unit_code == "330599-002"]
    assert rec.values["t2.licensing"] == 121
    assert counting_rows(ledger, 2022)["330599-002"]["valid"].file_name == "a_发改局-终稿.xlsx"
    # a later run's file counts over both, whatever its save time
    put(tmp_path / "later", "发改局-再改.xlsx", saved(issue(ws, "330599-002", complete_values(
        t2__licensing=122)), "2022-12-01T00:00:00Z"))
    collect(ws, ledger, [tmp_path / "later"], received_at="2023-01-17T10:00:00+08:00")
    unit = next(u for u in unit_status(ledger, ws.config).units if u.code == "330599-002")
    assert unit.counting["file"] == "发改局-再改.xlsx"


# -- 8. disk full during the ledger commit -------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 1 MB tmpfs (needs root and mount; skipped with the reason otherwise)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("磁盘写满的测试需要 root 权限挂载一个 1 MB 的 tmpfs，本机不是 root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"磁盘写满的测试需要挂载 tmpfs，本机不能挂载：{done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def test_disk_full_during_the_ledger_commit(tiny_disk: Path, tmp_path: Path) -> None:
    """The ledger lives on a tiny disk that fills up; the store and feedback do not (they
    are elsewhere), so the failure comes at the ledger's commit."""
    from typer.testing import CliRunner

    from nianbao.cli import app

    ws, ledger = make_workspace(tiny_disk / "ws")
    ledger.close()
    for folder in ("store", "feedback"):
        (ws.root / folder).rmdir()
        (tmp_path / folder).mkdir()
        os.symlink(tmp_path / folder, ws.root / folder)
    inbox = tmp_path / "inbox"
    for i in range(8):  # the batch's commit needs some 150 KB of write-ahead log
        code = ("330599-002", "330599-003", "330599-007", "330599-101")[i % 4]
        put(inbox, f"{i}.xlsx", issue(ws, code, complete_values(t2__licensing=100 + i)))
    filler = tiny_disk / "filler"
    free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
    # 64 KB left: room to open the ledger (32 KB of shared memory) and start the run,
    # not to commit the batch
    filler.write_bytes(b"\0" * max(0, free - 64 * 1024))
    runner = CliRunner()
    with deadline(120):
        result = runner.invoke(app, ["collect", str(inbox), "-w", str(ws.root), "-j", "1"])
    assert result.exit_code == 2, result.output
    assert "磁盘空间不足" in result.output and "未全部入账" in result.output
    assert "Traceback" not in result.output and "rollback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    with Ledger(ws.ledger_path) as check:
        assert list(check.rows()) == [] and check.counts() == {}  # nothing half-recorded
        assert [r["id"] for r in check.unfinished_runs()] == [1]
        assert check.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    filler.unlink()
    with deadline(120):
        result = runner.invoke(app, ["collect", str(inbox), "-w", str(ws.root), "-j", "1",
                                     "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outcomes"] == {"stored": 8}
    assert [r["run"] for r in report["interrupted"]] == [1]


# -- 9. a duplicate's outputs never replace the submission's ------------------------------------

def test_duplicate_in_one_batch_keeps_the_submissions_receipt(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    data = issue(ws, "330599-003", complete_values(t3__new__natural_person=11))  # invalid
    inbox = tmp_path / "inbox"
    for name in ("a.xlsx", "b.xlsx", "c.xlsx", "d.xlsx"):
        put(inbox, name, data)
    report = collect(ws, ledger, [inbox], jobs=2, received_at=RECEIVED)
    items = by_name(report)
    assert [items[n]["outcome"] for n in "abcd" for n in [f"{n}.xlsx"]] == [
        "stored", "duplicate", "duplicate", "duplicate"]
    assert all("receipt" not in items[f"{n}.xlsx"] for n in "bcd")
    assert rows(ledger) == [("a.xlsx", "invalid", None, "330599-003", 2022)]
    receipts = list(ws.feedback_dir.rglob("*回执*.txt"))
    feedbacks = list(ws.feedback_dir.rglob("*反馈*.xlsx"))
    assert [Path(items["a.xlsx"]["receipt"])] == receipts
    assert [Path(items["a.xlsx"]["feedback"])] == feedbacks
    assert "收到文件：a.xlsx" in receipts[0].read_text(encoding="utf-8")
    with zipfile.ZipFile(feedbacks[0]) as z:
        text = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))
    assert "文件：a.xlsx" in text and "文件：b.xlsx" not in text
    assert not [p for p in ws.feedback_dir.rglob("*") if p.name.startswith(".")]  # no temporary


# -- 10. a plain re-collect of the same inbox ---------------------------------------------------

def test_recollecting_the_same_inbox_is_already_received(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    inbox = tmp_path / "inbox"
    old = put(inbox, "1_旧.xlsx", issue(ws, "330599-002", complete_values(t2__penalty=-1)))
    put(inbox, "2_新.xlsx", issue(ws, "330599-002"))
    first = collect(ws, ledger, [inbox, old], received_at=RECEIVED)  # old given twice
    assert [(Path(it["path"]).name, it["outcome"], it["reason"]) for it in first.items] == [
        ("1_旧.xlsx", "stored", None), ("2_新.xlsx", "stored", None),
        ("1_旧.xlsx", "duplicate", "ALREADY_RECEIVED")]
    again = collect(ws, ledger, [inbox], received_at="2023-01-16T10:00:00+08:00")
    assert [it["reason"] for it in again.items] == ["ALREADY_RECEIVED"] * 2
    assert again.items[0]["finding"]["message"].startswith("已收过：")
    # the same old bytes from another place are still a replay
    moved = put(tmp_path / "mail", "1_旧.xlsx", old.read_bytes())
    replay = collect(ws, ledger, [moved], received_at="2023-01-17T10:00:00+08:00")
    assert replay.items[0]["reason"] == "REPLAYED_FILE"


# -- 11. a killed run ----------------------------------------------------------------------------

KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from nianbao.collect import intake
from nianbao.collect.ledger import Ledger
from nianbao.collect.workspace import open_workspace
intake.BATCH = 2
ws = open_workspace(Path(sys.argv[1]))
seen = []
def progress(n):
    seen.append(n)
    if len(seen) == 3:  # the first batch of two is committed; die before the next
        os.kill(os.getpid(), signal.SIGKILL)
with Ledger(ws.ledger_path) as ledger:
    intake.collect(ws, ledger, [Path(sys.argv[2])], received_at="2023-01-15T10:00:00+08:00",
                   progress=progress)
"""


def group_ends(pgid: int, seconds: float) -> bool:
    """Every process of the group has ended (exited, perhaps not yet reaped) within
    `seconds` (Linux: read from /proc)."""
    import time

    def running() -> list[str]:
        out = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    out.append(stat.parent.name)
        return out

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not running():
            return True
        time.sleep(0.1)
    return False


def test_a_killed_run_is_closed_by_the_next(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    inbox = tmp_path / "inbox"
    for i, code in enumerate(("330599-002", "330599-003", "330599-007", "330599-101")):
        put(inbox, f"{i}.xlsx", issue(ws, code))
    log = tmp_path / "killed.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED_RUN),
                                 str(ws.root), str(inbox)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, cwd=ROOT, start_new_session=True)
        try:
            proc.wait(timeout=120)
            assert group_ends(proc.pid, 20)  # its reading children notice and end too
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, log.read_text(errors="replace")
    assert [r["id"] for r in ledger.unfinished_runs()] == [1]
    assert ledger.counts() == {"stored": 2}
    report = collect(ws, ledger, [inbox], received_at="2023-01-16T10:00:00+08:00")
    assert report.interrupted == [{"run": 1, "kind": "collect",
                                   "started_at": "2023-01-15T10:00:00+08:00", "files": 2,
                                   "recorded": {"stored": 2}}]
    assert ledger.unfinished_runs() == []
    items = by_name(report)
    assert [(items[f"{i}.xlsx"]["outcome"], items[f"{i}.xlsx"]["reason"],
             items[f"{i}.xlsx"].get("interrupted_run"),
             items[f"{i}.xlsx"].get("recorded_status")) for i in range(4)] == [
        ("duplicate", "ALREADY_RECEIVED", 1, "valid"),
        ("duplicate", "ALREADY_RECEIVED", 1, "valid"),
        ("stored", None, None, None), ("stored", None, None, None)]
    detail = json.loads(ledger.db.execute("SELECT detail FROM runs WHERE id = 1").fetchone()[0])
    assert (detail["interrupted"], detail["recorded"]) == (True, {"stored": 2})


def test_a_running_collect_is_not_closed(wsl, tmp_path: Path) -> None:
    """A run whose lock is held (a collect going on now) is left alone."""
    from nianbao.collect.runs import close_interrupted, run_lock

    ws, ledger = wsl
    with run_lock(ws.root) as token:
        ledger.start_run("collect", RECEIVED, {"lock": token})
        assert close_interrupted(ws.root, ledger, RECEIVED) == []
    assert [r["run"] for r in close_interrupted(ws.root, ledger, RECEIVED)] == [1]


# -- 12. links only to regular files inside the folder given -------------------------------------

def test_links_are_followed_only_inside_the_folder(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    inbox = tmp_path / "inbox"
    inside = put(inbox / "附件", "发改局.xlsx", issue(ws, "330599-002"))
    os.symlink(inside, inbox / "发改局-链接.xlsx")
    os.symlink("/etc/passwd", inbox / "passwd.xlsx")
    outside = put(tmp_path / "other", "教育局.xlsx", issue(ws, "330599-003"))
    os.symlink(outside, inbox / "教育局-链接.xlsx")
    fifo = inbox / "附件" / "管道"
    os.mkfifo(fifo)
    os.symlink(fifo, inbox / "管道-链接.xlsx")
    given = tmp_path / "given"
    given.mkdir()
    os.symlink(outside, given / "直接给的链接.xlsx")
    with deadline(60):
        report = collect(ws, ledger, [inbox, given / "直接给的链接.xlsx"], received_at=RECEIVED)
    got = {Path(it["path"]).name: (it["outcome"], it["reason"]) for it in report.items}
    assert got == {
        "发改局-链接.xlsx": ("stored", None),
        "发改局.xlsx": ("duplicate", "DUPLICATE_FILE"),
        "passwd.xlsx": ("rejected", "FILE_LINK_OUTSIDE"),
        "教育局-链接.xlsx": ("rejected", "FILE_LINK_OUTSIDE"),
        "管道": ("rejected", "FILE_MISSING"),
        "管道-链接.xlsx": ("rejected", "FILE_MISSING"),
        "直接给的链接.xlsx": ("rejected", "FILE_LINK_OUTSIDE")}
    assert [p.name for p in store_files(ws)] == [sha(inside.read_bytes())]
    assert rows(ledger) == [("发改局-链接.xlsx", "valid", None, "330599-002", 2022)]
    receipts = [p.read_text(encoding="utf-8") for p in ws.feedback_dir.rglob("*回执*.txt")]
    assert len(receipts) == 1 and "passwd" not in receipts[0]


def test_an_old_ledger_gains_the_save_time_column_when_told(tmp_path: Path) -> None:
    """A ledger of schema 1 is refused until `nianbao db migrate`, which adds the column
    (NULL for what it holds) and keeps every row."""
    import sqlite3

    from typer.testing import CliRunner

    from nianbao.cli import app

    ws, ledger = make_workspace(tmp_path / "ws")
    collect(ws, ledger, [put(tmp_path / "in", "a.xlsx", issue(ws, "330599-002"))],
            received_at="2023-01-15T10:00:00+08:00")
    ledger.close()
    db = sqlite3.connect(ws.ledger_path)  # back to schema 1, as an older nianbao left it
    db.execute("DROP INDEX sightings_by_path")
    db.execute("DROP VIEW current_validations")
    db.execute("ALTER TABLE submissions DROP COLUMN saved_at")
    db.execute("CREATE VIEW current_validations AS SELECT v.* FROM validations v WHERE v.id ="
               " (SELECT max(id) FROM validations w WHERE w.submission_id = v.submission_id)")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()

    def run(*args: str) -> Any:
        return CliRunner().invoke(app, [*args, "-w", str(ws.root)], env={"COLUMNS": "200"})

    refused = run("status")
    assert refused.exit_code == 2 and "nianbao db migrate" in refused.output
    migrated = run("db", "migrate")
    assert migrated.exit_code == 0 and "结构版本 2" in migrated.output
    with Ledger(ws.ledger_path) as again:
        assert [tuple(r) for r in again.db.execute("SELECT saved_at FROM submissions")] == [
            (None,)]
        assert again.db.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    assert run("status").exit_code == 0
