"""Commands of the form itself: template, fields, check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nianbao.check import VALID, CheckResult, check_file, exit_code
from nianbao.cli.app import app, console, esc, fail, findings_table, print_json
from nianbao.cli.usage import check_year, existing_inputs, signable
from nianbao.collect.intake import expand_paths
from nianbao.findings import make
from nianbao.fsutil import atomic_write
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import layout_for
from nianbao.spec.load import DEFAULT_FORM, SpecError, load_form, load_spec
from nianbao.spec.model import Form

FormOption = Annotated[str, typer.Option("--form", help="模板编号（templates/ 下的规格文件名）")]
SpecOption = Annotated[Path | None, typer.Option("--spec", help="直接指定模板规格文件（.toml）")]

STATUS_TEXT = {"valid": "[green]通过[/green]", "invalid": "[red]有错误[/red]",
               "unusable": "[bold red]无法使用[/bold red]"}


def get_form(form_id: str, spec: Path | None) -> Form:
    try:
        return load_spec(spec) if spec else load_form(form_id)
    except SpecError as exc:
        raise fail(str(exc)) from None


@app.command()
def template(
    output: Annotated[Path, typer.Option("-o", "--output", help="输出的 .xlsx 文件")],
    unit_code: Annotated[str | None, typer.Option(help="预填并锁定的单位代码")] = None,
    unit_name: Annotated[str | None, typer.Option(help="预填并锁定的单位名称")] = None,
    year: Annotated[int | None, typer.Option(help="预填并锁定的报告年度",
                                             callback=check_year)] = None,
    password: Annotated[str | None, typer.Option(
        help="工作表保护密码（只防误改，不防有意破解）")] = None,
    form: FormOption = DEFAULT_FORM,
    spec: SpecOption = None,
) -> None:
    """生成填报模板。例：nianbao template -o 模板.xlsx --unit-name 某局 --year 2022"""
    signable(unit_code, "单位代码", code=True)
    signable(unit_name, "单位名称")
    f = get_form(form, spec)
    identity = {k: v for k, v in (("unit.code", unit_code), ("unit.name", unit_name),
                                  ("year", year)) if v not in (None, "")}
    data = render(layout_for(f), RenderOptions(identity=identity, lock_identity=bool(identity),
                                               password=password))
    atomic_write(output, data)
    console.print(f"已生成模板：{esc(output)}（{f.id} {f.version}，{len(data) // 1024} KB）")


@app.command()
def fields(
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
    form: FormOption = DEFAULT_FORM,
    spec: SpecOption = None,
) -> None:
    """列出字段表：字段标识、标签路径、工作表、单元格、类型、填报/公式。"""
    f = get_form(form, spec)
    layout = layout_for(f)
    rows = []
    for fid, field in f.fields.items():
        place = layout.places[fid]
        rows.append({"id": fid, "label": field.label, "sheet": place.sheet, "cell": place.a1,
                     "kind": field.kind, "role": "formula" if field.computed else "input"})
    if as_json:
        print_json({"form": {"id": f.id, "version": f.version,
                             "fingerprint": layout.fingerprint}, "fields": rows})
        return
    from rich.table import Table

    table = Table(title=f"{f.id} {f.version} 字段表（{len(rows)} 个）", title_justify="left")
    for col in ("字段标识", "标签路径", "工作表", "单元格", "类型", "填报/公式"):
        table.add_column(col)
    for r in rows:
        table.add_row(esc(r["id"]), esc(r["label"]), esc(r["sheet"]), r["cell"], r["kind"],
                      "公式" if r["role"] == "formula" else "填报")
    console.print(table)


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="要检查的 .xlsx 文件或文件夹")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出记录和全部问题")] = False,
    form: Annotated[str | None, typer.Option(
        "--form", help="只接受此模板编号（默认：按文件中的标识识别）")] = None,
) -> None:
    """检查填报返回的工作簿。退出码：0 全部通过，1 有错误，2 有文件无法使用。"""
    existing_inputs(files)
    results = []
    for given in files:
        found = list(expand_paths([given]))
        if given.is_dir() and not found:  # say so, rather than check nothing in silence
            empty = CheckResult(str(given), "", 0)
            empty.findings.append(make("FILE_MISSING", file=str(given), detail="文件夹中没有文件"))
            results.append(empty)
        results += [check_file(p, expected_form=form) for p in found]
    code = exit_code(results)
    if as_json:
        counts = {s: sum(r.status == s for r in results) for s in ("valid", "invalid",
                                                                   "unusable")}
        print_json({"files": [r.to_dict() for r in results],
                    "summary": {"files": len(results), **counts, "exit_code": code}})
        raise typer.Exit(code)
    for r in results:
        unit = r.identity.get("unit.name") or ""
        head = f"[bold]{esc(r.file)}[/bold]  {STATUS_TEXT[r.status]}  {esc(unit)}"
        console.print(head)
        if r.findings:
            console.print(findings_table(r.findings))
        elif r.status == VALID:
            console.print("  没有发现问题。")
    ok = sum(r.status == VALID for r in results)
    console.print(f"共 {len(results)} 个文件：通过 {ok} 个，"
                  f"有错误 {sum(r.status == 'invalid' for r in results)} 个，"
                  f"无法使用 {sum(r.status == 'unusable' for r in results)} 个。")
    raise typer.Exit(code)
