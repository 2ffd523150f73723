"""`nianbao demo`: the collector's whole job on the packaged samples, from any installation.

A workspace is built in DIR from the shipped sample workspace (config, roster and the demo
signing key the sample returns were issued with); then distribute, check, collect, status,
merge and report run exactly as a clerk would type them, each shown before it runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from nianbao.cli.app import app, console, fail
from nianbao.collect.workspace import open_workspace
from nianbao.resources import data_dir

DEMO_MARK = Path(".nianbao") / "demo"  # a folder with this file may be rebuilt by the next demo
# collect, check and merge exit 1 or 2 when some files have errors: expected here, the samples
# include bad returns on purpose
FINDINGS_EXPECTED = {"check", "collect", "merge"}


def _prepare(folder: Path, samples: Path) -> None:
    """DIR as a fresh copy of the sample workspace; a previous demo there is replaced, any
    other content is left alone and refused."""
    if folder.exists() and not folder.is_dir():
        raise fail(f"{folder} 是一个文件，不是文件夹：请换一个文件夹名")
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / DEMO_MARK).is_file():
            raise fail(f"文件夹 {folder} 不是空的，也不是以前的演示工作区：请换一个文件夹名")
        shutil.rmtree(folder)
    shutil.copytree(samples / "workspace", folder, dirs_exist_ok=True)
    (folder / DEMO_MARK).write_text("nianbao demo\n", encoding="utf-8")


def _run(args: list[str]) -> int:
    """One nianbao command, shown as typed; its exit code."""
    shown = " ".join(f'"{a}"' if " " in a else a for a in args)
    console.print(f"\n[bold]$ nianbao {escape(shown)}[/bold]")
    # not standalone: the exit code comes back (usage errors would go up to `main`)
    code = app(args=args, prog_name="nianbao", standalone_mode=False)
    return code if isinstance(code, int) else 0


@app.command()
def demo(
    folder: Annotated[Path, typer.Argument(help="演示工作区文件夹（将新建）")] = Path(
        "nianbao-demo"),
) -> None:
    """在自带的示例上跑一遍完整的收集流程：建工作区、分发、检查、回收、催报、汇总、出报告。
    例：nianbao demo 演示"""
    samples = data_dir("samples")
    returns = samples / "returns"
    if not returns.is_dir():
        raise fail(f"找不到自带的示例文件（{returns}）：安装不完整，请重新安装 nianbao")
    _prepare(folder, samples)
    ws = str(folder)
    year = open_workspace(folder).config.year
    merged, report = folder / f"汇总-{year}.xlsx", folder / f"年度报告-汇总-{year}.docx"
    first = sorted(returns.glob("*.xlsx"))[0]
    steps = [
        ["distribute", "-w", ws],
        ["check", str(first)],
        ["collect", "-w", ws, str(returns), "--received-at", "2023-01-15T10:00"],
        ["status", "-w", ws, "--as-of", "2023-01-31", "--csv", str(folder / "催报名单.csv")],
        ["merge", "-w", ws, "-o", str(merged)],
        ["report", "-w", ws, "--merged", "--publisher", "青溪区人民政府", "-o", str(report)],
    ]
    for args in steps:
        code = _run(args)
        if code and not (args[0] in FINDINGS_EXPECTED and code in (1, 2)):
            raise fail(f"演示在“nianbao {args[0]}”一步失败（退出码 {code}）", code)
    console.print("\n[bold]演示完成。[/bold]各项输出：")
    for where, what in ((folder / "outbox", "下发的模板（每个单位一份）和 manifest.csv"),
                        (folder / "feedback", "反馈表和回执"),
                        (folder / "催报名单.csv", "催报名单"),
                        (merged, "汇总表"), (report, "年度报告"),
                        (folder / "ledger.sqlite", "台账")):
        console.print(f"  {what}：{where}", markup=False)
    shown = f'"{ws}"' if " " in ws else ws
    console.print(f"接着可以试：nianbao status -w {shown}", markup=False)
    console.print(f"网上报送门户：nianbao serve -w {shown}，用浏览器打开它打印的收集单位登录链接；"
                  f"各单位的报送链接由 nianbao links -w {shown} 列出", markup=False)
