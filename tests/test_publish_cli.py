"""`nianbao report` (the annual report document of a unit's counting record, of the merged
totals, or of a returned file) and `nianbao import` (read a published report, say what breaks
the rules, store it as a unit's record of a past year)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from nianbao.cli import app
from nianbao.collect.intake import collect
from nianbao.collect.ledger import Ledger
from nianbao.merge.totals import merge
from nianbao.publish.importer import import_report
from nianbao.publish.record import Record
from nianbao.publish.report import render_report
from nianbao.read.normalise import from_json
from tests.collect_helpers import (
    LAYOUT,
    NAMES,
    RECEIVED,
    complete_values,
    issue,
    make_workspace,
    put,
)
from tests.test_merge import APPLICANTS, NUMERIC, OUTCOMES, with_totals

FORM = LAYOUT.form
TITLE = FORM.title   # 政府信息公开工作年度报告
DRC, EDU = "330599-002", "330599-003"
EARLIER = "2023-01-10T09:00:00+08:00"

V_DRC = complete_values(t2__fees_wan_yuan=Decimal("96171.6"), t2__licensing=38, t2__penalty=23,
                        t3__new__research=5, t3__granted__research=4,
                        t3__carry_forward__research=1, t4__suit_direct__other=3,
                        text__overview="第一段。\n第二段。")
V_DRC_LATER = complete_values(t3__new__natural_person=11, t2__licensing=555)  # errors
V_EDU = complete_values(t2__licensing=7, t2__fees_wan_yuan=Decimal("0.4"))


def run(*args: Any) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@dataclass
class Collected:
    root: Path
    ws_dir: Path
    returned: Path          # the valid file 330599-002 returned


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Collected:
    """330599-002: a valid return, then one with errors (the valid one still counts);
    330599-003: a valid return."""
    root = tmp_path_factory.mktemp("publish")
    ws, ledger = make_workspace(root / "ws")
    first = put(root / "first", "发改局.xlsx", issue(ws, DRC, V_DRC))
    edu = put(root / "first", "教育局.xlsx", issue(ws, EDU, V_EDU))
    later = put(root / "later", "发改局-更正.xlsx", issue(ws, DRC, V_DRC_LATER))
    with ledger:
        a = collect(ws, ledger, [first, edu], received_at=EARLIER, feedback=False)
        b = collect(ws, ledger, [later], received_at=RECEIVED, feedback=False)
    assert [i["status"] for i in a.items + b.items] == ["valid", "valid", "invalid"]
    return Collected(root, ws.root, first)


def ledger_values(collected: Collected, code: str) -> dict[str, Any]:
    """The figures of the unit's counting record (its latest valid submission) as stored."""
    with Ledger(collected.ws_dir / "ledger.sqlite") as ledger:
        row = [r for r in ledger.rows(unit_code=code, year=2022)
               if r.verdict.status == "valid"][-1]
    raw = row.verdict.record["values"]
    return {fid: from_json(raw.get(fid), FORM.fields[fid].kind) for fid in NUMERIC}


def figures_differ(found: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    return {fid: (found.get(fid), want.get(fid)) for fid in NUMERIC
            if found.get(fid) != want.get(fid)}


def report(*args: Any) -> Result:
    result = run("report", *args)
    assert result.exit_code == 0, result.output
    return result


# -- report --unit -------------------------------------------------------------------------------

def test_report_of_a_unit_in_markdown_prints_its_counting_record(
        collected: Collected, tmp_path: Path) -> None:
    out = tmp_path / "发改局.md"
    result = report("--unit", DRC, "-o", out, "-w", collected.ws_dir)
    assert f"已生成年度报告：{out}" in result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith(f"# 青溪区发展和改革局2022年{TITLE}\n")
    stored = ledger_values(collected, DRC)
    assert stored["t2.licensing"] == 38     # the valid return, not the later one (555)
    lines = set(text.splitlines())
    assert "| 规章 | 1 | 0 | 5 |" in lines
    assert "| 行政许可 | 38 |" in lines and "| 行政处罚 | 23 |" in lines
    assert "| 行政事业性收费 | 96171.6 |" in lines
    t3 = FORM.table("t3").blocks[0]
    for row in t3.rows:
        cells = [stored[f"t3.{row.id}.{col.id}"] for col in t3.columns]
        assert "| " + " / ".join(row.path) + " | " + " | ".join(map(str, cells)) + " |" in lines
    assert "| 一、本年新收政府信息公开申请数量 | 10 | 2 | 5 | 0 | 0 | 0 | 17 |" in lines
    t4 = [stored[f] for f in NUMERIC if f.startswith("t4.")]
    assert "| " + " | ".join(map(str, t4)) + " |" in lines
    assert t4 == [1, 0, 0, 1, 2, 0, 0, 3, 0, 3, 0, 0, 0, 0, 0]
    assert "第一段。" in lines and "第二段。" in lines


@pytest.mark.parametrize("suffix", [".docx", ".html"])
def test_report_of_a_unit_reads_back_with_the_ledgers_figures(
        collected: Collected, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"发改局{suffix}"
    report("--unit", DRC, "-o", out, "-w", collected.ws_dir)
    back = import_report(out.read_bytes(), out.name, FORM)
    assert back.fmt == suffix[1:]
    assert back.findings == []
    assert (back.identity["unit.name"], back.identity["year"]) == ("青溪区发展和改革局", 2022)
    assert figures_differ(back.values, ledger_values(collected, DRC)) == {}
    assert back.values["t2.fees_wan_yuan"] == Decimal("96171.6")
    assert back.values["text.overview"] == "第一段。\n第二段。"


def test_report_of_the_merged_totals(collected: Collected, tmp_path: Path) -> None:
    out = tmp_path / "汇总.html"
    report("--merged", "-o", out, "-w", collected.ws_dir)
    html = out.read_text(encoding="utf-8")
    assert f"<h1>青溪区人民政府办公室（汇总）2022年{TITLE}</h1>" in html
    back = import_report(out.read_bytes(), out.name, FORM)
    assert back.identity["year"] == 2022
    want = {fid: a + b for fid, a, b in ((fid, with_totals(V_DRC).get(fid, 0),
                                          with_totals(V_EDU).get(fid, 0)) for fid in NUMERIC)}
    assert figures_differ(back.values, want) == {}
    assert (back.values["t2.licensing"], back.values["t2.fees_wan_yuan"],
            back.values["t3.new.total"]) == (45, Decimal("96172.0"), 29)
    with Ledger(collected.ws_dir / "ledger.sqlite") as ledger:
        totals = merge(ledger, FORM, 2022, ledger.units()).totals
    assert figures_differ(back.values, totals) == {}
    # only the units under 330599-003: its own figures
    sub = tmp_path / "教育局汇总.md"
    report("--merged", "--under", EDU, "-o", sub, "-w", collected.ws_dir)
    text = sub.read_text(encoding="utf-8")
    assert text.startswith(f"# 青溪区教育局（汇总）2022年{TITLE}\n")
    assert "| 行政许可 | 7 |" in text.splitlines()


def test_report_of_a_returned_file_needs_no_workspace(
        collected: Collected, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    out = tmp_path / "从文件.docx"
    report("--file", collected.returned, "-o", out)
    assert list(empty.iterdir()) == []
    back = import_report(out.read_bytes(), out.name, FORM)
    assert (back.identity["unit.name"], back.identity["year"], back.findings) == (
        "青溪区发展和改革局", 2022, [])
    assert figures_differ(back.values, with_totals(V_DRC)) == {}


@pytest.mark.parametrize(("args", "message"), [
    (("--unit", DRC, "-o", "x.pdf"), "输出文件的扩展名应为 .docx、.md 或 .html"),
    (("--unit", DRC, "-o", "x"), "输出文件的扩展名应为 .docx、.md 或 .html"),
    (("-o", "x.md"), "请指定 --unit、--merged 或 --file 之一"),
    (("--unit", DRC, "--merged", "-o", "x.md"), "请指定 --unit、--merged 或 --file 之一"),
    (("--unit", "330599-999", "-o", "x.md"), "台账中没有单位“330599-999”2022 年度的数据"),
    (("--unit", DRC, "--year", "2021", "-o", "x.md"), "台账中没有单位“330599-002”2021 年度的数据"),
])
def test_report_usage_errors_exit_2(collected: Collected, tmp_path: Path,
                                    args: tuple[str, ...], message: str) -> None:
    args = tuple(str(tmp_path / a) if a.startswith("x") else a for a in args)
    result = run("report", *args, "-w", collected.ws_dir)
    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_report_of_an_unreadable_file_exits_2(tmp_path: Path) -> None:
    bad = put(tmp_path, "坏.xlsx", b"PK\x03\x04 not really a workbook")
    result = run("report", "--file", bad, "-o", tmp_path / "x.md")
    assert result.exit_code == 2
    assert f"{bad} 无法读取" in result.output
    assert not (tmp_path / "x.md").exists()


def test_report_outside_a_workspace_exits_2(tmp_path: Path) -> None:
    result = run("report", "--unit", DRC, "-o", tmp_path / "x.md", "-w", tmp_path)
    assert result.exit_code == 2
    assert "不是收集工作区" in result.output


# -- import ------------------------------------------------------------------------------------

def published(values: dict[str, Any], name: str = "青溪区发展和改革局", year: int = 2022,
              fmt: str = "docx") -> bytes:
    return render_report(FORM, Record({"unit.name": name, "year": year}, values), fmt)


def r7_broken() -> dict[str, Any]:
    """行政复议: 维持 10, 纠正 1, 其他 0, 未审结 0, 总计 0."""
    values = with_totals(complete_values())
    values.update({"t4.review.upheld": 10, "t4.review.corrected": 1, "t4.review.other": 0,
                   "t4.review.pending": 0, "t4.review.total": 0})
    return values


def import_json(*args: Any) -> tuple[int, dict[str, Any]]:
    result = run("import", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def test_import_prints_the_record_and_exits_0_for_a_balanced_report(tmp_path: Path) -> None:
    path = put(tmp_path, "报告.docx", published(with_totals(V_DRC)))
    code, out = import_json(path)
    assert code == 0
    (f,) = out["files"]
    assert (f["file"], f["format"], f["identity"], f["findings"]) == (
        str(path), "docx", {"unit.name": "青溪区发展和改革局", "unit.code": None, "year": 2022},
        [])
    want = with_totals(V_DRC)
    assert {fid: f["values"][fid] for fid in NUMERIC} == {
        fid: (format(want[fid], "f") if isinstance(want[fid], Decimal) else want[fid])
        for fid in NUMERIC}
    assert f["values"]["t2.fees_wan_yuan"] == "96171.6"


@pytest.mark.parametrize("fmt", ["docx", "html"])
def test_import_of_a_report_that_breaks_r7_exits_1(tmp_path: Path, fmt: str) -> None:
    path = put(tmp_path, f"报告.{fmt}", published(r7_broken(), fmt=fmt))
    code, out = import_json(path)
    assert code == 1
    (f,) = out["files"]
    assert [f["values"][f"t4.review.{p}"] for p in ("upheld", "corrected", "other", "pending",
                                                     "total")] == [10, 1, 0, 0, 0]
    assert [(x["code"], x["severity"], x["rule"], x["sheet"], x["cell"], x["field"],
             x["values"]["lhs"], x["values"]["rhs"], x["values"]["diff"])
            for x in f["findings"]] == [
        ("UNBALANCED", "error", "R7", "四、政府信息公开行政复议、行政诉讼情况", "行政复议 / 总计",
         "t4.review.total", 0, 11, -11)]
    assert f["findings"][0]["file"] == path.name


def test_import_of_garbage_exits_2(tmp_path: Path) -> None:
    path = put(tmp_path, "乱码.docx", bytes(range(256)) * 8)
    code, out = import_json(path)
    assert code == 2
    (f,) = out["files"]
    assert [(x["code"], x["severity"]) for x in f["findings"]] == [("IMPORT_UNREADABLE", "fatal")]
    assert f["values"] == {}


def test_import_of_several_files_exits_with_the_worst(tmp_path: Path) -> None:
    good = put(tmp_path, "好.docx", published(with_totals(V_DRC)))
    bad = put(tmp_path, "坏.html", published(r7_broken(), fmt="html"))
    garbage = put(tmp_path, "乱.docx", b"\x00\x01\x02" * 100)
    assert import_json(good, bad)[0] == 1
    code, out = import_json(good, bad, garbage)
    assert code == 2
    assert [f["file"] for f in out["files"]] == [str(good), str(bad), str(garbage)]
    assert run("import", tmp_path / "没有这个文件.docx").exit_code == 2


# -- import --store ------------------------------------------------------------------------------

def test_import_store_keeps_a_published_record_that_export_lists_as_imported(
        tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    ledger.close()
    data = published(with_totals(V_EDU), name=NAMES[EDU], year=2021)
    path = put(tmp_path, "教育局2021年报.docx", data)
    result = run("import", path, "--store", "--unit", EDU, "--year", "2021", "-w", ws.root)
    assert result.exit_code == 0, result.output
    assert "已存入台账 1 份（重复 0 份）。" in result.output
    with Ledger(ws.ledger_path) as ledger:
        (row,) = ledger.rows()
        stored = (ws.store_dir / row.stored).read_bytes()
    assert (row.kind, row.file_name, row.verdict.status, row.verdict.unit_code,
            row.verdict.year, row.verdict.form_id, row.verdict.errors) == (
        "published", path.name, "valid", EDU, 2021, FORM.id, 0)
    assert stored == data
    assert row.verdict.record["identity"] == {"unit.name": NAMES[EDU], "unit.code": EDU,
                                              "year": 2021}
    out = json.loads(run("export", "-w", ws.root, "--format", "json").stdout)
    mine = [r for r in out["rows"] if r["field"] in ("t2.licensing", "t2.fees_wan_yuan")]
    assert mine == [
        {"unit_code": EDU, "unit_name": NAMES[EDU], "year": 2021, "field": fid,
         "label": FORM.fields[fid].label, "value": value, "value_state": "number",
         "status": "valid", "source": "imported", "submission": row.id}
        for fid, value in (("t2.licensing", 7), ("t2.fees_wan_yuan", "0.4"))]
    assert len(out["rows"]) == len(FORM.fields)
    # the same bytes again: a duplicate, nothing new stored
    again = run("import", path, "--store", "--unit", EDU, "--year", "2021", "-w", ws.root)
    assert again.exit_code == 0 and "已存入台账 0 份（重复 1 份）。" in again.output


def test_import_store_finds_the_unit_and_year_from_the_title(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    ledger.close()
    path = put(tmp_path, "r.html", published(r7_broken(), name=NAMES[DRC], year=2021,
                                             fmt="html"))
    result = run("import", path, "--store", "-w", ws.root)
    assert result.exit_code == 1           # stored, and it breaks R7
    with Ledger(ws.ledger_path) as ledger:
        (row,) = ledger.rows()
    assert (row.kind, row.verdict.status, row.verdict.unit_code, row.verdict.year,
            row.verdict.errors) == ("published", "invalid", DRC, 2021, 1)
    assert [f["rule"] for f in row.verdict.findings] == ["R7"]


@pytest.mark.parametrize(("data", "args", "message"), [
    (published(with_totals(V_EDU), name="某某局", year=2021), (),
     "请用 --unit 指定名单中的单位代码（未能从标题识别单位）"),
    (published(with_totals(V_EDU), year=2021), ("--unit", "330599-999"),
     "请用 --unit 指定名单中的单位代码"),
    (b"\x00garbage" * 50, ("--unit", EDU, "--year", "2021"), "无法读取，未存入台账"),
], ids=["unknown-name", "unknown-code", "garbage"])
def test_import_store_refuses_what_it_cannot_attribute(
        tmp_path: Path, data: bytes, args: tuple[str, ...], message: str) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    ledger.close()
    path = put(tmp_path, "r.docx", data)
    result = run("import", path, "--store", *args, "-w", ws.root)
    assert result.exit_code == 2
    assert message in result.output
    with Ledger(ws.ledger_path) as ledger:
        assert list(ledger.rows()) == []


def test_import_store_json_prints_only_json(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    ledger.close()
    path = put(tmp_path, "r.docx", published(with_totals(V_EDU), name=NAMES[EDU], year=2021))
    result = run("import", path, "--store", "--unit", EDU, "--json", "-w", ws.root)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["files"][0]["identity"]["year"] == 2021


def test_import_store_finds_a_unit_whose_name_has_full_width_brackets(tmp_path: Path) -> None:
    name = "青溪区委办公室（区政府办公室）"
    roster = f"单位代码,单位名称,上级单位代码\n330599,{name},\n"
    ws, ledger = make_workspace(tmp_path / "ws", roster)
    ledger.close()
    path = put(tmp_path, "r.docx", published(with_totals(V_EDU), name=name, year=2021))
    result = run("import", path, "--store", "-w", ws.root)
    assert result.exit_code == 0, result.output
    with Ledger(ws.ledger_path) as ledger:
        (row,) = ledger.rows()
    assert (row.verdict.unit_code, row.verdict.record["identity"]["unit.name"]) == (
        "330599", name)


def test_fixture_values_are_what_the_markdown_check_assumes() -> None:
    assert len(APPLICANTS) == 6 and len(OUTCOMES) == 21
    assert with_totals(V_DRC)["t3.new.total"] == 17
