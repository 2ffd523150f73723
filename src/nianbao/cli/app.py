"""The typer application and the output helpers every command shares."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from nianbao.cli.usage import ChineseGroup, localise_help
from nianbao.findings import Finding, Severity
from nianbao.untrusted import for_terminal as esc

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

SEVERITY_STYLE = {Severity.FATAL: "bold red", Severity.ERROR: "red",
                  Severity.WARNING: "yellow", Severity.INFO: "cyan"}
# More than this many findings of one code in one file are shown as one line.
COLLAPSE_AFTER = 5


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
    """Findings as a table, most severe first; a long run of one code collapses to a line."""
    table = Table(title=title, show_lines=False, expand=True, title_justify="left")
    table.add_column("级别", no_wrap=True)
    table.add_column("问题（含位置）", overflow="fold")
    items = sorted(findings, key=lambda f: -f.severity.rank)
    counts = Counter(f.code for f in items)
    shown: Counter[str] = Counter()
    for f in items:
        if counts[f.code] > COLLAPSE_AFTER:
            shown[f.code] += 1
            if shown[f.code] == COLLAPSE_AFTER:
                rest = counts[f.code] - COLLAPSE_AFTER + 1
                table.add_row(f"[{SEVERITY_STYLE[f.severity]}]{f.severity.label}[/]",
                              f"……同类问题另有 {rest} 处（用 --json 查看全部）")
                continue
            if shown[f.code] > COLLAPSE_AFTER:
                continue
        table.add_row(f"[{SEVERITY_STYLE[f.severity]}]{f.severity.label}[/]", esc(f.message))
    return table
