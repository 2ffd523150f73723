"""Commands after collection: merge, export, report, import."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nianbao.check import check_file
from nianbao.cli.app import app, console, err_console, fail, findings_table, print_json
from nianbao.cli.collect_commands import JsonOption, WorkspaceOption, open_all
from nianbao.collect import store
from nianbao.collect.intake import ENGINE, now_iso
from nianbao.collect.ledger import Intake, Verdict
from nianbao.findings import Severity, blocking
from nianbao.fsutil import atomic_write
from nianbao.merge.export import export as export_ledger
from nianbao.merge.export import records
from nianbao.merge.totals import merge as merge_units
from nianbao.merge.workbook import merged_workbook
from nianbao.publish.importer import import_report
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
    as_json: JsonOption = False,
) -> None:
    """按字段汇总各单位审核通过的数据，写出官方格式的汇总表、来源和明细。"""
    ws, ledger, units = open_all(workspace)
    if under and under not in {u.code for u in units}:
        raise fail(f"名单中没有单位代码“{under}”")
    form = load_form(ws.config.form)
    with ledger:
        result = merge_units(ledger, form, ws.config.year, units, under=under,
                             include_invalid=include_invalid, office=ws.config.office)
    if output:
        atomic_write(output, merged_workbook(
            result, detail=not no_detail, office=ws.config.office,
            office_code=ws.config.office_code,
            as_of=now_iso()[:16].replace("T", " ")))
    code = 1 if blocking(result.findings) else 0
    if as_json:
        print_json(result.to_dict())
        raise typer.Exit(code)
    console.print(f"{result.identity['unit.name']}：纳入 {len(result.contributions)} 个单位，"
                  f"未纳入 {len(result.left_out)} 个。")
    if result.left_out:
        table = Table(title="未纳入汇总的单位", title_justify="left")
        for col in ("单位代码", "单位名称", "原因"):
            table.add_column(col)
        for unit, why in result.left_out:
            table.add_row(unit.code, unit.name, why)
        console.print(table)
    if result.findings:
        console.print(findings_table(result.findings, title="汇总数据的校验问题"))
    else:
        console.print("汇总数据各项勾稽关系均平衡。")
    if output:
        console.print(f"汇总工作簿：{output}")
    raise typer.Exit(code)


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv、json 或 xlsx")] = "csv",
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="输出文件（csv/json 默认输出到屏幕）")] = None,
    wide: Annotated[bool, typer.Option("--wide", help="宽表：每个单位一行")] = False,
    year: Annotated[int | None, typer.Option(help="只导出此年度")] = None,
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
        console.print(f"已导出：{output}")
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
    year: Annotated[int | None, typer.Option(help="年度（默认：工作区的报告年度）")] = None,
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
    console.print(f"已生成年度报告：{output}")


@app.command(name="import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="已发布的年度报告（.docx、.html 或文本）")],
    as_json: JsonOption = False,
    store_it: Annotated[bool, typer.Option(
        "--store", help="存入工作区台账，作为该单位该年度的记录")] = False,
    unit: Annotated[str | None, typer.Option(help="与 --store 一起：单位代码")] = None,
    year: Annotated[int | None, typer.Option(help="年度（默认：从标题识别）")] = None,
    form_id: Annotated[str, typer.Option("--form", help="模板编号")] = DEFAULT_FORM,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """读取已发布的年度报告：找出三张表、读出数字、校验勾稽关系（照实报告，不做修正）。"""
    try:
        form = load_form(form_id)
    except SpecError as exc:
        raise fail(str(exc)) from None
    results = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise fail(f"{path}：无法读取（{exc.strerror or exc}）") from None
        results.append((path, data, import_report(data, path.name, form)))
    if store_it:
        _store_imports(workspace, results, unit, year, form.id, quiet=as_json)
    code = 0
    out: list[dict[str, Any]] = []
    for path, _, r in results:
        fatal = any(f.code == "IMPORT_UNREADABLE" for f in r.findings)
        code = max(code, 2 if fatal else 1 if blocking(r.findings) else 0)
        out.append({"file": str(path), "format": r.fmt,
                    "identity": json_values(r.identity),
                    "values": json_values(r.values),
                    "findings": [f.to_dict() for f in r.findings]})
    if as_json:
        print_json({"files": out})
        raise typer.Exit(code)
    for path, _, r in results:
        ident = r.identity
        console.print(f"[bold]{path}[/bold]（{r.fmt or '未知格式'}）："
                      f"{ident.get('unit.name') or '单位未识别'} {ident.get('year') or ''}，"
                      f"读出 {sum(v is not None for v in r.values.values())} 项")
        if r.findings:
            console.print(findings_table(r.findings))
    raise typer.Exit(code)


def _store_imports(root: Path, results: list[tuple[Path, bytes, Any]], unit: str | None,
                   year: int | None, form_id: str, quiet: bool = False) -> None:
    """Keep imported reports as the units' records of past years (X1/X2 compare with them)."""
    ws, ledger, units = open_all(root)
    names = {u.name: u.code for u in units}
    codes = {u.code for u in units}
    at = now_iso()
    with ledger:
        run_id = ledger.start_run("import", at)
        intakes = []
        for path, data, r in results:
            code = unit or names.get(str(r.identity.get("unit.name") or ""))
            yr = year or r.identity.get("year")
            if code not in codes:
                raise fail(f"{path}：请用 --unit 指定名单中的单位代码（未能从标题识别单位）")
            if not isinstance(yr, int):
                raise fail(f"{path}：请用 --year 指定年度（未能从标题识别年度）")
            if any(f.code == "IMPORT_UNREADABLE" for f in r.findings):
                raise fail(f"{path}：无法读取，未存入台账")
            sha, rel = store.put(ws.store_dir, data, hashlib.sha256(data).hexdigest())
            identity = {**json_values(r.identity),
                        "unit.code": code, "year": yr}
            findings = [f.to_dict() for f in r.findings]
            verdict = Verdict(
                "invalid" if blocking(r.findings) else "valid", None, code, yr, form_id,
                None, None, {"identity": identity,
                             "values": json_values(r.values)},
                findings, sum(f.severity.rank >= Severity.ERROR.rank for f in r.findings),
                sum(f.severity == Severity.WARNING for f in r.findings), 0, ENGINE)
            intakes.append(Intake(str(path), path.name, sha, len(data), rel, "published",
                                  verdict))
        outcomes = ledger.add_intakes(intakes, run_id, at)
        ledger.finish_run(run_id, now_iso(), {"files": len(intakes)})
    stored = sum(o == "stored" for o, _ in outcomes)
    (err_console if quiet else console).print(
        f"已存入台账 {stored} 份（重复 {len(outcomes) - stored} 份）。")

