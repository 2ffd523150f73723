"""Hostile roster names and file names through every writer and the real CLI: CSV and XLSX
outputs never hold text a spreadsheet would run (status --csv, manifest.csv, the merged
workbook, 问题清单), and the terminal shows markup and escape sequences as harmless text."""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner, Result

from nianbao.check import check_bytes
from nianbao.cli import app
from nianbao.collect.feedback import feedback_options
from nianbao.collect.feedback_package import writer_for
from nianbao.collect.judging import Context, judge
from nianbao.render.workbook import render
from nianbao.untrusted import FORMULA_START
from tests.collect_helpers import LAYOUT, complete_values, issue, make_workspace, put

HYPERLINK = '=HYPERLINK("http://evil.example/","点我")'
MARKUP_NAME = "青溪区[/]局"
ROSTER = f"""单位代码,单位名称,上级单位代码,联系人
330599,青溪区人民政府办公室,,办公室 张敏
330599-002,{MARKUP_NAME},330599,[bold]蒋琳
330599-003,"{HYPERLINK.replace('"', '""')}",330599,@联系人
330599-007,+民政局,330599,-王强
"""
BOLD_FILE = "[bold]粗体.xlsx"
ESC_FILE = "\x1b]0;pwned\x07\x1b[2J清屏.xlsx"


def run(*args: Any) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def risky(rows: list[list[str]]) -> list[str]:
    return [c for r in rows for c in r if c.startswith(FORMULA_START)]


def load(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path)


def unquoted_formula_text(wb: Any, sheet: str) -> list[str]:
    return [f"{c.coordinate}={c.value!r}" for row in wb[sheet].iter_rows() for c in row
            if isinstance(c.value, str) and c.value.startswith(FORMULA_START)
            and not c.quotePrefix]


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hostile")
    ws, ledger = make_workspace(root / "ws", ROSTER)
    ledger.close()
    inbox = root / "inbox"
    put(inbox, BOLD_FILE, issue(ws, "330599-002", name=MARKUP_NAME))
    # errors whose "found" values start like formulas: a negative count, typed "=1+1"
    put(inbox, ESC_FILE, issue(ws, "330599-003", complete_values(
        t2__licensing=-3, t2__penalty="=1+1"), name=HYPERLINK))
    result = run("collect", inbox, "-w", ws.root, "-j", "1")
    return {"ws": ws, "root": root, "collect": result}


def test_distribute_manifest_csv_is_neutralised(collected: dict[str, Any]) -> None:
    ws = collected["ws"]
    result = run("distribute", "-w", ws.root)
    assert result.exit_code == 0, result.output
    rows = read_csv(ws.outbox / "manifest.csv")
    assert risky(rows) == []
    names = {r[0]: r[1] for r in rows[1:]}
    assert names["330599-003"] == "'" + HYPERLINK and names["330599-007"] == "'+民政局"
    assert names["330599-002"] == MARKUP_NAME


def test_collect_shows_file_names_as_typed_without_escape_sequences(
        collected: dict[str, Any]) -> None:
    result = collected["collect"]
    assert result.exit_code == 1, result.output  # one valid, one with errors
    out = result.stdout
    assert BOLD_FILE in out and "清屏.xlsx" in out
    assert "\x1b" not in out and "\x07" not in out and "pwned" not in out


def test_status_table_and_chase_csv(collected: dict[str, Any]) -> None:
    ws, root = collected["ws"], collected["root"]
    out = root / "催报名单.csv"
    result = run("status", "-w", ws.root, "--csv", out)
    assert result.exit_code == 0, result.output
    # shown as typed (a long name is cut to its column with an ellipsis)
    assert MARKUP_NAME in result.stdout and HYPERLINK[:20] in result.stdout
    rows = read_csv(out)
    assert risky(rows) == []
    chase = {r[0]: r for r in rows[1:]}
    assert chase["330599-003"][1] == "'" + HYPERLINK and chase["330599-003"][3] == "'@联系人"
    assert chase["330599-007"][1:4] == ["'+民政局", "330599", "'-王强"]


def test_feedback_issue_list_quotes_formula_like_text(collected: dict[str, Any]) -> None:
    ws = collected["ws"]
    [path] = [p for p in ws.feedback_dir.rglob("*反馈*.xlsx")]
    wb = load(path)
    found = [c for c in wb["问题清单"]["F"] if c.value in ("-3", "=1+1")]
    assert {c.value for c in found} == {"-3", "=1+1"}
    assert all(c.quotePrefix and c.data_type == "s" for c in found)
    assert unquoted_formula_text(wb, "问题清单") == []


def test_merged_workbook_quotes_hostile_names(collected: dict[str, Any]) -> None:
    ws, root = collected["ws"], collected["root"]
    out = root / "汇总.xlsx"
    result = run("merge", "-w", ws.root, "-o", out, "--include-invalid")
    assert result.exit_code in (0, 1), result.output
    assert "+民政局" in result.stdout  # the left-out table
    wb = load(out)
    for sheet in ("汇总来源", "明细"):
        assert unquoted_formula_text(wb, sheet) == []
    names = {c.value for c in wb["明细"]["B"]}
    assert {HYPERLINK, MARKUP_NAME} <= names
    assert "+民政局" in {c.value for c in wb["汇总来源"]["B"]}  # left out, quoted


def test_check_shows_markup_and_strips_escapes(tmp_path: Path,
                                               collected: dict[str, Any]) -> None:
    data = issue(collected["ws"], "330599-002", name=MARKUP_NAME)
    put(tmp_path, "[red]x\x1b[2J\u202e.xlsx", data)
    result = run("check", tmp_path)
    assert result.exit_code == 0, result.output
    assert "[red]x.xlsx" in result.stdout and MARKUP_NAME in result.stdout
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout


def test_json_output_escapes_what_json_leaves_raw(tmp_path: Path,
                                                   collected: dict[str, Any]) -> None:
    put(tmp_path, "a\u202e\x9b2J.xlsx", issue(collected["ws"], "330599-002"))
    result = run("check", "--json", tmp_path)
    assert "\u202e" not in result.stdout and "\x9b" not in result.stdout
    assert "\\u202e" in result.stdout
    [entry] = json.loads(result.stdout)["files"]
    assert entry["file"].endswith("a\u202e\x9b2J.xlsx")  # the same value, only escaped


def test_an_error_quoting_a_path_with_markup_is_shown_as_typed(tmp_path: Path) -> None:
    missing = tmp_path / "[/]没有[bold]"
    result = run("status", "-w", missing)
    assert result.exit_code == 2
    assert "[/]没有[bold]" in result.stderr and "Traceback" not in result.output


def test_the_feedback_patcher_quotes_as_the_full_render_does(collected: dict[str, Any]
                                                            ) -> None:
    """问题清单 written by the patcher (no fall-back) quotes exactly the cells the full
    render quotes."""
    ws = collected["ws"]
    ctx = Context.of(ws, {"330599-003": HYPERLINK}, received_at="2023-01-15T10:00:00+08:00")
    result = check_bytes(issue(ws, "330599-003", complete_values(
        t2__licensing=-3, t2__penalty="=1+1"), name=HYPERLINK), "=x.xlsx")
    opts, issues = feedback_options(LAYOUT.form, result, judge(result, ctx), ctx)
    patched = writer_for(LAYOUT, ctx.key, ctx.office).workbook(opts, issues)
    assert patched is not None, "the patcher fell back"

    def quoted(data: bytes) -> list[tuple[str, Any]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sheet = openpyxl.load_workbook(io.BytesIO(data))["问题清单"]
        return [(c.coordinate, c.value) for row in sheet.iter_rows() for c in row
                if c.quotePrefix]

    assert quoted(patched) == quoted(render(LAYOUT, opts))
    assert {v for _, v in quoted(patched)} == {"-3", "=1+1"}
