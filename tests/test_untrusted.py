"""The helpers every writer uses for text from outside: formula-like text neutralised in
CSV and XLSX, escape sequences, control characters and rich markup made harmless on screen."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
import xlsxwriter
from rich.console import Console

from nianbao.untrusted import (
    FORMULA_START,
    QUOTED,
    csv_bytes,
    csv_cell,
    for_terminal,
    looks_like_formula,
    printable,
    write_xlsx_text,
)

HOSTILE = ['=HYPERLINK("http://evil.example/","点我")', "+1", "-2+3", "@SUM(A1)",
           "\t=1", "\r=1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_text_gets_an_apostrophe_in_csv(text: str) -> None:
    assert looks_like_formula(text)
    assert csv_cell(text) == "'" + text
    data = csv_bytes(["名称"], [[text]])
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [["名称"], ["'" + text]]


@pytest.mark.parametrize("value", ["青溪区财政局", "a=b", "", -1.5, 3, None])
def test_other_values_are_left_as_they_are(value: object) -> None:
    assert not looks_like_formula(value)
    assert csv_cell(value) == value


def test_formula_start_is_the_documented_set() -> None:
    assert set(FORMULA_START) == {"=", "+", "-", "@", "\t", "\r"}


def test_xlsx_text_is_quote_prefixed_only_when_formula_like(tmp_path) -> None:
    path = tmp_path / "t.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    quoted = wb.add_format(QUOTED)
    write_xlsx_text(ws, 0, 0, "=1+1", None, quoted)
    write_xlsx_text(ws, 1, 0, "青溪区", None, quoted)
    with pytest.raises(ValueError):
        write_xlsx_text(ws, 2, 0, "=1", None, None)
    wb.close()
    sheet = openpyxl.load_workbook(path).active
    assert sheet["A1"].value == "=1+1" and sheet["A1"].data_type == "s"
    assert sheet["A1"].quotePrefix and not sheet["A2"].quotePrefix


ESCAPES = {
    "title": "a\x1b]0;被改的标题\x07b",
    "title_st": "a\x1b]0;t\x1b\\b",
    "clear": "a\x1b[2J\x1b[Hb",
    "c1_csi": "a\x9b2Jb",
    "bell_nul": "a\x07\x00\x08b",
    "bidi": "a\u202eb",
    "lone_esc": "a\x1bcb",
}


@pytest.mark.parametrize("name", ESCAPES)
def test_escape_sequences_are_removed_whole(name: str) -> None:
    assert printable(ESCAPES[name]) == "ab"


def test_tab_and_newline_stay_unless_one_line() -> None:
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("a\tb\nc", one_line=True) == "a b c"


@pytest.mark.parametrize("text", ["青溪区[/]局", "[bold]粗体[/bold].xlsx", "[red]x", "末尾\\"])
def test_markup_is_shown_as_typed(text: str) -> None:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(f"[bold]{for_terminal(text)}[/bold]")  # would raise on a stray [/]
    assert console.file.getvalue().rstrip("\n") == text
