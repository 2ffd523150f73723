"""`nianbao export`: the ledger as a long table (unit x field) or a wide one (a row per unit) in
CSV, JSON or XLSX. Text a spreadsheet would run as a formula (a prose field, a unit name from
the roster) is neutralised in CSV and XLSX; numbers stay numbers; blank, "/" and 0 stay
distinct."""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner, Result

from nianbao.cli import app
from nianbao.collect.intake import collect
from nianbao.testing.libreoffice import LibreOffice
from tests.collect_helpers import LAYOUT, RECEIVED, complete_values, issue, make_workspace, put

FORM = LAYOUT.form
FIELDS = list(FORM.fields)
LONG_COLUMNS = ["unit_code", "unit_name", "year", "field", "label", "value", "value_state",
                "status", "source", "submission"]
WIDE_HEAD = ["unit_code", "unit_name", "year", "status", "source", "submission"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

HYPERLINK = '=HYPERLINK("http://evil.example/","点我")'
ROSTER = f"""单位代码,单位名称,上级单位代码
330599,青溪区人民政府办公室,
330599-002,"{HYPERLINK.replace('"', '""')}",330599
330599-003,@SUM(1),330599
330599-007,+1,330599
330599-101,-1,330599
"""
NAMES = {"330599": "青溪区人民政府办公室", "330599-002": HYPERLINK, "330599-003": "@SUM(1)",
         "330599-007": "+1", "330599-101": "-1"}

# 330599: prose that looks like formulas, and a blank, a "/" and a 0 side by side
V_GOV = complete_values(text__overview="@SUM(1)", text__problems="+1", text__other="-1",
                        note__t2="=1+1", t2__regulations__issued="/", t2__penalty=None,
                        t2__enforcement=0, t2__fees_wan_yuan=Decimal("96171.6"))
# 330599-003: negative figures (VALUE_NEGATIVE: invalid, still exported as it stands)
V_EDU = complete_values(t4__review__upheld=-1, t4__review__pending=3,
                        t2__fees_wan_yuan=Decimal("-1.5"))


@dataclass
class Ledgered:
    ws_dir: Path
    submission: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def ledgered(tmp_path_factory: pytest.TempPathFactory) -> Ledgered:
    """330599 and 330599-002 valid, 330599-003 invalid, 330599-007 nothing, 330599-101 a
    file from another office (rejected)."""
    root = tmp_path_factory.mktemp("export")
    ws, ledger = make_workspace(root / "ws", ROSTER)
    other, other_ledger = make_workspace(root / "other", ROSTER, office="青山区人民政府办公室")
    other_ledger.close()
    files = {code: put(root / "inbox", f"{code}.xlsx",
                       issue(by, code, values, name=NAMES[code]))
             for code, values, by in (("330599", V_GOV, ws), ("330599-002", None, ws),
                                      ("330599-003", V_EDU, ws), ("330599-101", None, other))}
    with ledger:
        report = collect(ws, ledger, list(files.values()), received_at=RECEIVED,
                         feedback=False)
    items = {item["path"]: item for item in report.items}
    assert {code: items[str(p)]["status"] for code, p in files.items()} == {
        "330599": "valid", "330599-002": "valid", "330599-003": "invalid",
        "330599-101": "rejected"}
    return Ledgered(ws.root, {code: items[str(p)]["submission"] for code, p in files.items()})


def run(*args: Any) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def export(ledgered: Ledgered, *args: Any) -> bytes:
    result = run("export", "-w", ledgered.ws_dir, *args)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())  # Excel opens UTF-8 CSV with a BOM correctly
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_START)


# -- long table ----------------------------------------------------------------------------------

def test_long_csv_has_one_row_per_unit_and_field_with_formula_text_neutralised(
        ledgered: Ledgered) -> None:
    rows = read_csv(export(ledgered, "--format", "csv"))
    assert rows[0] == LONG_COLUMNS
    body = rows[1:]
    # the counting record of each unit that returned a usable file, in roster order
    assert [(r[0], r[3]) for r in body] == [(code, fid) for code in
                                             ("330599", "330599-002", "330599-003")
                                             for fid in FIELDS]
    sid = ledgered.submission
    at = {(r[0], r[3]): r for r in body}

    def row(code: str, fid: str, name: str, value: str, state: str, status: str = "valid"
            ) -> list[str]:
        return [code, name, "2022", fid, FORM.fields[fid].label, value, state, status,
                "collected", str(sid[code])]

    gov, drc, edu = "青溪区人民政府办公室", "'" + HYPERLINK, "'@SUM(1)"
    expected = [
        row("330599", "text.overview", gov, "'@SUM(1)", "text"),
        row("330599", "text.problems", gov, "'+1", "text"),
        row("330599", "text.other", gov, "'-1", "text"),
        row("330599", "note.t2", gov, "'=1+1", "text"),
        row("330599", "t2.regulations.issued", gov, "n/a", "not_applicable"),
        row("330599", "t2.penalty", gov, "", "blank"),
        row("330599", "t2.enforcement", gov, "0", "number"),
        row("330599", "t2.licensing", gov, "120", "number"),
        row("330599", "t2.fees_wan_yuan", gov, "96171.6", "number"),
        row("330599", "t3.new.total", gov, "12", "number"),
        row("330599", "note.t3", gov, "", "blank"),
        row("330599-002", "unit.name", drc, "'" + HYPERLINK, "text"),
        row("330599-002", "unit.code", drc, "330599-002", "text"),
        row("330599-002", "year", drc, "2022", "number"),
        row("330599-002", "text.overview", drc, "本年度主动公开政府信息 160 条。", "text"),
        row("330599-003", "unit.name", edu, "'@SUM(1)", "text", "invalid"),
        row("330599-003", "t4.review.upheld", edu, "-1", "number", "invalid"),
        row("330599-003", "t4.review.total", edu, "2", "number", "invalid"),
    ]
    assert [at[(r[0], r[3])] for r in expected] == expected
    # no text cell anywhere starts like a formula; only numbers may start with "-"
    risky = [(r[0], r[3], i, c) for r in body for i, c in enumerate(r)
             if looks_like_formula(c) and not (i == 5 and r[6] == "number")]
    assert risky == []


def test_long_json_keeps_text_as_is_and_blank_na_zero_apart(ledgered: Ledgered) -> None:
    out = json.loads(export(ledgered, "--format", "json"))
    assert out["columns"] == LONG_COLUMNS
    assert len(out["rows"]) == 3 * len(FIELDS)
    at = {(r["unit_code"], r["field"]): r for r in out["rows"]}
    picked = {fid: (at["330599", fid]["value"], at["330599", fid]["value_state"])
              for fid in ("t2.regulations.issued", "t2.penalty", "t2.enforcement",
                          "t2.licensing", "t2.fees_wan_yuan", "text.overview", "note.t2")}
    assert picked == {"t2.regulations.issued": ("n/a", "not_applicable"),
                      "t2.penalty": (None, "blank"), "t2.enforcement": (0, "number"),
                      "t2.licensing": (120, "number"),
                      "t2.fees_wan_yuan": ("96171.6", "number"),   # exact decimal string
                      "text.overview": ("@SUM(1)", "text"), "note.t2": ("=1+1", "text")}
    assert type(at["330599", "t2.enforcement"]["value"]) is int
    assert at["330599-002", "unit.code"] == {
        "unit_code": "330599-002", "unit_name": HYPERLINK, "year": 2022, "field": "unit.code",
        "label": "单位代码", "value": "330599-002", "value_state": "text", "status": "valid",
        "source": "collected", "submission": ledgered.submission["330599-002"]}
    assert (at["330599-003", "t4.review.upheld"]["value"],
            at["330599-003", "t2.fees_wan_yuan"]["value"]) == (-1, "-1.5")


# -- wide table ----------------------------------------------------------------------------------

def test_wide_csv_has_one_row_per_unit(ledgered: Ledgered) -> None:
    rows = read_csv(export(ledgered, "--format", "csv", "--wide"))
    head = rows[0]
    assert head[:6] == WIDE_HEAD
    assert set(FIELDS) <= set(head)  # "year" is one of the first six columns, not repeated
    assert len(rows) == 4
    by_unit = {r[0]: dict(zip(head, r, strict=True)) for r in rows[1:]}
    assert [r[0] for r in rows[1:]] == ["330599", "330599-002", "330599-003"]
    gov, drc, edu = by_unit["330599"], by_unit["330599-002"], by_unit["330599-003"]
    assert [gov[c] for c in WIDE_HEAD] == ["330599", "青溪区人民政府办公室", "2022", "valid",
                                           "collected", str(ledgered.submission["330599"])]
    assert (drc["unit_name"], drc["unit.name"], edu["unit_name"], edu["status"]) == (
        "'" + HYPERLINK, "'" + HYPERLINK, "'@SUM(1)", "invalid")
    assert [gov[f] for f in ("text.overview", "text.problems", "text.other", "note.t2")] == [
        "'@SUM(1)", "'+1", "'-1", "'=1+1"]
    assert [gov[f] for f in ("t2.regulations.issued", "t2.penalty", "t2.enforcement",
                             "t2.fees_wan_yuan", "t3.new.total")] == [
        "n/a", "", "0", "96171.6", "12"]
    assert edu["t4.review.upheld"] == "-1"
    numbers = {fid for fid, f in FORM.fields.items() if f.numeric or fid == "year"}
    risky = [(r[0], c, v) for r in rows[1:] for c, v in zip(head, r, strict=True)
             if looks_like_formula(v) and c not in numbers]
    assert risky == []


def test_wide_json_has_one_object_per_unit(ledgered: Ledgered) -> None:
    out = json.loads(export(ledgered, "--format", "json", "--wide"))
    assert out["columns"][:6] == WIDE_HEAD
    assert [r["unit_code"] for r in out["rows"]] == ["330599", "330599-002", "330599-003"]
    gov = out["rows"][0]
    assert (gov["t2.regulations.issued"], gov["t2.penalty"], gov["t2.enforcement"],
            gov["t2.fees_wan_yuan"], gov["text.overview"]) == ("n/a", None, 0, "96171.6",
                                                                "@SUM(1)")


def test_wide_columns_are_unique(ledgered: Ledgered) -> None:
    head = read_csv(export(ledgered, "--format", "csv", "--wide"))[0]
    assert len(head) == len(set(head))


def test_a_negative_amount_stays_a_number_in_csv(ledgered: Ledgered) -> None:
    rows = read_csv(export(ledgered, "--format", "csv"))
    edu = {r[3]: r for r in rows[1:] if r[0] == "330599-003"}
    assert (edu["t2.fees_wan_yuan"][5], edu["t2.fees_wan_yuan"][6]) == ("-1.5", "number")


# -- xlsx ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def xlsx(ledgered: Ledgered, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xlsx") / "台账.xlsx"
    result = run("export", "-w", ledgered.ws_dir, "--format", "xlsx", "-o", path)
    assert result.exit_code == 0, result.output
    assert f"已导出：{path}" in result.output
    return path


def load(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path)


def test_xlsx_holds_both_tables_with_no_formula_anywhere(xlsx: Path) -> None:
    wb = load(xlsx)
    assert wb.sheetnames == ["long", "wide"]
    long_, wide = wb["long"], wb["wide"]
    assert [c.value for c in long_[1]] == LONG_COLUMNS
    assert long_.max_row == 1 + 3 * len(FIELDS)
    assert wide.max_row == 1 + 3
    formulas = [(ws.title, c.coordinate) for ws in wb for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []
    # every text that starts like a formula is a string with the quote prefix set
    unquoted = [(ws.title, c.coordinate, c.value) for ws in wb for row in ws.iter_rows()
                for c in row if isinstance(c.value, str) and looks_like_formula(c.value)
                and not (c.data_type == "s" and c.quotePrefix)]
    assert unquoted == []


def test_xlsx_cells_keep_their_types(xlsx: Path, ledgered: Ledgered) -> None:
    ws = load(xlsx)["long"]
    cells = {(r[0].value, r[3].value): r for r in ws.iter_rows(min_row=2)}

    def value(code: str, fid: str) -> tuple[Any, str, bool]:
        c = cells[code, fid][5]
        return c.value, c.data_type, bool(c.quotePrefix)

    assert value("330599", "text.overview") == ("@SUM(1)", "s", True)
    assert value("330599", "text.problems") == ("+1", "s", True)
    assert value("330599", "text.other") == ("-1", "s", True)
    assert value("330599", "note.t2") == ("=1+1", "s", True)
    assert value("330599-002", "unit.name") == (HYPERLINK, "s", True)
    name = cells["330599-002", "unit.code"][1]
    assert (name.value, name.data_type, name.quotePrefix) == (HYPERLINK, "s", True)
    assert value("330599", "t2.licensing") == (120, "n", False)
    assert value("330599", "t2.fees_wan_yuan") == (96171.6, "n", False)
    assert value("330599", "t2.enforcement") == (0, "n", False)
    assert value("330599", "t2.regulations.issued") == ("/", "s", False)
    assert value("330599", "t2.penalty")[0] is None
    assert value("330599-003", "t4.review.upheld") == (-1, "n", False)
    assert value("330599-003", "t2.fees_wan_yuan") == (-1.5, "n", False)
    year = cells["330599", "year"]
    assert (year[2].value, year[9].value) == (2022, ledgered.submission["330599"])


@pytest.mark.libreoffice
def test_xlsx_formula_text_stays_text_in_libreoffice(xlsx: Path,
                                                      libreoffice: LibreOffice) -> None:
    ws = load(xlsx)["long"]
    rows = {(r[0].value, r[3].value): r[0].row for r in ws.iter_rows(min_row=2)}
    cells = [("long", f"F{rows['330599', 'text.overview']}"),
             ("long", f"F{rows['330599', 'note.t2']}"),
             ("long", f"B{rows['330599-002', 'unit.name']}"),
             ("long", f"F{rows['330599', 't2.licensing']}")]
    seen = libreoffice.read(xlsx, cells, recalc=True)
    assert [(v.type, v.string, v.formula) for v in seen.values()][:3] == [
        ("TEXT", "@SUM(1)", "@SUM(1)"), ("TEXT", "=1+1", "=1+1"),
        ("TEXT", HYPERLINK, HYPERLINK)]
    licensing = seen[cells[3]]
    assert (licensing.type, licensing.value) == ("VALUE", 120.0)


# -- options -----------------------------------------------------------------------------------

def test_year_filter_and_output_file(ledgered: Ledgered, tmp_path: Path) -> None:
    assert read_csv(export(ledgered, "--format", "csv", "--year", "2021")) == [LONG_COLUMNS]
    out = tmp_path / "long.csv"
    result = run("export", "-w", ledgered.ws_dir, "--format", "csv", "-o", out)
    assert result.exit_code == 0 and result.stdout == f"已导出：{out}\n"
    assert out.read_bytes() == export(ledgered, "--format", "csv")


@pytest.mark.parametrize(("args", "message"), [
    (("--format", "pdf"), "不支持的格式“pdf”，请用 csv、json 或 xlsx"),
    (("--format", "xlsx"), "导出 xlsx 时请用 -o 指定输出文件"),
])
def test_bad_options_exit_2(ledgered: Ledgered, args: tuple[str, ...], message: str) -> None:
    result = run("export", "-w", ledgered.ws_dir, *args)
    assert result.exit_code == 2
    assert message in result.output
