"""The `nianbao` command: thin typer shells over the library, one module per stage."""

from __future__ import annotations

from nianbao.cli import collect_commands, form_commands  # noqa: F401  (register commands)
from nianbao.cli.app import app


def main() -> None:
    app()
