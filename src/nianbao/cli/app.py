"""The typer application and the output helpers every command shares."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from nianbao.findings import Finding, Severity
from nianbao.validate.digest import digest

app = typer.Typer(
    name="nianbao",
    help="政府信息公开工作年度报告：生成模板、分发、回收、校验、汇总。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

SEVERITY_STYLE = {Severity.FATAL: "bold red", Severity.ERROR: "red",
                  Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a Chinese usage/setup error and return the Exit to raise."""
    err_console.print(f"[red]错误：[/red]{message}")
    return typer.Exit(code)


def findings_table(findings: Iterable[Finding], title: str | None = None) -> Table:
    """Findings as a table, mistakes first; a consequence is said on its cause, warnings and
    notes one line per cause and block (`--json` has every finding)."""
    table = Table(title=title, show_lines=False, expand=True, title_justify="left")
    table.add_column("级别", no_wrap=True)
    table.add_column("问题（含位置）", overflow="fold")
    d = digest(list(findings))
    for f in sorted(d.errors, key=lambda f: -Severity(f["severity"]).rank):
        severity = Severity(f["severity"])
        table.add_row(f"[{SEVERITY_STYLE[severity]}]{severity.label}[/]", f["message"])
    for group in (*d.warnings, *d.notes):
        severity = Severity(group.severity)
        table.add_row(f"[{SEVERITY_STYLE[severity]}]{severity.label}[/]", group.message)
    return table
