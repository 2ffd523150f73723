"""What goes back to the filler: the feedback workbook (问题清单 with links, marked and commented
cells, the filler's own values, signed again for the unit), its round trip through a real
spreadsheet program, the receipt of every submission, and explanations of warnings."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from nianbao.collect.intake import collect
from nianbao.collect.judging import CHINA
from nianbao.collect.signing import verify
from nianbao.collect.status import unit_status
from nianbao.collect.workspace import CONFIG_NAME, Workspace, config_text, open_workspace
from nianbao.testing.libreoffice import LibreOffice
from tests.collect_helpers import (
    LAYOUT,
    RECEIVED,
    complete_values,
    issue,
    lo_fill,
    make_workspace,
    put,
    rows,
    sha,
)

MARKED = "FFFFC7CE"
INPUT = "FFFFF2CC"
R8_TEXT = "件数应填写不小于 0 的整数，收费金额应填写不小于 0 的数（单位：万元），没有发生的填 0"
R1_TEXT = "第一项加第二项之和，应等于第三项（七）总计加第四项之和"

# R1 broken in the natural-person column (and so in the total column), text in a count,
# a negative count
WRONG = complete_values(t3__new__natural_person=11, t2__penalty="十二", t2__licensing=-3)
ISSUES = [  # (级别, 位置, 规则, 问题, 填写的值) of 问题清单, in order
    ("错误", "主动公开!B10", f"R8 {R8_TEXT}",
     f"主动公开!B10（第二十条第（五）项 / 行政许可 / 本年处理决定数量）填写为 -3，"
     f"不能为负数；{R8_TEXT}",
     "-3"),
    ("错误", "主动公开!B13", f"R8 {R8_TEXT}",
     f"主动公开!B13（第二十条第（六）项 / 行政处罚 / 本年处理决定数量）填写为「十二」，不是数字；"
     f"{R8_TEXT}", "十二"),
    ("错误", "依申请公开!D7", f"R1 {R1_TEXT}",
     "依申请公开!D7：一、本年新收 + 二、上年结转（自然人：13）≠（七）总计 + 四、结转下年度"
     f"（自然人：12），差 1 [D7+D8, D30+D31]（{R1_TEXT}）；「总计」列（R1）随之不平衡", ""),
]


@pytest.fixture
def wsl(tmp_path: Path):
    ws, ledger = make_workspace(tmp_path / "ws")
    yield ws, ledger
    ledger.close()


@pytest.fixture
def wrong(wsl, tmp_path: Path):
    """An invalid submission of 青溪区教育局 and its collect report item."""
    ws, ledger = wsl
    data = issue(ws, "330599-003", WRONG)
    report = collect(ws, ledger, [put(tmp_path / "inbox", "教育局年报.xlsx", data)],
                     received_at=RECEIVED)
    (item,) = report.items
    # one slip in 自然人 is one error: the 总计 column's R1 follows from it
    assert (item["status"], item["errors"], item["warnings"]) == ("invalid", 3, 0)
    return ws, ledger, item, data


def test_feedback_workbook_lists_every_finding_with_a_link(wrong) -> None:
    ws, _, item, data = wrong
    folder = ws.feedback_dir / "330599-003-青溪区教育局"
    assert item["feedback"] == str(folder / f"青溪区教育局-反馈-{sha(data)[:8]}.xlsx")
    assert item["receipt"] == str(folder / f"青溪区教育局-回执-{sha(data)[:8]}.txt")
    wb = openpyxl.load_workbook(item["feedback"])
    assert wb.sheetnames == ["问题清单", "封面", "主动公开", "依申请公开", "复议诉讼", "文字部分",
                             "填报说明", "_meta"]
    sheet = wb["问题清单"]
    assert sheet["A1"].value == "数据审核问题清单"
    assert sheet["A2"].value == (
        "文件：教育局年报.xlsx；审核结果：未通过；错误 3 处，提醒 0 处。请修改标红的单元格"
        "（鼠标停在单元格上可看批注），封面“校验结果”显示“校验通过”后保存为 .xlsx 重新报送。")
    assert [c.value for c in sheet[4]] == ["序号", "级别", "位置", "规则", "问题", "填写的值"]
    listed = [tuple(c.value for c in row) for row in sheet.iter_rows(min_row=5)]
    assert listed == [(i, *issue_row) for i, issue_row in enumerate(ISSUES, start=1)]
    for row, (_, where, *_rest) in enumerate(ISSUES, start=5):
        link = sheet.cell(row, 3).hyperlink
        target_sheet, cell = where.split("!")
        assert (link.location, link.target) == (f"'{target_sheet}'!{cell}", None)


def test_feedback_marks_the_cells_and_keeps_the_fillers_values(wrong) -> None:
    _, _, item, _ = wrong
    wb = openpyxl.load_workbook(item["feedback"])
    t2, t3 = wb["主动公开"], wb["依申请公开"]
    # the filler's values, wrong ones included
    assert (t2["B10"].value, t2["B13"].value, t3["D7"].value) == (-3, "十二", 11)
    for fid, value in WRONG.items():
        place = LAYOUT.places[fid]
        if fid not in ("t2.licensing", "t2.penalty", "t3.new.natural_person"):
            assert wb[place.sheet][place.a1].value == (value if value != "" else None), fid
    # commented and marked: the inputs with a finding; a rule's finding tints every input
    # of its equation (D7+D8 = D30+D31, D30 a total)
    r1 = "（自然人：13）≠（七）总计 + 四、结转下年度（自然人：12），差 1 [D7+D8, D30+D31]"
    for cell, text in ((t2["B10"], "填写为 -3，不能为负数"),
                       (t2["B13"], "填写为「十二」，不是数字"),
                       (t3["D7"], r1), (t3["D8"], r1), (t3["D31"], r1)):
        assert text in cell.comment.text, cell.coordinate
        assert not cell.comment.text.startswith(cell.parent.title)  # no location prefix
        assert cell.fill.fgColor.rgb == MARKED, cell.coordinate
        assert cell.protection.locked is False
    # the total in it is a formula: commented, still locked
    assert r1 in t3["D30"].comment.text
    assert t3["D30"].value.startswith("=SUM(") and t3["D30"].protection.locked is True
    # the 总计 column follows from it: said on D7, not marked on its own
    assert t3["J7"].comment is None
    # cells without a finding: neither marked nor commented
    for cell in (t2["B6"], t3["D9"], t3["E7"]):
        assert cell.comment is None and cell.fill.fgColor.rgb == INPUT, cell.coordinate
    commented = sorted((ws.title, c.coordinate) for ws in wb.worksheets for row in ws.iter_rows()
                       for c in row if c.comment is not None)
    assert commented == [("主动公开", "B10"), ("主动公开", "B13"), ("依申请公开", "D30"),
                         ("依申请公开", "D31"), ("依申请公开", "D7"), ("依申请公开", "D8")]


def test_feedback_is_signed_for_the_same_unit(wrong) -> None:
    ws, ledger, item, _ = wrong
    wb = openpyxl.load_workbook(item["feedback"])
    meta = {k: "" if v is None else str(v) for k, v in wb["_meta"].iter_rows(values_only=True)}
    assert verify(ws.key, meta) == "ok"
    assert (meta["unit_code"], meta["unit_name"], meta["year"]) == (
        "330599-003", "青溪区教育局", "2022")
    cover = wb["封面"]
    assert [cover[a].value for a in ("B4", "B5", "B6")] == ["青溪区教育局", "330599-003", 2022]
    assert all(cover[a].protection.locked for a in ("B4", "B5", "B6"))
    # sent back unchanged, it is judged as the original was
    # (from the unit's mail: the workspace's own feedback folder is never collected)
    back = put(ws.root / "inbox", "教育局-反馈表.xlsx", Path(item["feedback"]).read_bytes())
    report = collect(ws, ledger, [back], received_at="2023-01-16T10:00:00+08:00")
    assert (report.outcomes, report.statuses) == ({"stored": 1}, {"invalid": 1})
    (orig, again) = ledger.rows()
    assert again.verdict.unit_code == "330599-003" and again.verdict.signature == "ok"
    assert [(f["code"], f["cell"]) for f in again.verdict.findings] == [
        (f["code"], f["cell"]) for f in orig.verdict.findings]


def test_no_feedback_without_findings_or_for_refused_files(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    clean = put(tmp_path, "clean.xlsx", issue(ws, "330599-002"))
    refused = put(tmp_path, "2021.xlsx", issue(ws, "330599-007", year=2021))
    refused_with_errors = put(tmp_path, "2021bad.xlsx",
                              issue(ws, "330599-101", WRONG, year=2021))
    report = collect(ws, ledger, [clean, refused, refused_with_errors], received_at=RECEIVED)
    assert [sorted(k for k in it if k in ("feedback", "receipt")) for it in report.items] == [
        ["receipt"], ["receipt"], ["receipt"]]
    assert sorted(p.suffix for p in ws.feedback_dir.rglob("*.*")) == [".txt"] * 3


@pytest.mark.libreoffice
def test_feedback_round_trip_through_libreoffice(wrong, libreoffice: LibreOffice,
                                                 tmp_path: Path) -> None:
    ws, ledger, item, _ = wrong
    feedback = Path(item["feedback"])
    seen = libreoffice.read(feedback, [("问题清单", "A1"), ("问题清单", "C7"), ("主动公开", "B13"),
                                       ("主动公开", "B10"), ("封面", "B4")])
    assert seen[("问题清单", "A1")].string == "数据审核问题清单"
    assert seen[("问题清单", "C7")].string == "依申请公开!D7"
    assert (seen[("主动公开", "B13")].type, seen[("主动公开", "B13")].string) == ("TEXT", "十二")
    assert (seen[("主动公开", "B10")].type, seen[("主动公开", "B10")].value) == ("VALUE", -3.0)
    assert seen[("封面", "B4")].string == "青溪区教育局"

    fixed = lo_fill(libreoffice, feedback, tmp_path / "教育局年报（已改）.xlsx",
                    {"t2.licensing": 120, "t2.penalty": 30, "t3.new.natural_person": 10})
    report = collect(ws, ledger, [fixed], received_at="2023-01-18T10:00:00+08:00")
    (again,) = report.items
    assert (again["outcome"], again["status"], again["errors"], again["warnings"]) == (
        "stored", "valid", 0, 0)
    assert "feedback" not in again
    assert rows(ledger) == [("教育局年报.xlsx", "invalid", None, "330599-003", 2022),
                            ("教育局年报（已改）.xlsx", "valid", None, "330599-003", 2022)]
    corrected = list(ledger.rows())[1]
    assert corrected.verdict.findings == [] and corrected.verdict.signature == "ok"
    assert corrected.verdict.record["values"]["t2.penalty"] == 30
    status = unit_status(ledger, ws.config, datetime(2023, 1, 31, tzinfo=CHINA)).to_dict()
    unit = next(u for u in status["units"] if u["code"] == "330599-003")
    assert (unit["state"], unit["timeliness"], unit["errors"], unit["counting"]["submission"]) == (
        "valid", "on_time", 0, 2)
    assert receipt(again).count("审核结果：通过") == 1


# -- receipts --------------------------------------------------------------------------------------

def receipt(item: dict) -> str:
    """A receipt's text; it opens in old Windows editors: a BOM, CR LF line ends."""
    data = Path(item["receipt"]).read_bytes()
    assert data.startswith("\ufeff".encode()) and data.count(b"\n") == data.count(b"\r\n")
    return data.decode("utf-8")[1:].replace("\r\n", "\n")


def test_receipt_of_every_submission(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    good = issue(ws, "330599-002")
    bad = issue(ws, "330599-003", WRONG)
    old = issue(ws, "330599-007", year=2021)
    broken = good[:5000]
    paths = [put(tmp_path, n, d) for n, d in (("发改.xlsx", good), ("教育.xlsx", bad),
                                              ("民政.xlsx", old), ("坏了.xlsx", broken))]
    report = collect(ws, ledger, paths, received_at=RECEIVED)
    assert [it["status"] for it in report.items] == ["valid", "invalid", "rejected", "rejected"]
    assert rows(ledger)[3] == ("坏了.xlsx", "rejected", "FILE_CORRUPT", None, None)
    corrupt = list(ledger.rows())[3].verdict.findings[0]["message"]
    assert corrupt.startswith("文件已损坏，无法读取（")
    head = "政府信息公开工作年度报告 收件回执\n\n收集单位：青溪区人民政府办公室\n"
    assert [receipt(it) for it in report.items] == [
        head + "报送单位：青溪区发展和改革局（单位代码 330599-002）\n报告年度：2022\n"
        f"收到文件：发改.xlsx（{len(good)} 字节）\n文件校验值（SHA-256）：{sha(good)}\n"
        "模板版本：ogi-annual-2021 1.1.0\n收到时间：2023-01-15T10:00:00+08:00\n"
        "报送截止日期：2023-01-20（按时）\n"
        "审核结果：通过\n错误 0 处，提醒 0 处\n无需处理。\n",
        head + "报送单位：青溪区教育局（单位代码 330599-003）\n报告年度：2022\n"
        f"收到文件：教育.xlsx（{len(bad)} 字节）\n文件校验值（SHA-256）：{sha(bad)}\n"
        "模板版本：ogi-annual-2021 1.1.0\n收到时间：2023-01-15T10:00:00+08:00\n"
        "报送截止日期：2023-01-20（按时）\n"
        "审核结果：未通过\n错误 3 处，提醒 0 处\n"
        "请按随附的反馈表修改后重新报送。\n",
        head + "报送单位：青溪区民政局（单位代码 330599-007）\n报告年度：2021\n"
        f"收到文件：民政.xlsx（{len(old)} 字节）\n文件校验值（SHA-256）：{sha(old)}\n"
        "模板版本：ogi-annual-2021 1.1.0\n收到时间：2023-01-15T10:00:00+08:00\n"
        "报送截止日期：2023-01-20\n"
        "审核结果：未受理\n错误 1 处，提醒 0 处\n"
        "未受理原因：报告年度为 2021，本次收集的是 2022 年度的报告，请使用本年度下发的模板\n",
        head + "报送单位：（未识别）（单位代码 （未识别））\n报告年度：2022\n"
        f"收到文件：坏了.xlsx（5000 字节）\n文件校验值（SHA-256）：{sha(broken)}\n"
        "模板版本：（未识别）\n收到时间：2023-01-15T10:00:00+08:00\n"
        "审核结果：未受理\n错误 1 处，提醒 0 处\n"
        f"未受理原因：{corrupt}\n",
    ]
    assert [Path(it["receipt"]).parent.name for it in report.items] == [
        "330599-002-青溪区发展和改革局", "330599-003-青溪区教育局", "未受理", "未受理"]
    assert len(list(ws.feedback_dir.rglob("*回执*"))) == 4


def test_receipts_of_a_unit_with_a_long_name_are_kept_apart(tmp_path: Path) -> None:
    name = ("中共青溪区委机构编制委员会办公室（青溪区人民政府机构编制委员会办公室）"
            "暨青溪区事业单位登记管理局和青溪区机关事务管理中心（合署）及所属事业单位（挂牌）")
    assert len(name) == 75
    ws, ledger = make_workspace(tmp_path / "ws", f"单位代码,单位名称\n330599-050,{name}\n")
    first = put(tmp_path, "a.xlsx", issue(ws, "330599-050", WRONG, name=name))
    second = put(tmp_path, "b.xlsx", issue(ws, "330599-050", complete_values(t2__penalty=-1),
                                           name=name))
    report = collect(ws, ledger, [first, second], received_at=RECEIVED)
    outputs = [it[k] for it in report.items for k in ("receipt", "feedback")]
    assert len(set(outputs)) == 4
    assert [Path(p).suffix for p in outputs] == [".txt", ".xlsx", ".txt", ".xlsx"]
    assert all(Path(p).is_file() for p in outputs)
    ledger.close()


# -- explanations ----------------------------------------------------------------------------------

NOTE = "商业企业的申请已全部撤回，本格无数据。"
BLANK = complete_values(t3__granted__business=None, t3__new__business=0)   # VALUE_BLANK E9
AS_TEXT = complete_values(t3__granted__business="2")                       # VALUE_NORMALISED E9


def set_config(ws: Workspace, **changes) -> Workspace:
    config = dataclasses.replace(ws.config, **changes)
    (ws.root / CONFIG_NAME).write_text(config_text(config), encoding="utf-8")
    return open_workspace(ws.root)


def judged(ws: Workspace, ledger, tmp_path: Path, files: dict[str, dict]) -> list:
    paths = [put(tmp_path / "in", name, issue(ws, code, values))
             for name, (code, values) in files.items()]
    collect(ws, ledger, paths, received_at=RECEIVED)
    return list(ledger.rows())


@pytest.mark.parametrize(("values", "code"), [(BLANK, "VALUE_BLANK"),
                                              (AS_TEXT, "VALUE_NORMALISED")])
def test_warning_on_table_three_explained_by_its_note(wsl, tmp_path: Path, values: dict,
                                                      code: str) -> None:
    ws, ledger = wsl
    explained, bare, elsewhere = judged(ws, ledger, tmp_path, {
        "explained.xlsx": ("330599-002", {**values, "note.t3": NOTE}),
        "bare.xlsx": ("330599-003", values),
        "elsewhere.xlsx": ("330599-007", {**values, "note.t2": NOTE}),  # 说明 of table 二
    })
    for row, count in ((explained, 1), (bare, 0), (elsewhere, 0)):
        v = row.verdict
        (finding,) = v.findings
        assert (v.status, v.warnings, v.explained, finding["code"], finding["cell"]) == (
            "valid", 1, count, code, "E9"), row.file_name
    (finding,) = explained.verdict.findings
    assert finding["values"]["explanation"] == NOTE
    assert finding["message"].endswith(f"（填报单位说明：{NOTE}）")
    for row in (bare, elsewhere):
        assert "explanation" not in row.verdict.findings[0]["values"]
        assert "填报单位说明" not in row.verdict.findings[0]["message"]
    status = unit_status(ledger, ws.config, datetime(2023, 1, 31, tzinfo=CHINA))
    assert [(u.code, u.state, u.warnings, u.unexplained) for u in status.units[1:4]] == [
        ("330599-002", "valid", 1, 0), ("330599-003", "valid", 1, 1),
        ("330599-007", "valid", 1, 1)]
    assert status.totals["valid_with_unexplained_warnings"] == 2


def test_long_explanation_is_shortened_in_the_message_only(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    note = "说明" * 100
    (row,) = judged(ws, ledger, tmp_path, {"x.xlsx": ("330599-002", {**BLANK, "note.t3": note})})
    (finding,) = row.verdict.findings
    assert finding["values"]["explanation"] == note
    assert finding["message"].endswith(f"（填报单位说明：{note[:117]}…）")


def test_unexplained_warnings_block_when_configured(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    strict = set_config(ws, block_unexplained_warnings=True)
    assert strict.config.block_unexplained_warnings is True
    explained, bare, text = judged(strict, ledger, tmp_path, {
        "explained.xlsx": ("330599-002", {**BLANK, "note.t3": NOTE}),
        "bare.xlsx": ("330599-003", BLANK),
        "as_text.xlsx": ("330599-007", AS_TEXT),
    })
    assert rows(ledger) == [("explained.xlsx", "valid", None, "330599-002", 2022),
                            ("bare.xlsx", "invalid", None, "330599-003", 2022),
                            ("as_text.xlsx", "invalid", None, "330599-007", 2022)]
    assert [(r.verdict.errors, r.verdict.warnings, r.verdict.explained)
            for r in (explained, bare, text)] == [(0, 1, 1), (0, 1, 0), (0, 1, 0)]
    status = unit_status(ledger, strict.config, datetime(2023, 1, 31, tzinfo=CHINA))
    assert [(u.code, u.state) for u in status.units[1:4]] == [
        ("330599-002", "valid"), ("330599-003", "invalid"), ("330599-007", "invalid")]
    # the feedback of the blocked one says which warning to explain
    fb = next(ws.feedback_dir.glob("330599-003-*/*反馈*.xlsx"))
    sheet = openpyxl.load_workbook(fb)["问题清单"]
    assert sheet["A2"].value.startswith("文件：bare.xlsx；审核结果：未通过")
    assert [(c.value) for c in sheet[5]][:3] == [1, "提醒", "依申请公开!E9"]
