"""Importing published reports as PDF: Word files made here (python-docx, and nianbao's own
renderer) turned into PDF by LibreOffice Writer, as offices export them, and a scan.

All PDFs are made once per test session, by one soffice run.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pdfplumber
import pytest
from docx import Document

from nianbao.findings import Severity
from nianbao.publish.importer import import_report
from nianbao.publish.record import Record
from nianbao.publish.report import render_report
from nianbao.publish.source import DocTable
from nianbao.publish.source_pdf import read_pdf
from nianbao.read.normalise import NA
from nianbao.spec.load import load_form
from nianbao.spec.model import Form
from nianbao.testing.documents import balanced_values, convert_to_pdf, writer_available
from tests.test_import import _text_to_docx, assert_figures, codes, fixture
from tests.test_import_shapes import MISPRINTS, edit_docx
from tests.test_publish import example_values

pytestmark = pytest.mark.libreoffice

UNIT = "示例县自然资源局"
FORM = load_form()


def _values(seed: int, **changes: Any) -> dict[str, Any]:
    return {**balanced_values(FORM, seed), **changes}


def _record(values: dict[str, Any], **prose: str) -> Record:
    texts = {"text.overview": "全年按时更新公开目录，各项工作有序开展，依申请公开渠道畅通，"
                              "答复均在法定期限内完成，未发生因公开不当引发的问题。"
                              "本段有意写得较长，以便在页面上折行。",
             "text.problems": "个别栏目更新不够及时。", "text.other": "本年度未收取信息处理费。",
             **prose}
    return Record({"unit.name": UNIT, "year": 2023}, {**values, **texts})


def _with_page_numbers(data: bytes) -> bytes:
    """The same Word file with a centred page number in every page's footer (a PAGE field),
    as offices print them: between the parts of a table that runs over a page break."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    doc = Document(io.BytesIO(data))
    footer = doc.sections[0].footer.paragraphs[0]   # the later sections link to it
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("- ")
    footer._p.append(parse_xml(
        f'<w:fldSimple {nsdecls("w")} w:instr="PAGE"><w:r><w:t>1</w:t></w:r></w:fldSimple>'))
    footer.add_run(" -")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _ruled(data: bytes) -> bytes:
    """The same Word file with every table drawn with lines (the 「网格型」 table style)."""
    doc = Document(io.BytesIO(data))
    for table in doc.tables:
        table.style = doc.styles["Table Grid"]
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _scan() -> bytes:
    """A Word file holding only a picture of a page: its PDF has no text."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 300), "white")
    draw = ImageDraw.Draw(image)
    for y in range(40, 280, 24):
        draw.line((40, y, 560, y), fill="black", width=2)
    png = io.BytesIO()
    image.save(png, format="PNG")
    doc = Document()
    doc.add_picture(io.BytesIO(png.getvalue()))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


DOCUMENTS: dict[str, Callable[[], bytes]] = {
    "rendered": lambda: _with_page_numbers(render_report(FORM, _record(_values(
        21, **{"t2.regulations.issued": None, "t2.regulations.repealed": NA})), "docx")),
    "foreign": lambda: _ruled(_text_to_docx(fixture("district-2022-variants.txt").decode())),
    "borderless": lambda: _text_to_docx(fixture("district-2022-variants.txt").decode()),
    "variants": lambda: edit_docx(
        render_report(FORM, _record(_values(22)), "docx"), MISPRINTS,
        title=f"{UNIT}\n2023年政府信息公开年度报告",
        preamble="本报告根据《中华人民共和国政府信息公开条例》和《中华人民共和国政府信息公开工作年度报告"
                 "格式》编制，电子版可在本局门户网站查阅。"),
    "unmatched": lambda: edit_docx(
        render_report(FORM, _record(_values(23, **{"t4.review.total": 99})), "docx"),
        {"8.属于行政查询事项": "8.其它情形"}),
    "scan": _scan,
}


@pytest.fixture(scope="session")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Every document above as a PDF, converted by one LibreOffice Writer run."""
    if not writer_available():
        if os.environ.get("NIANBAO_SKIP_LIBREOFFICE") == "1":
            pytest.skip("LibreOffice Writer is not available (NIANBAO_SKIP_LIBREOFFICE=1)")
        pytest.fail("LibreOffice Writer is not available: apt-get install -y "
                    "--no-install-recommends libreoffice-writer-nogui", pytrace=False)
    folder: Path = tmp_path_factory.mktemp("published-pdf")
    paths = []
    for name, make in DOCUMENTS.items():
        path = folder / f"{name}.docx"
        path.write_bytes(make())
        paths.append(path)
    return {p.stem: p.read_bytes() for p in convert_to_pdf(paths, folder / "pdf")}


def test_rendered_report_as_pdf(pdfs: dict[str, bytes], form: Form) -> None:
    values = _values(21, **{"t2.regulations.issued": None, "t2.regulations.repealed": NA})
    result = import_report(pdfs["rendered"], "rendered.pdf", form)
    assert result.fmt == "pdf"
    with pdfplumber.open(io.BytesIO(pdfs["rendered"])) as pdf:
        footers = [page.extract_text_lines()[-1]["text"] for page in pdf.pages]
    assert footers[:2] == ["- 1 -", "- 2 -"]
    doc = read_pdf(pdfs["rendered"])   # page numbers left out, tables over a page break whole
    assert not any(isinstance(x, str) and x.startswith("- ") for x in doc.items)
    assert sum(isinstance(x, DocTable) for x in doc.items) == len(form.tables)
    assert result.identity == {"unit.name": UNIT, "unit.code": None, "year": 2023}
    assert_figures(result, values)
    assert {f.field: f.code for f in result.findings} == {
        "t2.regulations.issued": "IMPORT_VALUE_BLANK",
        "t2.regulations.repealed": "IMPORT_VALUE_NA"}
    record = _record(values)
    for fid in ("text.overview", "text.problems", "text.other"):
        assert result.values[fid] == record.values[fid], fid   # a wrapped line joined


def test_foreign_word_file_as_pdf(pdfs: dict[str, bytes], form: Form) -> None:
    result = import_report(pdfs["foreign"], "foreign.pdf", form)
    assert result.identity["unit.name"] == "示例区文化和旅游局"
    assert result.identity["year"] == 2022
    assert_figures(result, example_values(form))
    assert result.findings == [], [f.message for f in result.findings]
    assert result.values["text.other"] == "本年度未收取信息处理费。"


def test_table_without_lines(pdfs: dict[str, bytes], form: Form) -> None:
    """Tables without ruling lines, their labels wrapped every few characters in narrow
    columns, a figure on a cell's second line: cells told apart by the gaps between words,
    wrapped labels joined by position; every figure read. Table 四's header, printed one
    character a line, is said to be missing (read in the official column order)."""
    result = import_report(pdfs["borderless"], "borderless.pdf", form)
    assert_figures(result, example_values(form))
    assert codes(result) == {"IMPORT_COLUMN_MISSING"}
    assert {f.sheet for f in result.findings} == {form.table("t4").title}
    assert result.outcome == "read"


def test_variants_and_misprints_in_a_pdf(pdfs: dict[str, bytes], form: Form) -> None:
    result = import_report(pdfs["variants"], "variants.pdf", form)
    assert result.identity == {"unit.name": UNIT, "unit.code": None, "year": 2023}
    assert_figures(result, _values(22))
    assert result.findings == [], [f.message for f in result.findings]
    assert result.values["text.problems"] == "个别栏目更新不够及时。"


def test_unmatched_row_and_a_real_imbalance_in_a_pdf(pdfs: dict[str, bytes],
                                                     form: Form) -> None:
    values = _values(23, **{"t4.review.total": 99})
    result = import_report(pdfs["unmatched"], "unmatched.pdf", form)
    unread = [f for f in result.findings if f.code == "IMPORT_ROW_UNREAD"]
    assert len(unread) == 1 and unread[0].values["found"].startswith("8.其它情形")
    assert {f.rule for f in result.findings if f.code == "IMPORT_RULE_UNCHECKED"} == {"R5", "R6"}
    assert [(f.rule, f.field) for f in result.findings if f.code == "UNBALANCED"] == [
        ("R7", "t4.review.total")]
    read = {k: v for k, v in values.items() if not k.startswith("t3.denied.inquiry.")}
    assert all(result.values[k] == v for k, v in read.items())
    assert not any(k.startswith("t3.denied.inquiry.") for k in result.values)
    assert result.outcome == "unread"


def test_scanned_pdf(pdfs: dict[str, bytes], form: Form) -> None:
    result = import_report(pdfs["scan"], "scan.pdf", form)
    assert result.fmt == "pdf" and result.outcome == "failed"
    assert [f.code for f in result.findings] == ["IMPORT_UNREADABLE"]
    finding = result.findings[0]
    assert "这是扫描件，没有可读取的文字" in finding.message and "scan.pdf" in finding.message
    assert finding.severity == Severity.FATAL


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_pdf(pdfs: dict[str, bytes], form: Form, cut: float) -> None:
    """A PDF cut short: a finding, never a traceback, and no figure read wrong."""
    data = pdfs["rendered"]
    result = import_report(data[: int(len(data) * cut)], "cut.pdf", form)
    assert result.fmt == "pdf" and result.findings
    values = _values(21, **{"t2.regulations.issued": None, "t2.regulations.repealed": NA})
    assert all(result.values[k] is v or result.values[k] == v
               for k, v in values.items() if k in result.values)
