"""Commands of a collection: init, distribute, collect, status, revalidate."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nianbao.cli.app import app, console, err_console, esc, fail, print_json
from nianbao.cli.usage import check_jobs, check_year, existing_inputs, signable
from nianbao.cli.views import collect_view, status_view
from nianbao.collect.distribute import distribute as distribute_units
from nianbao.collect.inbox import Own, walk
from nianbao.collect.intake import CollectReport, DiskFull
from nianbao.collect.intake import collect as collect_files
from nianbao.collect.judging import CHINA
from nianbao.collect.ledger import Ledger, open_ledger
from nianbao.collect.ledger_db import LedgerError
from nianbao.collect.revalidate import revalidate as revalidate_all
from nianbao.collect.roster import RosterError, Unit, load_roster, parse_date, subtree
from nianbao.collect.status import unit_status
from nianbao.collect.workspace import Workspace, WorkspaceError, init_workspace, open_workspace
from nianbao.fsutil import atomic_write_text
from nianbao.sandbox import default_jobs
from nianbao.spec.layout import layout_for
from nianbao.spec.load import DEFAULT_FORM, SpecError, load_form

WorkspaceOption = Annotated[Path, typer.Option("--workspace", "-w",
                                               help="收集工作区文件夹（默认：当前文件夹）")]
JobsOption = Annotated[int, typer.Option("--jobs", "-j", help="并行进程数（默认：全部 CPU 核）",
                                         callback=check_jobs)]
JsonOption = Annotated[bool, typer.Option("--json", help="以 JSON 输出")]
SHOW_ALL = 100  # a collect of more files than this lists only those that need attention


def open_all(root: Path) -> tuple[Workspace, Ledger, list[Unit]]:
    """Workspace, ledger and validated roster (synced into the ledger), or exit 2."""
    try:
        ws = open_workspace(root)
        units = load_roster(ws.roster_path)
        load_form(ws.config.form)
        ledger = open_ledger(ws)
        ledger.sync_units(units)
    except (WorkspaceError, RosterError, SpecError, LedgerError) as exc:
        raise fail(str(exc)) from None
    return ws, ledger, units


@contextlib.contextmanager
def progress_bar(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="新建的工作区文件夹")],
    year: Annotated[int, typer.Option(help="报告年度（默认：去年）", callback=check_year)
                    ] = date.today().year - 1,
    office: Annotated[str, typer.Option(
        help="收集单位名称，如“某区人民政府办公室”")] = "政务公开办",
    office_code: Annotated[str, typer.Option(help="收集单位代码")] = "",
    deadline: Annotated[str | None, typer.Option(help="报送截止日期，如 2023-01-20")] = None,
    roster: Annotated[Path | None, typer.Option(help="报送单位名单（CSV 或 XLSX）")] = None,
    form: Annotated[str, typer.Option(help="模板编号")] = DEFAULT_FORM,
    db: Annotated[str, typer.Option(
        "--db", help="台账数据库：PostgreSQL 连接地址（默认：工作区里的 ledger.sqlite）",
        envvar="NIANBAO_DB", show_envvar=False)] = "",
) -> None:
    """新建收集工作区：配置、示例名单、签名密钥、台账。例：nianbao init 2022年报 --year 2022"""
    due = parse_date(deadline) if deadline else None
    if deadline and due is None:
        raise fail(f"截止日期“{deadline}”应写作 2023-01-20 的形式")
    if roster is not None:
        existing_inputs([roster])
    signable(office, "收集单位名称")
    signable(office_code, "收集单位代码", code=True)
    try:
        load_form(form)
        if roster is not None:
            load_roster(roster)
        ws = init_workspace(folder, year=year, office=office, office_code=office_code,
                            deadline=due, form=form, roster=roster, db=db.strip())
        open_ledger(ws).close()
    except (WorkspaceError, RosterError, SpecError, LedgerError) as exc:
        raise fail(str(exc)) from None
    console.print(f"已新建工作区 {esc(folder)}：{year} 年度，{esc(office)}。"
                  f"请编辑 {esc(ws.roster_path.name)}（报送单位名单）后运行 nianbao distribute。")


@app.command()
def distribute(
    workspace: WorkspaceOption = Path("."),
    out: Annotated[Path | None, typer.Option(
        "--out", help="输出文件夹（默认：工作区 outbox/）")] = None,
    unit: Annotated[list[str] | None, typer.Option("--unit", help="只给这些单位代码生成")] = None,
    under: Annotated[str | None, typer.Option("--under", help="只给此单位及其下级生成")] = None,
    password: Annotated[str | None, typer.Option(help="工作表保护密码（只防误改）")] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="网上报送门户的地址：清单中附上各单位的报送链接")] = None,
) -> None:
    """为名单中的每个单位生成预填并签名的模板，附清单（manifest）。"""
    ws, ledger, units = open_all(workspace)
    ledger.close()
    if under:
        if under not in {u.code for u in units}:
            raise fail(f"名单中没有单位代码“{under}”")
        units = subtree(units, under)
    if unit:
        wanted = set(unit)
        missing = wanted - {u.code for u in units}
        if missing:
            raise fail(f"名单中没有这些单位代码：{'、'.join(sorted(missing))}")
        units = [u for u in units if u.code in wanted]
    layout = layout_for(load_form(ws.config.form))
    outbox = out or ws.outbox
    links = None
    if base_url:
        from nianbao.web.tokens import LinkState, link_maker

        link = link_maker(ws.key, LinkState.load(ws), base_url.rstrip("/"))
        links = {u.code: link(u.code) or "" for u in units}
    with progress_bar(len(units), "生成模板") as advance:
        issued = distribute_units(layout, units, ws.config.year, ws.key, ws.config.office,
                                  outbox, password=password, progress=advance, links=links)
    console.print(f"已为 {len(issued)} 个单位生成模板：{esc(outbox)}（清单：manifest.csv）")


@app.command()
def collect(
    paths: Annotated[list[Path], typer.Argument(help="回收的文件或文件夹")],
    workspace: WorkspaceOption = Path("."),
    jobs: JobsOption = 0,
    received_at: Annotated[str | None, typer.Option(
        help="收到时间（默认：现在），补录邮件等时用，如 2023-01-15T10:00")] = None,
    no_feedback: Annotated[bool, typer.Option("--no-feedback", help="不生成反馈表和回执")] = False,
    as_json: JsonOption = False,
) -> None:
    """回收文件入账：检查、核验签名与单位、存档、生成反馈表和回执。"""
    existing_inputs(paths)
    ws, ledger, _ = open_all(workspace)
    at = _iso(received_at) if received_at else None
    files = walk(paths, Own.of(ws.root, ws.config.roster, ws.ledger_path.name)).files
    try:
        with ledger, progress_bar(len(files), "回收入账", not as_json) as advance:
            report = collect_files(ws, ledger, paths, jobs=jobs or default_jobs(),
                                   received_at=at, feedback=not no_feedback, progress=advance)
    except DiskFull as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(report.to_dict())
    else:
        for part in collect_view(report.items, f"本次回收（第 {report.run_id} 批）",
                                 console.width, SHOW_ALL):
            console.print(part)
        o = report.outcomes
        console.print(f"共 {report.files} 个文件：新入账 {o['stored']} 个，未受理 {o['rejected']}"
                      f" 个，重复 {o['duplicate']} 个。")
        console.print(f"反馈表和回执在：\n{esc(ws.feedback_dir)}")  # a long path on its own line
        _print_accounting(report)
    statuses = report.statuses
    raise typer.Exit(2 if statuses["rejected"] else 1 if statuses["invalid"] else 0)


@app.command()
def status(
    workspace: WorkspaceOption = Path("."),
    as_json: JsonOption = False,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="把催报名单导出为 CSV")] = None,
    as_of: Annotated[str | None, typer.Option(help="按此时间判断是否逾期（默认：现在）")] = None,
) -> None:
    """各单位报送情况：未报送、有错误、通过；按时或逾期；催报名单。"""
    ws, ledger, _ = open_all(workspace)
    when = datetime.fromisoformat(_iso(as_of)) if as_of else None
    with ledger:
        report = unit_status(ledger, ws.config, when)
    if csv_out:
        atomic_write_text(csv_out, report.chase_csv())
    if as_json:
        print_json(report.to_dict())
        return
    for part in status_view(report, f"{ws.config.year} 年度报送情况（截至 {report.as_of}）",
                            console.width):
        console.print(part)
    for u in report.units:
        if u.conflict is not None:
            console.print(f"[yellow]注意：[/]{esc(u.code)} {esc(u.name)} 同一批报送了 "
                          f"{len(u.conflict['files'])} 个不同文件，以"
                          f"「{esc(u.conflict['counting_file'])}」为准（{u.conflict['rule']}）")
    if csv_out:
        console.print(f"催报名单已导出：{esc(csv_out)}")


@app.command()
def revalidate(
    workspace: WorkspaceOption = Path("."),
    jobs: JobsOption = 0,
    reread: Annotated[bool, typer.Option(
        "--reread", help="每个文件都重新读取（默认只在 nianbao 或模板版面变了时重读）")] = False,
    as_json: JsonOption = False,
) -> None:
    """用当前规则重新校验台账中的全部提交，并列出结论的变化。"""
    ws, ledger, _ = open_all(workspace)
    with ledger:
        total = sum(1 for _ in ledger.rows())
        with progress_bar(total, "重新校验", not as_json) as advance:
            report = revalidate_all(ws, ledger, jobs=jobs or default_jobs(), reread=reread,
                                    progress=advance)
    if as_json:
        print_json(report.to_dict())
        return
    console.print(f"重新校验 {report.checked} 份提交（其中重新读取文件 {report.reread} 份），"
                  f"结论有变化的 {len(report.changes)} 份。")
    for c in report.changes:
        added = "、".join(x["code"] for x in c["added"]) or "无"
        removed = "、".join(x["code"] for x in c["removed"]) or "无"
        console.print(f"  #{c['submission']} {esc(c['file'])}（{esc(c['unit'] or '未识别')}）："
                      f"{c['status_before']} → {c['status_after']}；新增 {added}；消除 {removed}")


DUPLICATE_WORDS = {"REPLAYED_FILE": "旧文件重发", "ALREADY_RECEIVED": "已收过",
                   "DUPLICATE_FILE": "重复（内容相同）"}
SHOW_SKIPPED = 30


def _print_accounting(report: CollectReport) -> None:
    """What the table does not show: paths skipped and why, units that sent several
    different files in this run, runs that had been killed and are now closed."""
    if report.skipped:
        console.print(f"未读取的路径 {len(report.skipped)} 个（均已记入本批记录）：")
        for s in report.skipped[:SHOW_SKIPPED]:
            console.print(f"  {escape(s['path'])}：{s['reason']}")
        if len(report.skipped) > SHOW_SKIPPED:
            console.print(f"  ……其余 {len(report.skipped) - SHOW_SKIPPED} 个请用 --json 查看")
    for c in report.conflicts:
        files = "、".join(f"「{escape(f['file'])}」（保存于 {f['saved_at'] or '未记录'}）"
                         for f in c["files"])
        console.print(f"[yellow]注意：[/]单位 {escape(c['unit'])} 本批报送了 {len(c['files'])} "
                      f"个不同文件：{files}；以「{escape(c['counting_file'])}」为准。"
                      f"{c['rule']}")
    for r in report.interrupted:
        console.print(f"上次未完成的第 {r['run']} 批（开始于 {r['started_at']}）已结束："
                      f"中断前已入账 {r['files']} 个文件，本次再遇到的同一文件标为“已收过”。")


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(text: str | None) -> str:
    """A user-given time as ISO with China's offset when none is given."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise fail(f"时间“{text}”应写作 2023-01-15 或 2023-01-15T10:00 的形式") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA)
    return moment.isoformat(timespec="seconds")
