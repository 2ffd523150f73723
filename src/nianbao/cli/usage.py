"""The command-line framework's own words in Chinese: usage errors, help headings, the usage
line, and the checks every command shares (input paths that exist, a plausible year).

typer/click write their messages in English; a usage error is caught here and said again in
Chinese from its parts (the option, the command, the value), never by translating prose.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

HELP_TEXT = "显示此帮助并退出。"
INTERRUPTED = "已中断。已入账的文件保留在台账中，再次运行同一命令即可继续。"
_HEADINGS = {  # typer's help screen (rich): its documented customisation points
    "ARGUMENTS_PANEL_TITLE": "参数", "OPTIONS_PANEL_TITLE": "选项",
    "COMMANDS_PANEL_TITLE": "命令", "ERRORS_PANEL_TITLE": "错误", "ABORTED_TEXT": "已中止。",
    "DEFAULT_STRING": "[默认：{}]", "REQUIRED_LONG_STRING": "[必填]",
    "ENVVAR_STRING": "[环境变量：{}]", "DEPRECATED_STRING": "（已弃用）",
    "RICH_HELP": "运行 '{command_path} {help_option}' 查看帮助。",
}
_USAGE_WORDS = (("Usage: ", "用法："), ("Usage:", "用法："), ("[OPTIONS]", "[选项]"),
                ("COMMAND [ARGS]...", "命令 [参数]..."))


def localise_help() -> None:
    """Chinese headings on every help screen (where this typer has them)."""
    try:
        from typer import rich_utils
    except ImportError:  # typer without rich: plain help, still usable
        return
    for name, text in _HEADINGS.items():
        if hasattr(rich_utils, name):
            setattr(rich_utils, name, text)


def usage_line(text: str) -> str:
    for english, chinese in _USAGE_WORDS:
        text = text.replace(english, chinese)
    return text


def _localise_command(cmd: Any, ctx: Any) -> None:
    """A subcommand's usage line and help option in Chinese (once per command object)."""
    option = cmd.get_help_option(ctx)
    if option is not None:
        option.help = HELP_TEXT
    if not getattr(cmd, "_nianbao_chinese", False):
        english = cmd.get_usage
        cmd.get_usage = lambda c, english=english: usage_line(english(c))
        cmd._nianbao_chinese = True


class ChineseGroup(TyperGroup):
    """The `nianbao` group: its usage line, help option and every subcommand's in Chinese."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_TEXT
        return option

    def get_usage(self, ctx: Any) -> str:
        return usage_line(super().get_usage(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _localise_command(cmd, ctx)
        return cmd

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """As typer's, but its usage errors are said in Chinese (not standalone, the
        framework hands them back instead of printing them in English)."""
        run = super().main
        if not standalone_mode:
            return run(args, prog_name, complete_var, standalone_mode=False, **extra)
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        try:
            code = run(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Exception as exc:
            if is_usage_error(exc):
                if type(exc).__name__ != "NoArgsIsHelpError":  # (the help is shown already)
                    show_usage_error(exc, err)
                sys.exit(2)
            if type(exc).__name__ == "Abort":
                err.print("已中止。")
                sys.exit(1)
            raise
        if code == 130:  # the framework turns Ctrl-C into exit code 130
            err.print(INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


_DETAILS = (  # the value's own problem, as typer/pydantic words it
    (re.compile(r"valid integer", re.I), "应为整数"),
    (re.compile(r"valid number|valid float", re.I), "应为数字"),
    (re.compile(r"valid boolean", re.I), "应为 true 或 false"),
    (re.compile(r"does not exist", re.I), "不存在"),
    (re.compile(r"is a directory", re.I), "是一个文件夹"),
    (re.compile(r"is a file", re.I), "是一个文件"),
    (re.compile(r"not one of|should be .* or ", re.I), "不在可选值之中"),
)


def _hint(exc: Any) -> str:
    param = getattr(exc, "param", None)
    hint = getattr(exc, "param_hint", None)
    if hint is None and param is not None:
        hint = param.get_error_hint()
    if isinstance(hint, list | tuple):
        hint = " / ".join(hint)
    return str(hint or "").replace("'", "")


def usage_message(exc: Any) -> str:
    """A usage error of the framework, in Chinese: what was wrong and where."""
    kind = type(exc).__name__
    message = str(getattr(exc, "message", "") or exc)
    ctx = getattr(exc, "ctx", None)
    if kind == "NoSuchOption":
        text = f"没有 {exc.option_name} 这个选项"
        if getattr(exc, "possibilities", None):
            text += f"（是否想用：{'、'.join(sorted(exc.possibilities))}）"
        return text
    if kind == "MissingParameter":
        param = getattr(exc, "param", None)
        what = "参数" if getattr(param, "param_type_name", "") == "argument" else "选项"
        return f"缺少{what} {_hint(exc)}"
    if kind == "BadParameter":
        if any(ord(ch) > 0x2E80 for ch in message):  # already ours (a callback's message)
            return f"{_hint(exc)}：{message}" if _hint(exc) else message
        detail = next((zh for pattern, zh in _DETAILS if pattern.search(message)), "")
        return f"{_hint(exc)} 的值无效" + (f"：{detail}" if detail else f"（{message}）")
    if kind == "BadOptionUsage":
        return f"选项 {exc.option_name} 后面需要一个值" if "argument" in message else (
            f"选项 {exc.option_name} 用法不对（{message}）")
    found = re.match(r"No such command '(.+?)'", message)
    if found:
        names = ctx.command.list_commands(ctx) if ctx is not None else []
        return f"没有“{found[1]}”这个命令" + (f"（可用的命令：{'、'.join(names)}）" if names
                                              else "")
    found = re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)", message)
    if found:
        return f"多余的参数：{found[1]}"
    if message.startswith("Missing command"):
        return "缺少命令"
    return f"用法不对（{message}）"


def show_usage_error(exc: Any, console: Any) -> None:
    """The usage line, the hint to --help and the message, as typer shows them, in Chinese."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        console.print(usage_line(ctx.get_usage()), markup=False, highlight=False)
        console.print(f"运行 '{ctx.command_path} --help' 查看帮助。", markup=False)
    console.print(f"[red]错误：[/red]{_escape(usage_message(exc))}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def is_usage_error(exc: BaseException) -> bool:
    """A usage error of the framework (typer's own click, or click itself)."""
    return any(c.__name__ == "UsageError" for c in type(exc).__mro__)


# --- checks every command shares -------------------------------------------------------------

FIRST_YEAR = 2008  # 《政府信息公开条例》 took effect in 2008: no annual report is older


def check_year(value: int | None) -> int | None:
    """A four-digit reporting year that can exist: `--year 23` is refused, not stored."""
    if value is None:
        return value
    last = date.today().year + 1
    if not FIRST_YEAR <= value <= last:
        raise typer.BadParameter(f"年度“{value}”不对：应为四位数的年份（{FIRST_YEAR}–{last}），"
                                 "如 2022")
    return value


def check_jobs(value: int) -> int:
    if value < 0:
        raise typer.BadParameter(f"“{value}”不对：应为 0（全部 CPU 核）或正整数")
    return value


def signable(value: str | None, what: str, code: bool = False) -> None:
    """Text that is signed into issued templates (an office, a unit's code or name) must come
    back from a workbook as it went in, or a genuine return would look forged."""
    from nianbao.collect.roster import shown_text, unsafe_text

    problem = unsafe_text(value or "", code=code)
    if problem:
        raise typer.BadParameter(f"{what}“{shown_text(value or '')}”含有{problem}")


def existing_inputs(paths: Iterable[Path]) -> None:
    """Every input path given exists, or a usage error (exit 2) naming each one that does not,
    before any batch is opened."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter("找不到 " + "、".join(missing) + "：请检查路径是否写错")
