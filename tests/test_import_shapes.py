"""Importing published reports as people paste them, with the labels and titles they print.

The documents are built here from the Form's own labels: a row on one line with cells
separated by spaces, tabs or `|`, one cell per line, figures running on after the label;
labels abbreviated and misprinted; rows that cannot be matched (never a rule error the
published report does not have); titles in their published forms.
"""

from __future__ import annotations

import io

import pytest
from docx import Document
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nianbao.publish.importer import ImportResult, import_report, label_key, score
from nianbao.publish.labels import FLOOR
from nianbao.publish.record import Record
from nianbao.publish.report import format_value, render_report
from nianbao.read.normalise import NA
from nianbao.spec.model import Form
from nianbao.testing.documents import (
    DEFAULT_UNIT,
    SHAPES,
    balanced_values,
    pasted,
    report_rows,
)
from tests.test_import import FORM, VALUE_CODES, assert_figures, codes

UNIT = DEFAULT_UNIT


def read(data: bytes, form: Form) -> ImportResult:
    result = import_report(data, "pasted.txt", form)
    assert result.fmt == "text"
    return result


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_pasted_shape_reads_exactly(form: Form, shape: str) -> None:
    values = balanced_values(form, seed=7)
    result = read(pasted(form, values, shape), form)
    assert_figures(result, values)
    assert result.identity == {"unit.name": UNIT, "unit.code": None, "year": 2023}
    assert result.findings == [], [f.message for f in result.findings]
    assert result.values["text.overview"] == "本年度按时更新了公开目录。"
    assert result.values["text.problems"] == "个别栏目更新不够及时。"


@pytest.mark.parametrize("shape", ["tabs", "pipes"])
def test_blank_and_not_applicable_kept_where_the_shape_can_show_them(form: Form,
                                                                     shape: str) -> None:
    values = {**balanced_values(form, seed=8), "t2.regulations.issued": None,
              "t2.regulations.repealed": NA}
    result = read(pasted(form, values, shape), form)
    assert_figures(result, values)
    assert {f.field: f.code for f in result.findings if f.code in VALUE_CODES} == {
        "t2.regulations.issued": "IMPORT_VALUE_BLANK",
        "t2.regulations.repealed": "IMPORT_VALUE_NA"}


def test_a_row_wrapped_onto_the_next_line(form: Form) -> None:
    values = balanced_values(form, seed=9)
    text = pasted(form, values, "spaces").decode()
    label = "一、本年新收政府信息公开申请数量"
    line = next(s for s in text.split("\n") if s.startswith(label))
    cells = line.split(" ")
    text = text.replace(line, " ".join(cells[:4]) + "\n" + " ".join(cells[4:]))
    result = read(text.encode(), form)
    assert_figures(result, values)
    assert result.findings == []


# -- labels as publishers print them ----------------------------------------------------------

VARIANTS = {
    "1.属于国家秘密": "1.国家秘密",                          # a function word dropped
    "2.其他法律行政法规禁止公开": "2.其他法律行政止公开",    # a real misprint
    "6.属于四类过程性信息": "6.属于四类过程信息",
    "行政规范性文件": "规范性文件",
    "五、存在的主要问题及改进情况": "五、存在的主要问题及整改措施",
}


def test_label_scores_and_floor() -> None:
    def grade(found: str, official: str) -> float:
        return score(label_key(found), label_key(official))

    for official, printed in VARIANTS.items():
        assert grade(printed, official) >= FLOOR, printed
    assert grade("（六）其他处理", "3.其他") < FLOOR          # the 2019 single row
    assert grade("行政强制", "行政处罚") < FLOOR
    assert grade("3.其他", "3.补正后申请内容仍不明确") < FLOOR
    assert grade("8.其它情形", "8.属于行政查询事项") < FLOOR


@pytest.mark.parametrize("shape", ["spaces", "lines"])
def test_misprinted_labels_are_read_without_a_false_rule_error(form: Form, shape: str) -> None:
    values = balanced_values(form, seed=10)
    result = read(pasted(form, values, shape, lambda s: VARIANTS.get(s, s)), form)
    assert_figures(result, values)
    assert result.findings == [], [f.message for f in result.findings]
    assert result.values["text.problems"] == "个别栏目更新不够及时。"


def test_an_unmatched_row_is_reported_and_its_rules_are_not_checked(form: Form) -> None:
    values = balanced_values(form, seed=11)
    values["t3.denied.inquiry.natural_person"] += 1   # would break R5 and R6 if read
    result = read(pasted(form, values, "spaces",
                         lambda s: "8.其它情形" if s == "8.属于行政查询事项" else s), form)
    unread = [f for f in result.findings if f.code == "IMPORT_ROW_UNREAD"]
    assert len(unread) == 1 and "8.其它情形" in unread[0].message
    assert unread[0].values["found"].startswith("8.其它情形 ")
    assert [f.cell for f in result.findings if f.code == "IMPORT_ROW_MISSING"] == [
        "三、本年度办理结果 / （三）不予公开 / 8.属于行政查询事项"]
    assert not any(k.startswith("t3.denied.inquiry.") for k in result.values)
    assert "UNBALANCED" not in codes(result)
    unchecked = {f.rule: f for f in result.findings if f.code == "IMPORT_RULE_UNCHECKED"}
    assert sorted(unchecked) == ["R5", "R6"]
    assert unchecked["R6"].values["count"] == 7 and unchecked["R5"].values["count"] == 1
    assert "无法核对（有未读出的行）" in unchecked["R6"].message
    others = {k: v for k, v in values.items() if not k.startswith("t3.denied.inquiry.")}
    assert all(result.values[k] == v for k, v in others.items())


def test_an_imbalance_the_report_really_has_is_still_reported(form: Form) -> None:
    values = balanced_values(form, seed=12)
    values["t4.suit_direct.total"] += 3
    result = read(pasted(form, values, "tabs",
                         lambda s: "8.其它情形" if s == "8.属于行政查询事项" else s), form)
    broken = [(f.rule, f.field) for f in result.findings if f.code == "UNBALANCED"]
    assert broken == [("R7", "t4.suit_direct.total")]
    assert result.values["t4.suit_direct.total"] == values["t4.suit_direct.total"]


def test_the_2019_single_other_row(form: Form) -> None:
    """The old form's one 「（六）其他处理」 row: reported as unread, never put into 3.其他."""
    values = balanced_values(form, seed=13)
    rows = report_rows(form, values)
    subrows = {r.path[-1] for r in form.table("t3").blocks[0].rows if r.id.startswith("other.")}
    out: list[str] = []
    for item in rows:
        if isinstance(item, list) and item[0] in subrows:
            continue
        if isinstance(item, list) and item[0] == "（六）其他处理":
            item = ["（六）其他处理", *(format_value(sum(
                values[f"t3.other.{r}.{c.id}"] for r in ("overdue_correction", "overdue_fee",
                                                         "other")))
                for c in form.table("t3").blocks[0].columns)]
        out.append(item if isinstance(item, str) else " ".join(item))
    result = read("\n".join(out).encode(), form)
    unread = [f for f in result.findings if f.code == "IMPORT_ROW_UNREAD"]
    assert len(unread) == 1 and "合并" in unread[0].message
    assert not any(k.startswith("t3.other.") for k in result.values)
    assert "UNBALANCED" not in codes(result)
    assert {f.rule for f in result.findings if f.code == "IMPORT_RULE_UNCHECKED"} == {"R5", "R6"}


MISPRINTS = {"1.属于国家秘密": "1.国家秘密", "2.其他法律行政法规禁止公开": "2.其他法律行政止公开",
             "行政规范性文件": "规范性文件",
             "五、存在的主要问题及改进情况": "五、存在的主要问题及整改措施"}


def edit_docx(data: bytes, replace: dict[str, str], title: str | None = None,
          preamble: str | None = None) -> bytes:
    """A Word file with some paragraph and cell texts replaced (python-docx), the title
    replaced (a line break inside it kept as one), a preamble paragraph added after it."""
    doc = Document(io.BytesIO(data))
    paragraphs = list(doc.paragraphs)
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                paragraphs += cell.paragraphs
    for p in paragraphs:
        if p.text.strip() in replace:
            p.text = replace[p.text.strip()]
    if title is not None:
        doc.paragraphs[0].text = title
    if preamble is not None:
        doc.paragraphs[1].insert_paragraph_before(preamble)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["docx", "html"])
def test_misprints_and_an_unmatched_row_in_word_and_html(form: Form, fmt: str) -> None:
    """The same label matching for every format: misprints read, an unmatched row said."""
    values = balanced_values(form, seed=17)
    record = Record({"unit.name": UNIT, "year": 2023}, values)
    unmatched = {**MISPRINTS, "8.属于行政查询事项": "8.其它情形"}
    if fmt == "docx":
        data = edit_docx(render_report(form, record, "docx"), unmatched)
    else:
        data = render_report(form, record, "html")
        for official, printed in unmatched.items():
            data = data.replace(f">{official}<".encode(), f">{printed}<".encode())
    result = import_report(data, f"r.{fmt}", form)
    read = {k: v for k, v in values.items() if not k.startswith("t3.denied.inquiry.")}
    assert all(result.values[k] == v for k, v in read.items())
    assert sorted({f.code for f in result.findings}) == [
        "IMPORT_ROW_MISSING", "IMPORT_ROW_UNREAD", "IMPORT_RULE_UNCHECKED"]


# -- identity ----------------------------------------------------------------------------------

@pytest.mark.parametrize("title, name, year", [
    (f"{UNIT}2023年政府信息公开工作年度报告", UNIT, 2023),
    (f"{UNIT}2023年政府信息公开年度报告", UNIT, 2023),               # without 工作
    (f"2023年度{UNIT}政府信息公开工作年度报告", UNIT, 2023),         # year first
    (f"{UNIT}\n2023年政府信息公开工作年度报告", UNIT, 2023),         # broken after the name
    (f"{UNIT}2023年政府信息\n公开工作年度报告", UNIT, 2023),         # broken inside
    (f"{UNIT}二〇二三年政府信息公开年度报告（全文）", UNIT, 2023),
    ("关于印发工作要点的通知", None, None),
])
def test_identity_from_the_title(form: Form, title: str, name: str | None,
                                 year: int | None) -> None:
    values = balanced_values(form, seed=14)
    text = pasted(form, values, "spaces").decode().split("\n", 1)[1]
    result = read((title + "\n" + text).encode(), form)
    assert (result.identity["unit.name"], result.identity["year"]) == (name, year)
    missing = {f.field for f in result.findings if f.code == "IMPORT_IDENTITY_MISSING"}
    assert missing == ({"unit.name", "year"} if name is None else set())
    assert "IMPORT_IDENTITY_GUESSED" not in codes(result)


def test_identity_never_from_a_body_sentence(form: Form) -> None:
    """No title, the preamble cites the format's name: nothing is taken from it."""
    values = balanced_values(form, seed=15)
    text = pasted(form, values, "spaces").decode().split("\n", 1)[1]
    text = ("本机关依据条例和《政府信息公开工作年度报告格式》编制2023年政府信息公开年度报告\n"
            f"{UNIT}，2023年政府信息公开年度报告\n" + text)
    result = read(text.encode(), form)
    assert result.identity["unit.name"] is None and result.identity["year"] is None
    assert {f.field for f in result.findings if f.code == "IMPORT_IDENTITY_MISSING"} == {
        "unit.name", "year"}


def test_identity_from_the_page_title_is_a_warning(form: Form) -> None:
    values = balanced_values(form, seed=16)
    body = pasted(form, values, "spaces").decode().split("\n", 1)[1]
    page = (f"<html><head><title>{UNIT}2023年政府信息公开年度报告_某县人民政府</title></head>"
            f"<body><p>{body.replace(chr(10), '</p><p>')}</p></body></html>")
    for suffix in ("_某县人民政府", ""):
        html = page.replace("_某县人民政府", suffix)
        result = import_report(html.encode(), "page.html", form)
        assert (result.identity["unit.name"], result.identity["year"]) == (UNIT, 2023)
        guessed = [f for f in result.findings if f.code == "IMPORT_IDENTITY_GUESSED"]
        assert {f.field for f in guessed} == {"unit.name", "year"}
        assert "页面标题" in guessed[0].message


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), shape=st.sampled_from(sorted(SHAPES)))
def test_any_figures_in_any_shape(seed: int, shape: str) -> None:
    """Balanced figures from many seeds, pasted in every shape: all read, nothing said."""
    values = balanced_values(FORM, seed)
    result = read(pasted(FORM, values, shape), FORM)
    assert_figures(result, values)
    assert result.findings == [], [f.message for f in result.findings]


def test_sub_headings_of_the_overview_are_no_section_headings(form: Form) -> None:
    """「（二）主动公开情况」 inside 总体情况 is close to section 二's words, but bracketed: a
    sub-heading of the prose, not the heading of section 二."""
    values = balanced_values(form, seed=18)
    overview = ("（一）总体情况概述\n本年度按时更新了公开目录。\n"
                "（二）主动公开情况\n全年主动公开信息若干条。")
    text = pasted(form, values, "spaces").decode().replace("本年度按时更新了公开目录。", overview)
    result = read(text.encode(), form)
    assert result.values["text.overview"].endswith("（二）主动公开情况\n全年主动公开信息若干条。")
    assert result.findings == []
