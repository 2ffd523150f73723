"""The ledger on a real PostgreSQL server: choosing it, the same guarantees as SQLite, moving a
workspace between the two, schema versions, and a server that goes away mid-batch."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from nianbao.cli import app
from nianbao.collect.intake import collect
from nianbao.collect.ledger import Ledger, open_ledger
from nianbao.collect.ledger_db import LedgerError, connect
from nianbao.collect.ledger_schema import SCHEMA_VERSION
from nianbao.collect.workspace import open_workspace
from nianbao.testing.postgres import ThrowawayPostgres
from tests.collect_helpers import (
    NAMES,
    RECEIVED,
    complete_values,
    issue,
    ledger_state,
    make_workspace,
    put,
    rows,
    write_roster,
)


def run(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def init(folder: Path, *extra: object) -> Result:
    roster = write_roster(folder.parent / f"{folder.name}-input")
    return run("init", folder, "--year", "2022", "--office", "青溪区人民政府办公室",
               "--deadline", "2023-01-20", "--roster", roster, *extra)


def status_of(folder: Path) -> dict:
    status = json.loads(run("status", "-w", folder, "--json").stdout)
    status.pop("as_of")
    return status


def returns(ws_root: Path, folder: Path) -> list[Path]:
    """One valid return per unit and one with an error, in `folder`."""
    ws = open_workspace(ws_root)
    files = [put(folder, f"{code}.xlsx", issue(ws, code)) for code in NAMES]
    files.append(put(folder, "错.xlsx", issue(ws, "330599-002", complete_values(
        t3__new__natural_person=99))))
    return files


def test_init_with_db_keeps_nothing_of_the_ledger_in_sqlite(postgres_url: str,
                                                            tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    assert init(folder, "--db", postgres_url).exit_code == 0
    assert open_workspace(folder).config.db == postgres_url
    returns(folder, tmp_path / "inbox")
    result = run("collect", tmp_path / "inbox", "-w", folder, "--json")
    assert result.exit_code == 1, result.output  # one return has an error
    report = json.loads(result.stdout)
    assert report["outcomes"] == {"stored": 6}
    status = json.loads(run("status", "-w", folder, "--json").stdout)
    assert {u["code"]: u["state"] for u in status["units"]}["330599-003"] == "valid"
    merged = run("merge", "-w", folder, "-o", tmp_path / "汇总.xlsx")
    assert merged.exit_code == 0, merged.output
    assert not list(folder.glob("*.sqlite*"))
    info = json.loads(run("db", "info", "-w", folder, "--json").stdout)
    assert (info["backend"], info["schema_version"], info["rows"]["submissions"]) == (
        "postgresql", SCHEMA_VERSION, 6)


def test_init_refuses_a_db_that_is_not_postgresql(tmp_path: Path) -> None:
    result = init(tmp_path / "ws", "--db", "mysql://x@y/z")
    assert result.exit_code == 2 and "PostgreSQL 连接地址" in result.output


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    result = init(tmp_path / "ws", "--db", f"postgresql://nobody@/x?host={tmp_path}")
    assert result.exit_code == 2
    assert "无法连接台账数据库" in result.output and "Traceback" not in result.output


@pytest.fixture
def sqlite_collected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace on the embedded ledger (ledger.sqlite) with six returns collected."""
    monkeypatch.delenv("NIANBAO_DB", raising=False)
    folder = tmp_path / "ws"
    assert init(folder).exit_code == 0
    run("collect", *returns(folder, tmp_path / "inbox"), "-w", folder)
    return folder


def test_copy_to_postgresql_and_back_keeps_every_row(postgres_url: str, tmp_path: Path,
                                                     sqlite_collected: Path) -> None:
    folder = sqlite_collected
    run("revalidate", "-w", folder)
    before = status_of(folder)
    with Ledger(folder / "ledger.sqlite") as local:
        state = ledger_state(local, folder)

    moved = run("db", "copy", "--to", postgres_url, "--use", "-w", folder)
    assert moved.exit_code == 0, moved.output
    assert "行数和内容校验值与原台账一致" in moved.output
    assert open_workspace(folder).config.db == postgres_url
    assert not (folder / "ledger.sqlite").exists()
    assert status_of(folder) == before
    with open_ledger(open_workspace(folder)) as remote:
        assert ledger_state(remote, folder) == state
    # the server hands out new ids after the copied ones
    again = run("collect", put(tmp_path / "later", "新.xlsx", issue(
        open_workspace(folder), "330599-007", complete_values(t2__licensing=5))), "-w", folder,
        "--json")
    assert json.loads(again.stdout)["items"][0]["submission"] == 7

    back = run("db", "copy", "--to", folder / "ledger.sqlite", "--use", "-w", folder)
    assert back.exit_code == 0, back.output
    assert open_workspace(folder).config.db == ""
    with Ledger(folder / "ledger.sqlite") as local:
        assert len(list(local.rows())) == 7


def test_copy_refuses_a_target_that_holds_data(postgres_url: str,
                                              sqlite_collected: Path) -> None:
    folder = sqlite_collected
    assert run("db", "copy", "--to", postgres_url, "-w", folder).exit_code == 0
    again = run("db", "copy", "--to", postgres_url, "-w", folder)
    assert again.exit_code == 2 and "只能复制到空的台账" in again.output


def test_submissions_left_in_sqlite_are_not_silently_abandoned(
        postgres_url: str, sqlite_collected: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = sqlite_collected
    monkeypatch.setenv("NIANBAO_DB", postgres_url)
    result = run("status", "-w", folder)
    assert result.exit_code == 2
    assert "6 份提交" in result.output and "db copy" in result.output


def test_one_database_serves_one_workspace(postgres_url: str, tmp_path: Path) -> None:
    assert init(tmp_path / "a", "--db", postgres_url).exit_code == 0
    second = init(tmp_path / "b", "--db", postgres_url)
    assert second.exit_code == 2 and "属于另一个收集工作区" in second.output


@pytest.mark.parametrize("stored, word", [(SCHEMA_VERSION - 1, "db migrate"),
                                          (SCHEMA_VERSION + 1, "更新版本")])
def test_a_ledger_of_another_schema_version_is_never_changed_silently(
        postgres_url: str, tmp_path: Path, stored: int, word: str) -> None:
    folder = tmp_path / "ws"
    assert init(folder, "--db", postgres_url).exit_code == 0
    db = connect(postgres_url)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(stored),))
    db.close()
    result = run("status", "-w", folder)
    assert result.exit_code == 2 and word in result.output
    db = connect(postgres_url)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] \
        == str(stored)
    db.close()


def test_the_same_bytes_from_two_hosts_at_once_are_stored_once(postgres_url: str,
                                                               tmp_path: Path) -> None:
    """Two connections race to insert the same file: the unique constraint decides."""
    import os

    os.environ["NIANBAO_DB"] = postgres_url
    try:
        ws, ledger = make_workspace(tmp_path / "ws")
    finally:
        del os.environ["NIANBAO_DB"]
    ledger.close()
    data = issue(ws, "330599-003")
    paths = [put(tmp_path / f"host{i}", "同一份.xlsx", data) for i in range(2)]
    ready = threading.Barrier(2)
    reports: list[object] = []

    def host(path: Path) -> None:
        with open_ledger(ws) as own:
            ready.wait()
            reports.append(collect(ws, own, [path], received_at=RECEIVED))

    threads = [threading.Thread(target=host, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with open_ledger(ws) as ledger:
        assert len(list(ledger.rows())) == 1
        assert ledger.counts() == {"stored": 1, "duplicate": 1}
    assert sorted(str(dict(r.outcomes)) for r in reports) == ["{'duplicate': 1}",
                                                         "{'stored': 1}"]


@pytest.fixture
def own_server():
    """A server of its own, for a test that stops it."""
    server = ThrowawayPostgres().start()
    yield server
    server.remove()


def test_a_server_that_goes_away_mid_batch(own_server: ThrowawayPostgres, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIANBAO_DB", own_server.url())
    ws, ledger = make_workspace(tmp_path / "ws")
    inbox = tmp_path / "inbox"
    for i in range(70):  # more than one batch of 64
        put(inbox, f"{i:03d}.xlsx", issue(ws, "330599-003", complete_values(t2__licensing=i)))
    seen = 0

    def stop_after_first_batch(n: int) -> None:
        nonlocal seen
        seen += n
        if seen == 65:  # the first batch is committed; the server stops before the second
            own_server.stop("immediate")

    with pytest.raises(LedgerError) as failure:
        collect(ws, ledger, [inbox], received_at=RECEIVED, progress=stop_after_first_batch)
    assert "台账数据库" in str(failure.value)
    own_server.restart()
    with open_ledger(ws) as fresh:
        assert len(list(fresh.rows())) == 64  # the committed batch whole, nothing of the rest
        report = collect(ws, fresh, [inbox], received_at=RECEIVED)
        assert dict(report.outcomes) == {"duplicate": 64, "stored": 6}
        assert len(list(fresh.rows())) == 70
        assert rows(fresh)[0][1] == "valid"
