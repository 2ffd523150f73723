"""Rendering the annual report document: structure from the Form, figures exactly as recorded."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from docx import Document

from nianbao.publish.record import Record
from nianbao.publish.report import (
    MD_NOTE,
    field_id,
    format_value,
    numeral,
    render_report,
    sections,
    table_grid,
)
from nianbao.read.normalise import NA
from nianbao.spec.model import Form

# The figures of a real published report (a district bureau, reporting year 2022).
EXAMPLE_T2: dict[str, Any] = {
    "t2.regulations.issued": 0, "t2.regulations.repealed": 0, "t2.regulations.in_force": 0,
    "t2.normative_docs.issued": 1, "t2.normative_docs.repealed": 1,
    "t2.normative_docs.in_force": 3,
    "t2.licensing": 38, "t2.penalty": 23, "t2.enforcement": 0, "t2.fees_wan_yuan": 0,
}


def example_values(form: Form) -> dict[str, Any]:
    """Every numeric field of the example report: table 二 as printed, 三 and 四 all 0."""
    values = {f.id: 0 for f in form.fields.values() if f.numeric}
    values.update(EXAMPLE_T2)
    return values


def example_record(form: Form, **values: Any) -> Record:
    return Record({"unit.name": "示例区文化和旅游局", "unit.code": "330503-017", "year": 2022},
                  {**example_values(form), **values})


def distinct_record(form: Form) -> Record:
    """Every numeric field a different figure, so each can be found in the output."""
    values: dict[str, Any] = {}
    for i, f in enumerate(x for x in form.fields.values() if x.numeric):
        values[f.id] = Decimal(f"{9000 + i}.5") if f.kind == "amount" else 1000 + i
    return Record({"unit.name": "某县统计局", "year": 2023}, values)


def _docx(data: bytes) -> Any:
    return Document(io.BytesIO(data))


# -- shared helpers ----------------------------------------------------------------------

def test_sections_in_official_order(form: Form) -> None:
    secs = sections(form)
    assert [s.number for s in secs] == ["一", "二", "三", "四", "五", "六"]
    assert [s.heading for s in secs] == (
        [form.prose.fields[0].label] + [t.title for t in form.tables]
        + [p.label for p in form.prose.fields[1:]])
    numerals = ("一", "十", "十二", "二十", "二十一", "〇")
    assert [numeral(x) for x in numerals] == [1, 10, 12, 20, 21, 0]
    assert numeral("甲") is None


def test_format_value_exact() -> None:
    assert format_value(None) == ""
    assert format_value(NA) == "/"
    assert format_value(Decimal("96171.6")) == "96171.6"
    assert format_value(Decimal("1E+2")) == "100"
    assert format_value(3985758) == "3985758"
    assert format_value(0) == "0"
    assert format_value("见说明") == "见说明"


def test_grid_has_the_official_merged_headers(form: Form) -> None:
    t3 = table_grid(form, form.table("t3"))
    corner = t3.cells[0]
    assert corner.role == "corner" and corner.text == form.table("t3").blocks[0].corner
    assert (corner.rowspan, corner.colspan) == (3, 3)
    top = next(c for c in t3.cells if c.text == "申请人情况")
    assert top.colspan == 7
    t4 = table_grid(form, form.table("t4"))
    assert t4.label_cols == 0 and t4.cols == 15 and t4.rows == 4
    assert [c.colspan for c in t4.cells if c.row == 0] == [5, 10]
    t2 = table_grid(form, form.table("t2"))
    titles = [c for c in t2.cells if c.role == "title"]
    assert [c.text for c in titles] == [b.title for b in form.table("t2").blocks]
    assert all(c.colspan == t2.cols for c in titles)
    stubs = [c for c in t2.cells if c.role == "header" and c.col == 0]
    assert [c.text for c in stubs] == [b.stub for b in form.table("t2").blocks]


def test_unknown_format_is_refused(form: Form) -> None:
    with pytest.raises(ValueError, match="pdf"):
        render_report(form, example_record(form), "pdf")


# -- all formats -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["docx", "html", "md"])
def test_deterministic(form: Form, fmt: str) -> None:
    record = example_record(form, **{"text.overview": "第一段。\n第二段。"})
    assert render_report(form, record, fmt) == render_report(form, record, fmt)


def test_title_from_identity_or_record(form: Form) -> None:
    record = example_record(form)
    md = render_report(form, record, "md").decode()
    assert md.startswith(f"# 示例区文化和旅游局2022年{form.title}\n")
    record.title = "关于示例区2022年政府信息公开工作的年度报告"
    assert render_report(form, record, "md").decode().startswith(f"# {record.title}\n")


# -- markdown ----------------------------------------------------------------------------

def test_md_contains_every_figure_in_its_row(form: Form) -> None:
    record = distinct_record(form)
    md = render_report(form, record, "md").decode()
    assert md.count(MD_NOTE) == len(form.tables)
    lines = md.splitlines()
    for table in form.tables:
        for block in table.blocks:
            for row in block.rows:
                figures = [format_value(record.values[field_id(table, row, c)])
                           for c in block.columns]
                label = " / ".join(row.path)
                want = "| " + (f"{label} | " if label else "") + " | ".join(figures) + " |"
                assert want in lines, want
    # table 四's leaf labels repeat: its columns carry the full path
    assert "| 行政复议 / 结果维持 |" in md
    assert "行政诉讼 / 复议后起诉 / 总计" in md


def test_md_keeps_blank_na_and_zero_apart(form: Form) -> None:
    record = example_record(form, **{"t2.regulations.issued": NA, "t2.regulations.repealed": None,
                                     "t2.fees_wan_yuan": Decimal("96171.6")})
    md = render_report(form, record, "md").decode()
    assert "| 规章 | / |  | 0 |" in md
    assert "| 行政事业性收费 | 96171.6 |" in md


def test_md_escapes_pipes(form: Form) -> None:
    record = example_record(form, **{"t2.licensing": "见|说明"})
    assert "| 行政许可 | 见\\|说明 |" in render_report(form, record, "md").decode()


# -- html --------------------------------------------------------------------------------

def test_html_is_well_formed_and_escaped(form: Form) -> None:
    record = example_record(form, **{"text.overview": "A<b>&\"引号\"", "t2.licensing": "<x>"})
    text = render_report(form, record, "html").decode("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    root = ET.fromstring(text.split("\n", 1)[1])  # XHTML-clean: parses as XML
    body = root.find("body")
    assert body is not None
    assert [t.get("data-table") for t in body.iter("table")] == [t.id for t in form.tables]
    assert "A&lt;b&gt;&amp;&quot;引号&quot;" in text
    assert re.search(r'<td class="value"[^>]*>&lt;x&gt;</td>', text)
    t3 = next(t for t in body.iter("table") if t.get("data-table") == "t3")
    first = t3.find("tr")
    assert first is not None
    corner, applicants = list(first)
    assert corner.get("rowspan") == "3" and corner.get("colspan") == "3"
    assert corner.text == form.table("t3").blocks[0].corner
    assert applicants.get("colspan") == "7"


def test_html_has_every_figure(form: Form) -> None:
    record = distinct_record(form)
    text = render_report(form, record, "html").decode()
    for fid, value in record.values.items():
        assert f">{format_value(value)}</td>" in text, fid


# -- docx --------------------------------------------------------------------------------

def test_docx_structure(form: Form) -> None:
    record = example_record(form, **{"text.overview": "第一段。\n第二段。",
                                     "t2.fees_wan_yuan": Decimal("96171.6")})
    data = render_report(form, record, "docx")
    doc = _docx(data)
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == f"示例区文化和旅游局2022年{form.title}"
    headings = [s.heading for s in sections(form)]
    assert [t for t in texts if t in headings] == headings
    assert "第一段。" in texts and "第二段。" in texts
    assert len(doc.tables) == len(form.tables)
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)  # A4
    assert doc.core_properties.created.year == 2021
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        body = z.read("word/document.xml").decode()
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in z.infolist())
    assert f'w:eastAsia="{form.font}"' in body
    assert re.search(r"<w:r>(?:(?!</w:r>).)*<w:t>96171\.6</w:t>", body)


def test_docx_table_three_header_is_merged(form: Form) -> None:
    doc = _docx(render_report(form, example_record(form), "docx"))
    t3 = doc.tables[[t.id for t in form.tables].index("t3")]
    corner = t3.cell(0, 0)
    assert corner.text == form.table("t3").blocks[0].corner
    assert all(t3.cell(r, c)._tc is corner._tc for r in range(3) for c in range(3))
    applicants = t3.cell(0, 3)
    assert applicants.text == "申请人情况"
    assert all(t3.cell(0, c)._tc is applicants._tc for c in range(3, 10))
    natural = t3.cell(1, 3)
    assert natural.text == "自然人" and t3.cell(2, 3)._tc is natural._tc  # merged down
    group = t3.cell(1, 4)
    assert group.text == "法人或其他组织" and t3.cell(1, 8)._tc is group._tc
    xml = t3._tbl.xml
    assert "w:gridSpan" in xml and "w:vMerge" in xml
    # 三、本年度办理结果 spans the 22 outcome rows down the first column
    outcome = t3.cell(5, 0)
    assert outcome.text == "三、本年度办理结果"
    assert t3.cell(5 + 21, 0)._tc is outcome._tc and t3.cell(5 + 22, 0)._tc is not outcome._tc


def test_docx_table_four_three_level_header(form: Form) -> None:
    doc = _docx(render_report(form, distinct_record(form), "docx"))
    t4 = doc.tables[[t.id for t in form.tables].index("t4")]
    assert t4.cell(0, 0).text == "行政复议" and t4.cell(0, 4)._tc is t4.cell(0, 0)._tc
    assert t4.cell(0, 5).text == "行政诉讼" and t4.cell(0, 14)._tc is t4.cell(0, 5)._tc
    assert t4.cell(1, 5).text == "未经复议直接起诉"
    assert t4.cell(2, 0)._tc is t4.cell(1, 0)._tc  # 结果维持 of 行政复议 spans two rows
    assert [t4.cell(3, c).text for c in range(15)] == [
        format_value(distinct_record(form).values[f"t4.{c.id}"])
        for c in form.table("t4").blocks[0].columns]


def test_landscape_tables_get_landscape_pages(form: Form) -> None:
    doc = _docx(render_report(form, example_record(form), "docx"))
    wide = [s for s in doc.sections if s.page_width > s.page_height]
    assert wide and all(round(s.page_width.mm) == 297 for s in wide)
    assert round(doc.sections[-1].page_width.mm) == 210
