"""Importing published annual reports: .docx, .html and the extracted-text layout."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nianbao.findings import CATALOGUE, Severity
from nianbao.publish.importer import ImportResult, import_report, label_key, match
from nianbao.publish.record import Record
from nianbao.publish.report import render_report
from nianbao.read.normalise import NA
from nianbao.spec.load import load_form
from nianbao.spec.model import AMOUNT, Form
from tests.test_publish import example_record, example_values

FIXTURES = Path(__file__).parent / "fixtures" / "published"
FORM = load_form()
NUMERIC = [f for f in FORM.fields.values() if f.numeric]
STRUCTURE = {"IMPORT_UNREADABLE", "IMPORT_TABLE_MISSING", "IMPORT_ROW_MISSING",
             "IMPORT_ROW_CELLS", "IMPORT_COLUMN_MISSING", "IMPORT_HEADER_DIFFERS",
             "IMPORT_SECTION_MISSING"}
VALUE_CODES = {"IMPORT_VALUE", "IMPORT_VALUE_READ", "IMPORT_VALUE_BLANK", "IMPORT_VALUE_NA"}
MISSING = object()


def codes(result: ImportResult) -> set[str]:
    return {f.code for f in result.findings}


def same(found: Any, want: Any) -> bool:
    """Equal, with blank, not applicable and 0 never confused."""
    if want is None or want is NA:
        return found is want
    return found is not None and found is not NA and found is not MISSING and found == want


def assert_figures(result: ImportResult, values: dict[str, Any]) -> None:
    wrong = {f.id: (result.values.get(f.id, MISSING), values.get(f.id))
             for f in NUMERIC if not same(result.values.get(f.id, MISSING), values.get(f.id))}
    assert not wrong


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# -- the example report's figures, text layout -----------------------------------------------

@pytest.mark.parametrize("name", ["district-2022.txt", "district-2022-variants.txt"])
def test_text_fixture_imports_exactly(form: Form, name: str) -> None:
    result = import_report(fixture(name), name, form)
    assert result.fmt == "text"
    assert result.identity == {"unit.name": "示例区文化和旅游局", "unit.code": None, "year": 2022}
    assert_figures(result, example_values(form))
    assert isinstance(result.values["t2.fees_wan_yuan"], Decimal)
    assert not codes(result) & (VALUE_CODES | STRUCTURE)
    assert result.findings == []  # the example balances
    assert result.values["text.overview"].startswith("2022年，示例区文化和旅游局")
    assert result.values["text.overview"].count("\n") == 1
    assert result.values["text.problems"].startswith("部分栏目更新频率偏低")
    assert result.values["text.other"] == "本年度未收取信息处理费。"


def test_fixture_has_the_stray_spaces() -> None:
    text = fixture("district-2022.txt").decode("utf-8")
    for stray in ("\t\u00a00\n", "\t0\u00a0\n", "\t 0\n", "\t0 \n", "\t\n0\n", "\t商业\n企业\n"):
        assert stray in text, repr(stray)


def test_gb18030_text(form: Form) -> None:
    data = fixture("district-2022.txt").decode("utf-8").encode("gb18030")
    result = import_report(data, "gbk.txt", form)
    assert_figures(result, example_values(form))
    assert result.findings == []


def test_wording_variants_match_the_forms_labels(form: Form) -> None:
    t2, t3, t4 = form.table("t2"), form.table("t3"), form.table("t4")
    pairs = [
        ("第二十条 第(一)项", t2.blocks[0].title),
        ("规范性文件", t2.blocks[0].rows[1].path[-1]),
        ("现行有效件数（历史累计）", t2.blocks[0].columns[2].path[-1]),
        ("(二)部分公开(区分处理的,只计这一情况,不计其他情况)", t3.blocks[0].rows[3].path[-1]),
        ("四、政府信息公开行政复议及行政诉讼情况", t4.title),
        ("商业\n企业", t3.blocks[0].columns[1].path[-1]),
    ]
    for found, official in pairs:
        assert match(label_key(found), label_key(official)) > 0, found
    assert label_key(t2.blocks[0].title) != label_key(t2.blocks[1].title)
    assert match(label_key("行政强制"), label_key("行政处罚")) == 0


def test_split_tables_and_missing_headings(form: Form) -> None:
    """Table 二 printed as four separate tables, section headings absent: found by labels."""
    text = fixture("district-2022.txt").decode("utf-8")
    for n in ("五", "六", "八"):
        text = text.replace(f"\t第二十条第（{n}）项", f"续表\n\n\t第二十条第（{n}）项")
    text = text.replace("三、收到和处理政府信息公开申请情况\n", "表三\n")
    result = import_report(text.encode(), "split.txt", form)
    assert_figures(result, example_values(form))
    assert not codes(result) & (VALUE_CODES | STRUCTURE)


# -- what a published report gets wrong -------------------------------------------------------

def _t4_row(figures: list[int]) -> str:
    return "".join(f"\t{x}\n" for x in figures)


def test_unbalanced_review_total_is_reported_not_fixed(form: Form) -> None:
    text = fixture("district-2022.txt").decode("utf-8")
    row = _t4_row([0] * 15)
    assert text.count(row) == 1
    text = text.replace(row, _t4_row([10, 1, 0, 0, 0] + [0] * 10))
    result = import_report(text.encode(), "district.txt", form)
    assert result.values["t4.review.total"] == 0  # read as printed
    assert result.values["t4.review.upheld"] == 10
    r7 = [f for f in result.findings if f.code == "UNBALANCED"]
    assert len(r7) == 1
    finding = r7[0]
    assert (finding.rule, finding.field, finding.file) == ("R7", "t4.review.total", "district.txt")
    assert finding.severity == Severity.ERROR
    assert finding.sheet == form.table("t4").title
    assert finding.values["lhs"] == 0 and finding.values["rhs"] == 11
    assert "结果维持+结果纠正+其他结果+尚未审结" in finding.message


@pytest.mark.parametrize("fmt", ["docx", "html"])
def test_unbalanced_review_total_round_trip(form: Form, fmt: str) -> None:
    record = example_record(form, **{"t4.review.upheld": 10, "t4.review.corrected": 1,
                                     "t4.review.total": 0})
    result = import_report(render_report(form, record, fmt), f"r.{fmt}", form)
    assert result.values["t4.review.total"] == 0
    assert [(f.code, f.rule, f.field) for f in result.findings] == [
        ("UNBALANCED", "R7", "t4.review.total")]


def test_missing_table(form: Form) -> None:
    text = fixture("district-2022.txt").decode("utf-8")
    start = text.index("\t行政复议\n")
    end = text.index("五、存在的主要问题及改进情况")
    result = import_report((text[:start] + text[end:]).encode(), "no-t4.txt", form)
    missing = [f for f in result.findings if f.code == "IMPORT_TABLE_MISSING"]
    assert [(f.sheet, f.values["table"]) for f in missing] == [(form.table("t4").title, "t4")]
    assert "no-t4.txt" in missing[0].message
    assert not any(k.startswith("t4.") for k in result.values)
    # the rest still reads, and nothing is invented for table 四
    rest = {k: v for k, v in example_values(form).items() if not k.startswith("t4.")}
    assert all(same(result.values.get(k, MISSING), v) for k, v in rest.items())


def test_missing_row(form: Form) -> None:
    text = fixture("district-2022.txt").decode("utf-8")
    text = text.replace("\t行政强制\n\t 0\n\n", "")
    result = import_report(text.encode(), "row.txt", form)
    rows = [f for f in result.findings if f.code == "IMPORT_ROW_MISSING"]
    assert [f.cell for f in rows] == ["第二十条第（六）项 / 行政强制"]
    assert "t2.enforcement" not in result.values


def test_header_problems(form: Form) -> None:
    text = fixture("district-2022.txt").decode("utf-8")
    text = text.replace("\t本年收费金额（单位：万元）\n", "\t本年收费金额（单位：元）\n")
    text = text.replace("\t本年废止件数\n", "")
    result = import_report(text.encode(), "head.txt", form)
    found = sorted((f.code, f.cell) for f in result.findings)
    assert found == [("IMPORT_COLUMN_MISSING", "本年废止件数"),
                     ("IMPORT_HEADER_DIFFERS", "本年收费金额（单位：万元）")]
    assert_figures(result, example_values(form))  # read in the official column order


def test_figure_that_is_not_a_number(form: Form) -> None:
    text = fixture("district-2022.txt").decode("utf-8")
    text = text.replace("\t行政许可\n\t38\n", "\t行政许可\n\t见附件\n")
    text = text.replace("\t规章\n\t0\n\t0\n\t0\n", "\t规章\n\t/\n\t\n\t0\n")
    text = text.replace("\t行政处罚\n\t23\n", "\t行政处罚\n\t２３件\n")
    result = import_report(text.encode(), "bad.txt", form)
    by_field = {f.field: f for f in result.findings}
    bad = by_field["t2.licensing"]
    assert bad.code == "IMPORT_VALUE" and bad.severity == Severity.ERROR
    assert bad.sheet == form.table("t2").title
    assert bad.cell == "第二十条第（五）项 / 行政许可 / 本年处理决定数量"
    assert "bad.txt" in bad.message and "见附件" in bad.message
    assert result.values["t2.licensing"] == "见附件"
    assert result.values["t2.regulations.issued"] is NA
    assert by_field["t2.regulations.issued"].code == "IMPORT_VALUE_NA"
    assert result.values["t2.regulations.repealed"] is None
    assert by_field["t2.regulations.repealed"].code == "IMPORT_VALUE_BLANK"
    assert result.values["t2.regulations.in_force"] == 0
    assert result.values["t2.penalty"] == 23
    assert by_field["t2.penalty"].code == "IMPORT_VALUE_READ"


def test_not_applicable_where_the_form_has_none(form: Form) -> None:
    record = example_record(form, **{"t3.new.natural_person": NA})
    result = import_report(render_report(form, record, "html"), "na.html", form)
    assert result.values["t3.new.natural_person"] is NA
    finding = next(f for f in result.findings if f.field == "t3.new.natural_person")
    assert finding.code == "IMPORT_VALUE" and finding.values["problem"] == "VALUE_NA_NOT_ALLOWED"


@pytest.mark.parametrize("data, detail", [
    (b"", "为空"),
    (bytes(range(256)) * 8, ""),
    (b"\x00\x01\x02\x03garbage\xff\xfe\x00", ""),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, ".doc"),
    (b"PK\x03\x04 truncated zip", "损坏"),
])
def test_garbage_gives_a_finding_not_a_traceback(form: Form, data: bytes, detail: str) -> None:
    result = import_report(data, "junk.bin", form)
    assert [f.code for f in result.findings] == ["IMPORT_UNREADABLE"]
    finding = result.findings[0]
    assert finding.severity == Severity.FATAL and "junk.bin" in finding.message
    assert detail in finding.message
    assert result.values == {}


def _pdf_without_text_encoding(glyphs: int = 40) -> bytes:
    """A one-page PDF whose font (Identity-H, no ToUnicode map) does not say which
    characters its glyphs are: what a PDF with badly embedded fonts gives."""
    content = b"BT /F1 12 Tf 72 700 Td <" + b"".join(
        b"%04X" % (0x100 + i) for i in range(glyphs)) + b"> Tj ET"
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Resources<</Font<</F1 5 0 R>>>>"
        b"/Contents 4 0 R>>",
        b"<</Length %d>>\nstream\n" % len(content) + content + b"\nendstream",
        b"<</Type/Font/Subtype/Type0/BaseFont/AB+SimSun/Encoding/Identity-H"
        b"/DescendantFonts[6 0 R]>>",
        b"<</Type/Font/Subtype/CIDFontType2/BaseFont/AB+SimSun/CIDSystemInfo<</Registry(Adobe)"
        b"/Ordering(Identity)/Supplement 0>>/FontDescriptor 7 0 R/DW 1000>>",
        b"<</Type/FontDescriptor/FontName/AB+SimSun/Flags 4/FontBBox[0 0 1000 1000]"
        b"/ItalicAngle 0/Ascent 880/Descent -120/CapHeight 880/StemV 80>>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def test_pdf_whose_fonts_have_no_text_encoding(form: Form) -> None:
    result = import_report(_pdf_without_text_encoding(), "garbled.pdf", form)
    assert [f.code for f in result.findings] == ["IMPORT_UNREADABLE"]
    assert result.fmt == "pdf" and "文字无法提取" in result.findings[0].message


def test_zip_that_is_not_a_docx(form: Form) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    result = import_report(buf.getvalue(), "book.docx", form)
    assert [f.code for f in result.findings] == ["IMPORT_UNREADABLE"]
    assert "Excel" in result.findings[0].message and result.fmt == "docx"


def test_truncated_docx(form: Form) -> None:
    data = render_report(form, example_record(form), "docx")
    result = import_report(data[: len(data) // 2], "half.docx", form)
    assert [f.code for f in result.findings] == ["IMPORT_UNREADABLE"]


def test_text_without_tables(form: Form) -> None:
    result = import_report("只是一段文字。".encode(), "note.txt", form)
    assert [f.code for f in result.findings if f.code == "IMPORT_TABLE_MISSING"] == [
        "IMPORT_TABLE_MISSING"] * len(form.tables)
    assert "IMPORT_IDENTITY_MISSING" in codes(result)


def test_title_variants(form: Form) -> None:
    def identity(title: str) -> dict[str, Any]:
        text = fixture("district-2022.txt").decode("utf-8").split("\n", 1)[1]
        return import_report((title + "\n" + text).encode(), "t.txt", form).identity

    assert identity("2022年政府信息公开工作年度报告") == {
        "unit.name": None, "unit.code": None, "year": 2022}
    assert identity("某市某局 2023 年度政府信息公开工作年度报告")["unit.name"] == "某市某局"
    assert identity("某市某局二〇二一年政府信息公开工作年度报告")["year"] == 2021
    old = import_report(("某局2020年政府信息公开工作年度报告\n" + "正文").encode(), "o.txt", form)
    assert "IMPORT_OLD_FORMAT" in codes(old)


def test_messy_html_page(form: Form) -> None:
    """A government web page: GB18030, a layout table around the content, unclosed cells."""
    record = example_record(form, **{"text.other": "本年度未收取信息处理费。"})
    page = render_report(form, record, "html").decode()
    body = page[page.index("<body>") + 6: page.index("</body>")]
    body = body.replace("</td>", "").replace("</th>", "").replace("</tr>", "")
    body = re.sub(r"<p>", "<p>&nbsp;&nbsp;", body)
    page = ('<html><head><meta charset="gb2312"><title>某页</title></head><body>'
            '<table class="layout"><tr><td>导航</td></tr><tr><td>' + body
            + "</td></tr></table></body></html>")
    result = import_report(page.encode("gb18030"), "page.htm", form)
    assert result.fmt == "html"
    assert_figures(result, record.values)
    assert result.values["text.other"] == "本年度未收取信息处理费。"
    assert not codes(result) & STRUCTURE


def _text_to_docx(text: str) -> bytes:
    """A Word document with the text layout's tables, made without nianbao's renderer: a
    row with fewer cells than the widest one has its first cell merged across."""
    from docx import Document

    items: list[Any] = []  # paragraphs (str) and tables (list of rows)
    row: list[str] | None = None
    in_cell = False
    for line in text.split("\n"):
        if line.startswith("\t"):
            if not items or not isinstance(items[-1], list):
                items.append([])
            if row is None:
                row = []
                items[-1].append(row)
            row.append(line[1:])
            in_cell = True
        elif not line.strip():
            row, in_cell = None, False
        elif in_cell and row is not None:
            row[-1] += "\n" + line
        else:
            items.append(line)
    doc = Document()
    for item in items:
        if isinstance(item, str):
            doc.add_paragraph(item)
            continue
        width = max(len(r) for r in item)
        table = doc.add_table(rows=len(item), cols=width)
        for r, cells in enumerate(item):
            skip = width - len(cells)
            targets = [table.cell(r, 0).merge(table.cell(r, skip))]
            targets += [table.cell(r, skip + k) for k in range(1, len(cells))]
            for cell, value in zip(targets, cells, strict=True):
                cell.text = value
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_docx_not_made_by_nianbao(form: Form) -> None:
    data = _text_to_docx(fixture("district-2022-variants.txt").decode("utf-8"))
    result = import_report(data, "foreign.docx", form)
    assert result.fmt == "docx"
    assert result.identity["unit.name"] == "示例区文化和旅游局"
    assert_figures(result, example_values(form))
    assert result.findings == []
    assert result.values["text.other"] == "本年度未收取信息处理费。"


def _in_content_controls(data: bytes) -> bytes:
    """The same document with every table, row, cell and run and every other paragraph
    inside a content control (w:sdt), and one paragraph inside a custom XML element, as
    report templates made in Word have them."""
    from docx import Document
    from docx.oxml.ns import qn
    from lxml import etree

    doc = Document(io.BytesIO(data))
    body = doc.element.body

    def wrap(el: Any, tag: str = "w:sdt") -> None:
        parent, at = el.getparent(), el.getparent().index(el)
        outer = etree.Element(qn(tag))
        etree.SubElement(outer, qn("w:sdtPr" if tag == "w:sdt" else "w:customXmlPr"))
        holder = etree.SubElement(outer, qn("w:sdtContent")) if tag == "w:sdt" else outer
        parent.remove(el)
        parent.insert(at, outer)
        holder.append(el)

    for run in list(body.iter(qn("w:r"))):
        wrap(run)
    for cell in list(body.iter(qn("w:tc"))):
        wrap(cell)
    for row in list(body.iter(qn("w:tr"))):
        wrap(row)
    for table in list(body.iter(qn("w:tbl"))):
        wrap(table)
    paragraphs = [p for p in body if p.tag == qn("w:p")]
    for paragraph in paragraphs[::2]:
        wrap(paragraph)
    wrap(paragraphs[1], "w:customXml")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_docx_with_content_controls(form: Form) -> None:
    plain = _text_to_docx(fixture("district-2022-variants.txt").decode("utf-8"))
    wrapped = _in_content_controls(plain)
    with zipfile.ZipFile(io.BytesIO(wrapped)) as z:
        assert z.read("word/document.xml").count(b"<w:sdtContent>") > 100
    result = import_report(wrapped, "controls.docx", form)
    assert result.identity["unit.name"] == "示例区文化和旅游局"
    assert_figures(result, example_values(form))
    assert result.findings == []
    assert result.values == import_report(plain, "plain.docx", form).values


def test_catalogue_codes_exist() -> None:
    for code in STRUCTURE | VALUE_CODES | {
            "IMPORT_IDENTITY_MISSING", "IMPORT_OLD_FORMAT", "IMPORT_IDENTITY_GUESSED",
            "IMPORT_ROW_UNREAD", "IMPORT_RULE_UNCHECKED", "PUBLISHED_DIFFERS",
            "PUBLISHED_NOT_SUBMITTED", "PUBLISHED_UNIT_UNKNOWN"}:
        assert code in CATALOGUE
        assert "{report}" in CATALOGUE[code].template


# -- render -> import round trip --------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["docx", "html"])
def test_example_round_trip(form: Form, fmt: str) -> None:
    record = example_record(form, **{"t2.fees_wan_yuan": Decimal("96171.6"),
                                     "text.overview": "第一段。\n第二段。",
                                     "text.problems": "问题与改进。", "text.other": None,
                                     "note.t2": "规章一栏为 0，本机关无规章制定权。"})
    result = import_report(render_report(form, record, fmt), f"example.{fmt}", form)
    assert result.fmt == fmt
    assert result.identity == {"unit.name": "示例区文化和旅游局", "unit.code": None, "year": 2022}
    assert_figures(result, record.values)
    assert result.values["t2.fees_wan_yuan"] == Decimal("96171.6")
    for fid in ("text.overview", "text.problems", "text.other", "note.t2"):
        assert result.values[fid] == record.values[fid], fid
    assert result.findings == []


def _value(f: Any) -> st.SearchStrategy[Any]:
    options: list[st.SearchStrategy[Any]] = [st.none(), st.just(NA)]
    if f.kind == AMOUNT:
        options += [st.decimals(min_value=0, max_value=10**8, places=2),
                    st.decimals(min_value=0, max_value=10**4, places=0),
                    st.integers(0, 10**6)]
    else:
        options += [st.integers(0, 4_000_000), st.integers(0, 9), st.integers(-99, -1)]
    if f.table != "t4":  # table 四 has no row label: a row of text is not a row of figures
        options.append(st.sampled_from(["见说明", "约10件", "不详"]))
    return st.one_of(*options)


_PROSE = st.lists(st.text(alphabet="本年度工作信息公开按时发布，。；<>&\"'“”12", min_size=1,
                          max_size=24), max_size=3).map(lambda lines: "\n".join(lines) or None)

RECORDS = st.builds(
    lambda name, year, values, prose: Record(
        {"unit.name": name, "year": year}, {**values, **prose}),
    st.text(alphabet="东西南北中区县市局委办公室文旅", min_size=1, max_size=12),
    st.integers(2021, 2035),
    st.fixed_dictionaries({f.id: _value(f) for f in NUMERIC}),
    st.fixed_dictionaries({p.id: _PROSE for p in FORM.prose.fields}),
)


@pytest.mark.parametrize("fmt", ["docx", "html"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(record=RECORDS)
def test_round_trip_keeps_every_figure(fmt: str, record: Record) -> None:
    data = render_report(FORM, record, fmt)
    result = import_report(data, f"r.{fmt}", FORM)
    assert result.fmt == fmt
    assert not codes(result) & STRUCTURE
    assert_figures(result, record.values)
    assert result.identity["unit.name"] == record.identity["unit.name"]
    assert result.identity["year"] == record.identity["year"]
    for p in FORM.prose.fields:
        assert result.values.get(p.id) == record.values[p.id]
    # every printed figure that is not a plain non-negative number is reported, by field
    flagged = {f.field for f in result.findings if f.code in VALUE_CODES}
    for f in NUMERIC:
        value = record.values[f.id]
        plain = isinstance(value, int | Decimal) and value >= 0
        assert (f.id in flagged) == (not plain), f.id
