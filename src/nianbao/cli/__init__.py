"""The `nianbao` command: thin typer shells over the library, one module per stage."""

from __future__ import annotations

from nianbao.cli import (  # noqa: F401  (importing registers the commands)
    collect_commands,
    form_commands,
    publish_commands,
)
from nianbao.cli.app import app


def main() -> None:
    app()
