"""The typer application and the output helpers every command shares."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from nianbao.cli.usage import ChineseGroup, localise_help
from nianbao.findings import Finding, Severity
from nianbao.untrusted import for_terminal as esc
from nianbao.validate.digest import digest

localise_help()
app = typer.Typer(
    cls=ChineseGroup,
    name="nianbao",
    help="政府信息公开工作年度报告：生成模板、分发、回收、校验、汇总。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@app.callback()
def _measure_terminal() -> None:
    """政府信息公开工作年度报告：生成模板、分发、回收、校验、汇总。"""
    # Rich fixes a console's width when COLUMNS is set as it is made (at import); measure
    # it for each command instead: the window may have been resized, tests set COLUMNS.
    for c in (console, err_console):
        c.size = (None, None)  # type: ignore[assignment]

SEVERITY_STYLE = {Severity.FATAL: "bold red", Severity.ERROR: "red",
                  Severity.WARNING: "yellow", Severity.INFO: "cyan"}


# JSON escapes C0 itself; C1 and the bidirectional overrides it leaves raw would still act
# on a terminal, so they are written as \u escapes too (same JSON value).
_RAW_IN_JSON = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def print_json(data: Any) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(_RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a Chinese usage/setup error and return the Exit to raise; `message` is plain
    text (it often quotes a path or a value the user gave) and is shown as such."""
    err_console.print(f"[red]错误：[/red]{esc(message)}")
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
        table.add_row(f"[{SEVERITY_STYLE[severity]}]{severity.label}[/]", esc(f["message"]))
    for group in (*d.warnings, *d.notes):
        severity = Severity(group.severity)
        table.add_row(f"[{SEVERITY_STYLE[severity]}]{severity.label}[/]", esc(group.message))
    return table
