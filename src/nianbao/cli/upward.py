"""The parts of `nianbao merge` that report upward (`--into`) and show provenance (`--tree`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from nianbao.cli.app import console, err_console
from nianbao.collect.workspace import Workspace
from nianbao.fsutil import atomic_write
from nianbao.merge.provenance import leaves, provenance, tree_lines
from nianbao.merge.totals import MergeResult
from nianbao.merge.upward import (
    Own,
    UpwardRefused,
    prose_from,
    read_issued,
    read_text_file,
    return_workbook,
)


def own_identity(ws: Workspace, result: MergeResult) -> Own:
    """Who reports: the --under unit, else the workspace's office."""
    if result.scope is not None:
        return Own(result.scope.code, result.scope.name, result.year)
    return Own(ws.config.office_code, ws.config.office, result.year)


def write_return(ws: Workspace, result: MergeResult, into: Path, output: Path, *,
                 nodes: list[dict[str, Any]], text: Path | None, include_invalid: bool
                 ) -> dict[str, Any]:
    """Fill the issued template `into` with the totals and write it to `output`; a refusal
    prints its reasons and exits (2: the template; 1: the totals have errors)."""
    own = own_identity(ws, result)
    try:
        issued = read_issued(read_text_file(into), str(into), result.form, own)
        prose = prose_from(read_text_file(text), str(text), result.form) if text else None
        prov = provenance(result, {"code": own.code, "name": own.name}, nodes,
                          include_invalid)
        data = return_workbook(result, issued, prose=prose, include_invalid=include_invalid,
                               provenance=prov)
    except UpwardRefused as exc:
        err_console.print(f"[red]错误：[/red]{escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None
    atomic_write(output, data)
    return {"file": str(output), "issued": str(into), "identity": issued.identity,
            "upper_office": issued.upper_office, "units": len(leaves(prov["units"]))}


def print_return(done: dict[str, Any]) -> None:
    ident = done["identity"]
    console.print(escape(f"上报文件：{done['file']}（{done['upper_office']}下发给"
                         f"“{ident['unit.name']}”（{ident['unit.code']}）的 {ident['year']} "
                         f"年度模板，签名保留；来源追溯到 {done['units']} 个单位的原始文件）"))


def print_tree(title: str, nodes: list[dict[str, Any]]) -> None:
    console.print(escape(f"{title} 汇总来源（共 {len(leaves(nodes))} 个原始单位文件）"))
    for line in tree_lines(nodes):
        console.print(escape(line))
