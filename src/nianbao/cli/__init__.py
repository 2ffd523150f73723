"""The `nianbao` command: thin typer shells over the library, one module per stage."""

from __future__ import annotations

from nianbao.cli.app import app
from nianbao.cli import form_commands  # noqa: F401  (registers template, fields, check)


def main() -> None:
    app()
