"""Commands after collection: merge, export, report, import (files or folders of published
reports, optionally compared with what the units submitted)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nianbao.check import check_file, os_reason
from nianbao.cli.app import app, console, err_console, esc, fail, findings_table, print_json
from nianbao.cli.collect_commands import JsonOption, WorkspaceOption, open_all
from nianbao.cli.upward import print_return, print_tree, write_return
from nianbao.cli.usage import check_year, existing_inputs
from nianbao.collect.intake import expand_paths
from nianbao.collect.judging import now_iso
from nianbao.collect.records import records
from nianbao.findings import blocking, make
from nianbao.fsutil import atomic_write
from nianbao.merge.export import export as export_ledger
from nianbao.merge.provenance import contribution_nodes
from nianbao.merge.totals import merge as merge_units
from nianbao.merge.workbook import merged_workbook
from nianbao.publish.compare import Comparison, compare
from nianbao.publish.compare import findings as compare_findings
from nianbao.publish.importer import ImportResult, import_report
from nianbao.publish.keep import keep_published
from nianbao.publish.prose_source import ProseError, read_prose
from nianbao.publish.record import Record
from nianbao.publish.report import render_report
from nianbao.read.normalise import json_values
from nianbao.spec.load import DEFAULT_FORM, SpecError, load_form

REPORT_FORMATS = {".docx": "docx", ".md": "md", ".html": "html", ".htm": "html"}


@app.command()
def merge(
    workspace: WorkspaceOption = Path("."),
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="汇总工作簿（.xlsx）")] = None,
    under: Annotated[str | None, typer.Option(help="只汇总此单位及其下级")] = None,
    include_invalid: Annotated[bool, typer.Option(
        "--include-invalid", help="把有错误的单位也纳入汇总（默认只汇总审核通过的）")] = False,
    no_detail: Annotated[bool, typer.Option("--no-detail", help="不写“明细”工作表")] = False,
    into: Annotated[Path | None, typer.Option(
        "--into", help="上级下发给本单位的模板：把汇总数填入，-o 写出上报文件")] = None,
    text: Annotated[Path | None, typer.Option(
        "--text", help="与 --into 一起：本单位的文字部分（一、五、六），.docx/.md/.html/.txt")
    ] = None,
    tree: Annotated[bool, typer.Option(
        "--tree", help="列出汇总来源树，逐级追溯到各单位的原始文件")] = False,
    as_json: JsonOption = False,
) -> None:
    """按字段汇总各单位审核通过的数据，写出官方格式的汇总表、来源和明细。

    向上级报送：nianbao merge --into 上级下发的模板.xlsx -o 上报.xlsx
    """
    if into and not output:
        raise fail("使用 --into 时请用 -o 指定上报文件")
    if text and not into:
        raise fail("--text 只能与 --into 一起使用")
    ws, ledger, units = open_all(workspace)
    if under and under not in {u.code for u in units}:
        raise fail(f"名单中没有单位代码“{under}”")
    form = load_form(ws.config.form)
    with ledger:
        result = merge_units(ledger, form, ws.config.year, units, under=under,
                             include_invalid=include_invalid, office=ws.config.office)
    nodes = contribution_nodes(result, ws.store_dir) if tree or into else None
    done = None
    if into and output and nodes is not None:
        done = write_return(ws, result, into, output, nodes=nodes, text=text,
                            include_invalid=include_invalid)
    elif output:
        atomic_write(output, merged_workbook(
            result, detail=not no_detail, office=ws.config.office,
            office_code=ws.config.office_code,
            as_of=now_iso()[:16].replace("T", " ")))
    code = 1 if blocking(result.findings) else 0
    if as_json:
        print_json({**result.to_dict(), **({"tree": nodes} if tree else {}),
                    **({"return": done} if done else {})})
        raise typer.Exit(code)
    console.print(f"{esc(result.identity['unit.name'])}：纳入 {len(result.contributions)} 个单位，"
                  f"未纳入 {len(result.left_out)} 个。")
    if result.left_out:
        table = Table(title="未纳入汇总的单位", title_justify="left")
        for col in ("单位代码", "单位名称", "原因"):
            table.add_column(col)
        for unit, why in result.left_out:
            table.add_row(esc(unit.code), esc(unit.name), esc(why))
        console.print(table)
    if result.findings:
        console.print(findings_table(result.findings, title="汇总数据的校验问题"))
    else:
        console.print("汇总数据各项勾稽关系均平衡。")
    if tree and nodes is not None:
        print_tree(str(result.identity["unit.name"]), nodes)
    if done:
        print_return(done)
    elif output:
        console.print(f"汇总工作簿：{esc(output)}")
    raise typer.Exit(code)


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv、json 或 xlsx")] = "csv",
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="输出文件（csv/json 默认输出到屏幕）")] = None,
    wide: Annotated[bool, typer.Option("--wide", help="宽表：每个单位一行")] = False,
    year: Annotated[int | None, typer.Option(help="只导出此年度", callback=check_year)] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """导出台账：长表（单位×字段）或宽表（每单位一行）；文本已防公式注入。"""
    if fmt not in ("csv", "json", "xlsx"):
        raise fail(f"不支持的格式“{fmt}”，请用 csv、json 或 xlsx")
    if fmt == "xlsx" and output is None:
        raise fail("导出 xlsx 时请用 -o 指定输出文件")
    ws, ledger, _ = open_all(workspace)
    with ledger:
        data = export_ledger(ledger, load_form(ws.config.form), fmt,
                             shape="wide" if wide else "long", year=year)
    if output:
        atomic_write(output, data)
        console.print(f"已导出：{esc(output)}")
    else:
        sys.stdout.buffer.write(data)


@app.command()
def report(
    output: Annotated[Path, typer.Option("-o", "--output",
                                         help="输出文件：.docx、.md 或 .html")],
    unit: Annotated[str | None, typer.Option(help="某单位（台账中计入的提交）")] = None,
    merged: Annotated[bool, typer.Option("--merged", help="汇总数据")] = False,
    under: Annotated[str | None, typer.Option(
        help="与 --merged 一起：只汇总此单位及其下级")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="直接用一个填报返回的 .xlsx")] = None,
    year: Annotated[int | None, typer.Option(help="年度（默认：工作区的报告年度）",
                                             callback=check_year)] = None,
    publisher: Annotated[str | None, typer.Option(
        help="以谁的名义发布（标题中的机关名称），如“某区人民政府”")] = None,
    title: Annotated[str | None, typer.Option(help="报告的完整标题（代替自动生成的标题）")] = None,
    text: Annotated[Path | None, typer.Option(
        "--text", help="一、五、六部分的文字：.md/.txt/.docx 文件或模板格式 .xlsx 的“文字部分”")
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """按官方格式生成年度报告（六个部分、三张表）。

    例：nianbao report --unit 330503-017 -o 报告.docx；
    nianbao report --merged --publisher 某区人民政府 --text 文字部分.docx -o 年报.docx
    """
    fmt = REPORT_FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise fail("输出文件的扩展名应为 .docx、.md 或 .html")
    if sum(bool(x) for x in (unit, merged, file)) != 1:
        raise fail("请指定 --unit、--merged 或 --file 之一")
    if file is not None:
        existing_inputs([file])
        result = check_file(file)
        if result.form is None:
            raise fail(f"{file} 无法读取：" + "；".join(f.message for f in result.findings))
        form, record = result.form, Record(dict(result.identity), dict(result.values))
    else:
        ws, ledger, units = open_all(workspace)
        form = load_form(ws.config.form)
        with ledger:
            if merged:
                m = merge_units(ledger, form, year or ws.config.year, units, under=under,
                                office=ws.config.office)
                record = Record(dict(m.identity), dict(m.totals))
            else:
                found = [r for r in records(ledger, form, year or ws.config.year)
                         if r.unit_code == unit]
                if not found:
                    raise fail(f"台账中没有单位“{unit}”{year or ws.config.year} 年度的数据")
                r = found[0]
                identity = {"unit.code": r.unit_code, "unit.name": r.unit_name, "year": r.year}
                record = Record(identity, dict(r.values))
    if text is not None:
        try:
            record.values.update(read_prose(text, form))
        except ProseError as exc:
            raise fail(str(exc)) from None
    if publisher:
        record.identity["unit.name"] = publisher
    record.title = title or record.title
    record.placeholders = merged  # the office supplies a merged report's words
    atomic_write(output, render_report(form, record, fmt))
    console.print(f"已生成年度报告：{esc(output)}")


REPORT_SUFFIXES = {".pdf", ".docx", ".html", ".htm", ".txt", ".md"}
OUTCOME_TEXT = {"read": "完整读出", "unread": "有未读出的行", "failed": "无法读取"}


@app.command(name="import")
def import_(
    files: Annotated[list[Path], typer.Argument(
        help="已发布的年度报告（PDF、.docx、.html 或文本），或存放它们的文件夹")],
    as_json: JsonOption = False,
    store_it: Annotated[bool, typer.Option(
        "--store", help="存入工作区台账，作为该单位该年度的记录")] = False,
    unit: Annotated[str | None, typer.Option(
        help="单位代码（标题中没有单位名称时，或与 --store 一起）")] = None,
    year: Annotated[int | None, typer.Option(help="年度（默认：从标题识别）",
                                             callback=check_year)] = None,
    form_id: Annotated[str, typer.Option("--form", help="模板编号")] = DEFAULT_FORM,
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", "-w",
        help="收集工作区：与各单位报送的数据逐项比对（--store 时默认当前文件夹）")] = None,
) -> None:
    """读取已发布的年度报告：找出三张表、读出数字、校验勾稽关系（照实报告，不做修正）。

    退出码：0 全部读出且没有错误，1 有错误，2 有文件无法读取。
    """
    existing_inputs(files)
    try:
        form = load_form(form_id)
    except SpecError as exc:
        raise fail(str(exc)) from None
    results = [(path, data, _given(import_report(data, path.name, form) if data is not None
                                   else _unreadable(path, why), unit, year))
               for path, data, why in _report_files(files)]
    refused = 0
    if store_it:  # what the report says, without the comparison's findings
        refused = _store_imports(workspace or Path("."), results, unit, year, form.id,
                                 quiet=as_json)
    comparisons = _compare_all(workspace, results, unit, year, form) if workspace else {}
    code = 2 if refused else 0
    for _, _, r in results:
        code = max(code, 2 if r.outcome == "failed" else 1 if blocking(r.findings) else 0)
    if as_json:
        out = [{"file": str(path), "format": r.fmt, "outcome": r.outcome,
                "identity": json_values(r.identity), "values": json_values(r.values),
                "findings": [f.to_dict() for f in r.findings],
                **({"comparison": comparisons[i].to_dict(form)} if i in comparisons else {})}
               for i, (path, _, r) in enumerate(results)]
        print_json({"files": out, "summary": {**_summary(results, comparisons),
                                              "exit_code": code}})
        raise typer.Exit(code)
    _print_imports(results, comparisons)
    raise typer.Exit(code)


def _report_files(given: list[Path]) -> list[tuple[Path, bytes | None, str]]:
    """(path, bytes or None, why not) for every file given and every report in a folder."""
    out: list[tuple[Path, bytes | None, str]] = []
    for path in given:
        found = [p for p in expand_paths([path]) if not path.is_dir()
                 or p.suffix.lower() in REPORT_SUFFIXES]
        if path.is_dir() and not found:
            out.append((path, None, "文件夹中没有 PDF、Word、网页或文本文件"))
        for p in found:
            try:
                out.append((p, p.read_bytes(), ""))
            except OSError as exc:
                out.append((p, None, os_reason(exc)))
    return out


def _unreadable(path: Path, why: str) -> ImportResult:
    result = ImportResult(identity={"unit.name": None, "unit.code": None, "year": None})
    result.findings.append(make("IMPORT_UNREADABLE", file=path.name, report=path.name,
                                detail=why))
    return result


def _given(r: ImportResult, unit: str | None, year: int | None) -> ImportResult:
    """--unit and --year fill in what the title did not say."""
    given = {"unit.code": unit, "year": year}
    for fid, value in given.items():
        if value is not None and r.outcome != "failed" and r.identity.get(fid) is None:
            r.identity[fid] = value
            r.findings = [f for f in r.findings
                          if not (f.code == "IMPORT_IDENTITY_MISSING" and f.field == fid)]
    return r


def _compare_all(root: Path, results: list[tuple[Path, Any, ImportResult]], unit: str | None,
                 year: int | None, form: Any) -> dict[int, Comparison]:
    """Each published report against its unit's counted submission (findings added)."""
    _, ledger, units = open_all(root)
    names = {u.name: u.code for u in units}
    by_code = {u.code: u.name for u in units}
    out: dict[int, Comparison] = {}
    with ledger:
        for i, (path, _, r) in enumerate(results):
            if r.outcome == "failed":
                continue
            name = str(r.identity.get("unit.name") or "")
            code = unit or names.get(name)
            yr = year or r.identity.get("year")
            if code not in by_code or not isinstance(yr, int):
                r.findings.append(make("PUBLISHED_UNIT_UNKNOWN", file=path.name,
                                       report=path.name,
                                       detail=f"{name or '单位未识别'} {yr or '年度未识别'}"))
                continue
            out[i] = compare(form, r.values, ledger, code, yr)
            r.findings += compare_findings(form, out[i], path.name, by_code[code])
    return out


def _summary(results: list[tuple[Path, Any, ImportResult]],
             comparisons: dict[int, Comparison]) -> dict[str, int]:
    counts = {k: sum(r.outcome == k for _, _, r in results) for k in OUTCOME_TEXT}
    return {"files": len(results), **counts,
            "differing": sum(bool(c.differences) for c in comparisons.values())}


def _print_imports(results: list[tuple[Path, Any, ImportResult]],
                   comparisons: dict[int, Comparison]) -> None:
    table = Table(title="导入结果", title_justify="left")
    for col in ("文件", "格式", "单位", "年度", "读出项数", "结果", "问题数"):
        table.add_column(col)
    for path, _, r in results:
        table.add_row(esc(path), r.fmt or "未知", esc(r.identity.get("unit.name") or "未识别"),
                      str(r.identity.get("year") or ""),
                      str(sum(v is not None for v in r.values.values())),
                      OUTCOME_TEXT[r.outcome], str(len(r.findings)))
    console.print(table)
    for path, _, r in results:
        if r.findings:
            console.print(f"[bold]{esc(path)}[/bold]")
            console.print(findings_table(r.findings))
    s = _summary(results, comparisons)
    line = (f"共 {s['files']} 份：完整读出 {s['read']} 份，有未读出的行 {s['unread']} 份，"
            f"无法读取 {s['failed']} 份")
    if comparisons:
        line += f"；与报送数据不一致的 {s['differing']} 份"
    console.print(line + "。")


def _store_imports(root: Path, results: list[tuple[Path, Any, Any]], unit: str | None,
                   year: int | None, form_id: str, quiet: bool = False) -> int:
    """Keep the imported reports in the workspace's ledger; returns how many were refused."""
    ws, ledger, units = open_all(root)
    with ledger:
        kept = keep_published(ws, ledger, units, results, unit=unit, year=year,
                              form_id=form_id)
    for path, why in kept.refused:
        err_console.print(f"[red]错误：[/red]{path}：{why}")
    (err_console if quiet else console).print(
        f"已存入台账 {kept.stored} 份（重复 {kept.duplicates} 份）。")
    return len(kept.refused)
