"""`nianbao db`: where the ledger is, upgrading its schema, moving it to another database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from nianbao.cli.app import app, console, fail, print_json
from nianbao.cli.collect_commands import JsonOption, WorkspaceOption
from nianbao.collect import ledger_schema
from nianbao.collect.ledger import Ledger
from nianbao.collect.ledger_copy import copy_ledger
from nianbao.collect.ledger_db import LedgerError, Transaction, connect, display, is_url
from nianbao.collect.workspace import (
    CONFIG_NAME,
    Workspace,
    WorkspaceError,
    config_text,
    open_workspace,
)
from nianbao.fsutil import atomic_write_text

db_app = typer.Typer(help="台账数据库：查看、升级结构、在 SQLite 与 PostgreSQL 之间复制。",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


def _workspace(root: Path) -> Workspace:
    try:
        return open_workspace(root)
    except WorkspaceError as exc:
        raise fail(str(exc)) from None


@db_app.command("info")
def info(workspace: WorkspaceOption = Path("."), as_json: JsonOption = False) -> None:
    """台账在哪里、结构版本、各表行数。例：nianbao db info"""
    ws = _workspace(workspace)
    target = ws.ledger_target
    try:
        db = connect(target)
        try:
            found = ledger_schema.version(db)
            counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ledger_schema.TABLES} if found else {}
        finally:
            db.close()
    except LedgerError as exc:
        raise fail(str(exc)) from None
    data = {"backend": "postgresql" if is_url(target) else "sqlite", "where": display(target),
            "schema_version": found, "current_schema_version": ledger_schema.SCHEMA_VERSION,
            "rows": counts}
    if as_json:
        print_json(data)
        return
    console.print(f"台账：{data['where']}（{'PostgreSQL' if is_url(target) else 'SQLite'}）")
    console.print(f"结构版本：{found if found is not None else '（空，尚未建立）'}，"
                  f"本版 nianbao 使用 {ledger_schema.SCHEMA_VERSION}")
    for table, n in counts.items():
        console.print(f"  {table}：{n} 行")


@db_app.command("migrate")
def migrate(workspace: WorkspaceOption = Path(".")) -> None:
    """把旧版本的台账结构升级到本版（先备份）。例：nianbao db migrate"""
    ws = _workspace(workspace)
    try:
        db = connect(ws.ledger_target)
        try:
            with Transaction(db):
                applied = ledger_schema.migrate(db)
        finally:
            db.close()
    except LedgerError as exc:
        raise fail(str(exc)) from None
    if applied:
        console.print(f"台账已升级到结构版本 {applied[-1]}（依次执行了 "
                      f"{'、'.join(map(str, applied))}）")
    else:
        console.print(f"台账已是结构版本 {ledger_schema.SCHEMA_VERSION}，无需升级")


@db_app.command("copy")
def copy(
    to: Annotated[str, typer.Option("--to", help="目标：PostgreSQL 连接地址，或 SQLite 文件路径")],
    use: Annotated[bool, typer.Option("--use", help="复制核对无误后，工作区改用目标台账")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """把台账复制到另一个数据库，逐表核对行数和校验值。
    例：nianbao db copy --to postgresql://nianbao@db.example/nianbao2022 --use"""
    ws = _workspace(workspace)
    source_target = ws.ledger_target
    target: str | Path = to.strip() if is_url(to.strip()) else Path(to).resolve()
    if display(target) == display(source_target):
        raise fail("目标就是当前台账，无需复制")
    if use and not is_url(target) and target != ws.ledger_path.resolve():
        raise fail(f"--use 只能改用 PostgreSQL 或本工作区的 {ws.ledger_path.name}")
    try:
        with Ledger(source_target, workspace_id=ws.ledger_id) as source, \
                Ledger(target) as dest:
            digests = copy_ledger(source.db, dest.db)
    except LedgerError as exc:
        raise fail(str(exc)) from None
    rows = sum(n for n, _ in digests.values())
    console.print(f"已复制到 {display(target)}：{len(digests)} 张表共 {rows} 行，"
                  "行数和内容校验值与原台账一致")
    if not use:
        console.print("工作区仍使用原台账；加 --use 可在复制后改用目标台账")
        return
    config = replace(ws.config, db=str(target) if is_url(target) else "")
    if is_url(target) and ws.ledger_path.exists():
        moved = ws.ledger_path.with_name("ledger-copied.sqlite")
        ws.ledger_path.rename(moved)
        console.print(f"原 SQLite 台账改名为 {moved.name} 保留备查，不再使用")
    atomic_write_text(ws.root / CONFIG_NAME, config_text(config))
    console.print(f"工作区已改用 {display(target)}")
