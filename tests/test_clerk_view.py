"""What the clerk and the filler see (issue 16): one slip is one error, warnings grouped by
cause, rule messages in labels, no green where work remains, outputs set up to print, the
cover's 填报人 block, and returns of the 1.0.0 template read exactly."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest

from nianbao.check import check_bytes, check_file
from nianbao.collect.intake import collect
from nianbao.collect.ledger import Ledger
from nianbao.collect.workspace import open_workspace
from nianbao.merge.totals import merge
from nianbao.merge.workbook import merged_workbook
from nianbao.publish.prose_source import split_sections
from nianbao.publish.record import Record
from nianbao.publish.report import render_report
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import layout_for
from nianbao.spec.load import load_form, load_older_form
from nianbao.validate.digest import digest
from nianbao.validate.rules import check_rules, unbalanced
from nianbao.validate.wording import rule_message
from tests.collect_helpers import LAYOUT, complete_values

ROOT = Path(__file__).resolve().parents[1]
RETURNS = ROOT / "samples" / "returns"
FORM = load_form()


def counted(name: str) -> tuple[int, int, int, int]:
    """(mistakes, consequences, groups of warnings, warned cells) of a sample return."""
    d = digest(check_file(RETURNS / name).findings, FORM)
    return len(d.errors), d.consequences, len(d.warnings), d.warning_cells


# -- one slip, one error; warnings by cause ------------------------------------------------

@pytest.mark.parametrize(("name", "counts"), [
    ("区卫生健康局-2022.xlsx", (1, 1, 0, 0)),      # 自然人 wrong: 总计's R1 follows
    ("区农业农村局-2022.xlsx", (1, 2, 0, 0)),      # a formula overwritten: R5, R1 follow
    ("区发展和改革局-2022.xlsx", (1, 169, 0, 0)),  # a blank form: one error, nothing more
    ("区审计局-2022.xlsx", (0, 0, 1, 166)),        # numbers stored as text: one group
    ("区民政局-2022.xlsx", (1, 0, 1, 1)),
    ("区司法局-2022.xlsx", (1, 0, 0, 0)),
])
def test_demo_returns_count_mistakes_not_consequences(name: str, counts: tuple) -> None:
    assert counted(name) == counts


def test_consequences_are_linked_to_their_cause_in_json() -> None:
    findings = check_file(RETURNS / "区农业农村局-2022.xlsx").to_dict()["findings"]
    cause = next(f for f in findings if f["code"] == "FORMULA_CHANGED")
    ref = {"code": "FORMULA_CHANGED", "rule": None, "sheet": "依申请公开", "cell": "J7",
           "field": "t3.new.total"}
    followers = [f for f in findings if f["values"].get("caused_by") == ref]
    assert sorted(f["values"]["instance"] for f in followers) == ["R1:total", "R5:new"]
    assert len(cause["values"]["consequences"]) == 2
    assert cause["message"].endswith(
        "「总计」列（R1）、「一、本年新收政府信息公开申请数量」行（R5）随之不平衡")


def test_warnings_grouped_by_cause_and_block() -> None:
    d = digest(check_file(RETURNS / "区审计局-2022.xlsx").findings, FORM)
    assert [g.message for g in d.warnings] == [
        "数字以文本形式存储（共 166 格），已按数字读取，请确认"]
    assert d.counts_text() == "错误 0 处，提醒 1 类（共 166 格）"
    blanks = complete_values(**{f"t3__granted__{c}": None for c in ("business", "research")},
                             t2__fees_wan_yuan=None)
    data = render(LAYOUT, RenderOptions(values=blanks))
    d = digest(check_bytes(data, "x.xlsx").findings, FORM)
    assert [g.message for g in d.warnings] == [
        "主动公开!B17（第二十条第（八）项 / 行政事业性收费 / 本年收费金额（单位：万元））未填写，"
        "已按 0 参与校验；没有发生的请填 0",
        "表三有 2 格空白，已按 0 计；如确为 0 请填 0 或在说明中注明"]


# -- rules in the filler's words -------------------------------------------------------------

def messages(values: dict, previous: dict | None = None) -> dict[str, str]:
    found = check_rules(FORM, values, previous=previous)
    return {f.values["instance"]: rule_message(f, FORM) for f in found}


def test_rule_messages_name_rows_and_columns_by_their_labels() -> None:
    values = complete_values(t3__new__natural_person=11)
    assert messages(values)["R1:natural_person"] == (
        "一、本年新收 + 二、上年结转（自然人：13）≠（七）总计 + 四、结转下年度（自然人：12），"
        "差 1 [D7+D8, D30+D31]")
    values = {**complete_values(), "t3.new.total": 99}  # a total typed over: R5 by row
    assert messages(values)["R5:new"] == (
        "总计（一、本年新收：99）≠ 自然人 至 法人或其他组织 其他 之和（一、本年新收：12），差 87 "
        "[J7, D7:I7]")
    inst = next(i for i in FORM.instances if i.id == "R7:review")  # 四: one row, by columns
    assert rule_message(unbalanced(FORM, inst, 2, 0, None), FORM) == (
        "总计（行政复议：2）≠ 结果维持 + 结果纠正 + 其他结果 + 尚未审结（行政复议：0），差 2 "
        "[E7, A7:D7]")
    previous = {**complete_values(), "t2.regulations.in_force": 3}  # cross-year, a minus
    assert messages(complete_values(), previous)["X2:regulations"] == (
        "现行有效件数（规章：5）≠ 上年 现行有效件数 + 本年制发件数 - 本年废止件数（规章：4），"
        "差 1 [D6, B6-C6+上年 D6]")


# -- nothing green that is not done --------------------------------------------------------------

def cover_status(values: dict) -> tuple[str, list[tuple[str, str]]]:
    """The cover verdict's cached text and its conditional colours (formula, fill)."""
    data = render(LAYOUT, RenderOptions(values=values))
    wb = openpyxl.load_workbook(io.BytesIO(data))
    area = LAYOUT.status.area
    ws = wb[area.sheet]
    cached = openpyxl.load_workbook(io.BytesIO(data), data_only=True)[area.sheet][area.a1].value
    rules = [(rule.formula[0], rule.dxf.fill.bgColor.rgb)
             for cf in ws.conditional_formatting if area.a1 in str(cf.sqref)
             for rule in cf.rules]
    return cached, rules


def colour(text: str, rules: list[tuple[str, str]]) -> str:
    """The colour the spreadsheet shows for `text`: the rule whose formula holds (the three
    formulas read as what they test: the verdict ends 校验通过; only blanks remain; else)."""
    done = text[-4:] == "校验通过"
    blanks = not done and "未填写" in text and "标红" not in text
    shown = []
    for formula, fill in rules:
        if formula.startswith("RIGHT("):
            holds = done
        elif "NOT(AND(" in formula:
            holds = not done and not blanks
        else:
            assert 'SEARCH("未填写"' in formula
            holds = blanks
        if holds:
            shown.append({"FFC6EFCE": "green", "FFF8CBAD": "amber", "FFFFC7CE": "red"}[fill])
    assert len(shown) == 1, (text, rules)
    return shown[0]


@pytest.mark.parametrize(("values", "text", "shown"), [
    ({}, "尚有 166 个单元格未填写（没有的请填 0）", "amber"),                 # blank template
    ({**complete_values(), "t2.penalty": None}, "尚有 1 个单元格未填写（没有的请填 0）",
     "amber"),                                                              # partial
    (complete_values(), "校验通过", "green"),                               # complete
    (complete_values(t3__new__natural_person=11), "有 2 处不平衡，请查看标红单元格", "red"),
])
def test_cover_is_green_only_when_complete_and_balanced(values, text, shown) -> None:
    cached, rules = cover_status(values)
    assert cached == text
    assert len(rules) == 3 and colour(cached, rules) == shown


@pytest.fixture
def demo(tmp_path: Path):
    """The demo workspace with the sample returns collected."""
    root = tmp_path / "ws"
    shutil.copytree(ROOT / "samples" / "workspace", root)
    ws = open_workspace(root)
    from nianbao.collect.roster import load_roster

    ledger = Ledger(ws.ledger_path)
    ledger.sync_units(load_roster(ws.roster_path))
    report = collect(ws, ledger, [RETURNS], received_at="2023-01-15T10:00:00+08:00", jobs=1)
    yield ws, ledger, {Path(it["path"]).name: it for it in report.items}
    ledger.close()


def test_feedback_agrees_with_its_cover_and_says_what_it_repaired(demo) -> None:
    _, _, items = demo
    wb = openpyxl.load_workbook(items["区农业农村局-2022.xlsx"]["feedback"])
    sheet = wb["问题清单"]
    assert "本反馈表已按模板恢复 1 处被改动的表格文字或公式（依申请公开!J7）" in sheet["A2"].value
    assert [(c.value) for c in sheet[5]][1:3] == ["已恢复", "依申请公开!J7"]
    assert sheet.max_row == 5  # the two checks that followed are said on it, not listed
    for name, left in (("封面", "青溪区农业农村局"), ("依申请公开", "&F")):  # unit, year
        assert (wb[name].oddHeader.left.text, wb[name].oddHeader.right.text) == (
            left, "2022 年度")
    cover = openpyxl.load_workbook(items["区农业农村局-2022.xlsx"]["feedback"], data_only=True)
    assert cover["封面"][LAYOUT.status.area.a1].value == "校验通过"  # 问题清单: repaired
    # a unit that passed with warnings is not asked to send the file again
    wb = openpyxl.load_workbook(items["区审计局-2022.xlsx"]["feedback"])
    summary = wb["问题清单"]["A2"].value
    assert "审核结果：通过" in summary and "无需重新报送" in summary
    assert "修改标红" not in summary
    assert wb["问题清单"].max_row == 5  # one row: the group of 166 cells
    cell = wb["依申请公开"][LAYOUT.places["t3.granted.natural_person"].a1]
    assert cell.fill.fgColor.rgb == "FFF8CBAD"  # a warning is orange, not red
    receipt = Path(items["区审计局-2022.xlsx"]["receipt"]).read_bytes().decode("utf-8-sig")
    assert "错误 0 处，提醒 1 类（共 166 格）\r\n无需重新报送。" in receipt


# -- print as the official form prints -------------------------------------------------------------

def test_page_setup_of_every_sheet_of_an_issued_template() -> None:
    identity = {"unit.code": "330599-003", "unit.name": "青溪区教育局", "year": 2022}
    wb = openpyxl.load_workbook(io.BytesIO(render(LAYOUT, RenderOptions(
        identity=identity, lock_identity=True))))
    for spec in LAYOUT.sheets:
        ws = wb[spec.name]
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True, spec.name
        assert ws.page_setup.fitToWidth in (None, 1), spec.name
        one_page = spec.role in ("table", "cover")
        # (1 is the default height: not written; 0 = as many pages as it takes)
        assert (ws.page_setup.fitToHeight in (None, 1)) is one_page, spec.name
        # the cover names the unit; the other sheets print the file name (issued as
        # 「单位-年度…」), the same bytes in every unit's copy (the reader remembers them)
        cover = spec.role == "cover"
        assert ws.oddHeader.left.text == ("青溪区教育局" if cover else "&F"), spec.name
        assert ws.oddHeader.right.text == "2022 年度", spec.name
    assert wb["依申请公开"].page_setup.orientation == "landscape"


def test_merged_workbook_has_its_own_cover_and_prints(demo) -> None:
    ws, ledger, _ = demo
    result = merge(ledger, FORM, 2022, ledger.units(), office=ws.config.office)
    data = merged_workbook(result, office=ws.config.office, office_code="330599",
                           as_of="2023-01-31 10:00")
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert "填报说明" not in wb.sheetnames
    cover = wb["封面"]
    texts = [c.value for row in cover.iter_rows() for c in row if isinstance(c.value, str)]
    note = next(t for t in texts if t.startswith("汇总单位："))
    assert note.startswith("汇总单位：青溪区人民政府办公室（代码 330599）。汇总：纳入 7 / 17 个单位"
                           "（截至 2023-01-31 10:00）。未纳入 10 个（")
    assert cover[LAYOUT.places["unit.code"].a1].value == "330599"
    for name, header_row in (("汇总来源", "$3:$3"), ("明细", "$1:$1")):
        sheet = wb[name]
        assert sheet.page_setup.orientation == "landscape", name
        assert sheet.sheet_properties.pageSetUpPr.fitToPage is True, name
        assert sheet.print_title_rows == header_row, name


def test_docx_rows_do_not_split_and_headers_repeat() -> None:
    figures = {k: v for k, v in complete_values().items() if not k.startswith("text.")}
    record = Record({"unit.name": "青溪区人民政府", "year": 2022}, figures, placeholders=True)
    data = render_report(FORM, record, "docx")
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode()
    rows = xml.count("<w:tr>") + xml.count("<w:tr ")
    assert rows > 40 and xml.count("<w:cantSplit/>") == rows
    tables = re.findall(r"<w:tbl>.*?</w:tbl>", xml, re.S)
    assert len(tables) == 3
    for table in tables:  # the header rows at the top of each table repeat
        first = re.findall(r"<w:tr[ >].*?</w:tr>", table, re.S)
        assert "<w:tblHeader/>" in first[0]
    heads = ["二、主动公开政府信息情况", "三、收到和处理政府信息公开申请情况",
             "四、政府信息公开行政复议、行政诉讼情况"]
    for head in heads:  # each heading kept with its table
        para = re.search(r"<w:p>(?:(?!<w:p>).)*?" + re.escape(head), xml, re.S)
        assert para and "<w:keepNext/>" in para.group(0), head
    assert "【待补充：一、总体情况】" in xml  # sections the office has not supplied


def test_sections_from_a_supplied_text() -> None:
    text = ("# 青溪区2022年政府信息公开工作年度报告\n\n一、总体情况\n本区坚持……\n第二段。\n"
            "二、主动公开政府信息情况\n（表格）\n五、存在的主要问题及改进情况\n问题一。\n"
            "六、其他需要报告的事项\n本年度未收取信息处理费。\n")
    assert split_sections(text, FORM) == {
        "text.overview": "# 青溪区2022年政府信息公开工作年度报告\n本区坚持……\n第二段。",
        "text.problems": "问题一。", "text.other": "本年度未收取信息处理费。"}


# -- the cover asks who filled it; 1.0.0 returns read exactly ------------------------------------

def test_cover_contacts_read_back_and_1_0_0_returns_read_exactly() -> None:
    values = {**complete_values(), "contact.filler": "李明", "contact.phone": "0572-1000003",
              "contact.reviewer": "王主任", "contact.date": "2023-01-10"}
    identity = {"unit.code": "330599-003", "unit.name": "青溪区教育局", "year": 2022}
    result = check_bytes(render(LAYOUT, RenderOptions(values=values, identity=identity)),
                         "new.xlsx")
    assert result.status == "valid", result.findings
    assert {k: result.values[k] for k in values if k.startswith("contact.")} == {
        k: v for k, v in values.items() if k.startswith("contact.")}
    older = load_older_form(FORM.id, "1.0.0")
    assert older is not None and layout_for(older).fingerprint == "fc7622c6fb4abbff"
    old = render(layout_for(older), RenderOptions(values=complete_values(), identity=identity))
    result = check_bytes(old, "old.xlsx")
    assert [(f.code, f.severity.value) for f in result.findings] == [
        ("FORM_VERSION_OLDER", "info")]
    assert result.status == "valid"
    new = check_bytes(render(LAYOUT, RenderOptions(values=complete_values(), identity=identity)),
                      "new.xlsx")
    assert result.values == {k: v for k, v in new.values.items()
                             if not k.startswith("contact.")}
    assert result.identity == new.identity == identity
    assert load_older_form(FORM.id, "../x") is None and load_older_form(FORM.id, "0.1.0") is None


# -- the terminal at 80 columns ------------------------------------------------------------------

def test_collect_and_status_fit_80_columns(tmp_path: Path) -> None:
    from rich.cells import cell_len
    from typer.testing import CliRunner

    from nianbao.cli import app

    root = tmp_path / "ws"
    shutil.copytree(ROOT / "samples" / "workspace", root)
    env = {"COLUMNS": "80"}
    args = ["collect", "-w", str(root), str(RETURNS), "--received-at", "2023-01-15T10:00",
            "-j", "1"]
    first = CliRunner().invoke(app, args, env=env)
    lines = first.stdout.splitlines()
    assert lines[-1] == str(root / "feedback")  # a path is never cut: on its own line
    assert max(cell_len(line) for line in lines[:-1]) <= 80
    at = lines.index(next(line for line in lines if "区农业农村局-2022.xlsx" in line))
    assert lines[at].startswith("有错误") and lines[at + 1] == \
        "    330599-016；错误 1 处；公式被改写（依申请公开!J7）"  # 说明: the first problem
    again = CliRunner().invoke(app, args, env=env).stdout  # every file a duplicate: one line
    assert "重复（已收过的同一文件）14 个，不重复入账。" in again
    assert ".xlsx" not in again
    status = CliRunner().invoke(app, ["status", "-w", str(root), "--as-of", "2023-01-31"],
                                env=env).stdout.splitlines()
    assert max(cell_len(line) for line in status) <= 80
    units = [i for i, line in enumerate(status) if re.search(r"（330599(-\d+)?）$", line)]
    assert len(units) == 17 and all(not status[i + 1].startswith(("通过", "有错误", "未"))
                                    for i in units)
    audit = next(i for i in units if "审计局" in status[i])
    assert status[audit + 1].startswith("    按时；提醒 1 类（166 格，未说明 1 类）；韩冰 0572-")
