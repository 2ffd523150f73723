"""Import a published annual report (.pdf, .docx, .html or text, not made by nianbao).

The format is sniffed from the bytes: `%PDF-` is a PDF (`source_pdf`: tables rebuilt from
ruling lines and word positions by pdfplumber; a scan without text is said to be one), a
zip holding word/document.xml is a .docx (`source_docx`), text holding `<html` or `<table`
is HTML (`source_html`), anything else is text in any of the shapes people paste
(`source_text`). All become one neutral document (`source.Doc`), read against the Form by
`import_reader`: label matching in `labels`, tables in `import_tables`, identity in
`identity`.
"""

from __future__ import annotations

from nianbao.findings import make
from nianbao.publish.import_reader import Reader
from nianbao.publish.import_result import UNREAD_CODES, ImportResult
from nianbao.publish.labels import label_key, match, score
from nianbao.publish.source import Doc, Unreadable, decode_text
from nianbao.spec.model import Form

__all__ = ["UNREAD_CODES", "ImportResult", "import_report", "label_key", "match", "score"]

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_REPORT = 100 * 1024 * 1024   # a published report is a few MB; a PDF with scans tens
def import_report(data: bytes, name: str, form: Form) -> ImportResult:
    """Read a published report into a record with findings; never raises on a bad file."""
    result = ImportResult(identity={"unit.name": None, "unit.code": None, "year": None})
    try:
        result.fmt, doc = _parse(data)
    except Unreadable as exc:
        result.fmt = exc.fmt
        result.findings.append(make("IMPORT_UNREADABLE", file=name, report=name,
                                    detail=str(exc)))
        return result
    except Exception as exc:  # a hostile file must give a finding, not a traceback
        result.findings.append(make("IMPORT_UNREADABLE", file=name, report=name,
                                    detail=f"文件已损坏或格式异常：{type(exc).__name__}"))
        return result
    try:
        Reader(form, name, doc, result).read()
    except Exception as exc:  # same promise for a document whose content defeats the reader
        result.findings.append(make("IMPORT_UNREADABLE", file=name, report=name,
                                    detail=f"无法识别文档内容：{type(exc).__name__}"))
    return result


def _parse(data: bytes) -> tuple[str, Doc]:
    if not data:
        raise Unreadable("文件为空（0 字节）")
    if len(data) > MAX_REPORT:
        raise Unreadable(f"文件过大（{len(data) // (1024 * 1024)} MB），不像是一份年度报告")
    if data[:4] == b"PK\x03\x04":
        from nianbao.publish.source_docx import read_docx

        return "docx", read_docx(data)
    if data[:8] == _OLE:
        raise Unreadable("这是旧版 Word 97-2003（.doc）或 WPS 格式，请另存为 .docx")
    if data[:1024].lstrip()[:5] == b"%PDF-":
        from nianbao.publish.source_pdf import read_pdf

        return "pdf", read_pdf(data)
    text = decode_text(data)
    from nianbao.publish.source_html import looks_like_html, read_html

    if looks_like_html(text):
        return "html", read_html(text)
    from nianbao.publish.source_text import read_text

    return "text", read_text(text)
