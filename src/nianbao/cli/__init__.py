"""The `nianbao` command: thin typer shells over the library, one module per stage."""

from __future__ import annotations

import errno
import sys

from nianbao.cli import (  # noqa: F401  (importing registers the commands)
    collect_commands,
    db_commands,
    demo_command,
    form_commands,
    publish_commands,
    web_commands,
)
from nianbao.cli.app import app, err_console
from nianbao.cli.usage import INTERRUPTED
from nianbao.collect.ledger_db import LedgerError
from nianbao.untrusted import for_terminal as esc

REASONS = {
    errno.EACCES: "没有权限", errno.EPERM: "没有权限", errno.ENOSPC: "磁盘空间不足",
    errno.ENOENT: "路径不存在", errno.EEXIST: "路径中有一个同名的文件，不是文件夹",
    errno.ENOTDIR: "路径中有一个同名的文件，不是文件夹", errno.EROFS: "磁盘是只读的",
    errno.ENAMETOOLONG: "文件名太长",
}


def main() -> None:
    try:
        app(prog_name="nianbao")
    except OSError as exc:  # a folder that cannot be written, a disk that is full ...
        where = f" {exc.filename}" if exc.filename else ""
        why = REASONS.get(exc.errno or 0, exc.strerror or str(exc))
        err_console.print(f"[red]错误：[/red]无法读写{esc(where)}：{esc(why)}")
        sys.exit(2)
    except LedgerError as exc:  # the database went away or the disk filled mid-command
        err_console.print(f"[red]错误：[/red]{exc}。本次未完成的一批没有入账，修好后再运行即可继续。")
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print(INTERRUPTED)
        sys.exit(130)
