"""Word (.docx) reports: tables read with python-docx, a merged cell counted once by its
underlying `<w:tc>`, content controls unwrapped at every level."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from nianbao.publish.source import Doc, DocTable, Unreadable

MAX_UNZIPPED = 200 * 1024 * 1024   # a report's package is a few MB at most


def read_docx(data: bytes) -> Doc:
    from docx import Document
    from docx.table import Table as DocxTable

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            names = {i.filename for i in infos}
            if "word/document.xml" not in names:
                what = "Excel 工作簿" if "xl/workbook.xml" in names else "压缩文件"
                raise Unreadable(f"这是{what}，不是 Word（.docx）文档", "docx")
            if sum(i.file_size for i in infos) > MAX_UNZIPPED:
                raise Unreadable("解压后过大，可能已损坏或被篡改", "docx")
    except zipfile.BadZipFile:
        raise Unreadable("压缩包已损坏，无法打开", "docx") from None
    try:
        document = Document(io.BytesIO(data))
    except Exception as exc:
        raise Unreadable(f"Word 文档已损坏，无法打开（{type(exc).__name__}）", "docx") from None
    _unwrap(document.element.body)
    items: list[str | DocTable] = []
    for block in document.iter_inner_content():
        if isinstance(block, DocxTable):
            items.append(DocTable(_docx_rows(block)))
        else:
            items.extend(block.text.split("\n"))
    return Doc(items)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# elements that only wrap content: (element, the child holding the content or None for all
# children but the properties). Word's own report templates put tables, rows, cells and
# runs inside content controls (w:sdt); python-docx reads none of what they hold.
_WRAPPERS = {f"{_W}sdt": f"{_W}sdtContent", f"{_W}customXml": None, f"{_W}smartTag": None}
_WRAPPER_PROPERTIES = {f"{_W}sdtPr", f"{_W}sdtEndPr", f"{_W}customXmlPr", f"{_W}smartTagPr"}


def _unwrap(body: Any) -> None:
    """Replace every content control (and custom XML or smart tag wrapper), at any level
    (paragraphs, tables, rows, cells, runs), by the content it holds."""
    found = list(body.iter(*_WRAPPERS))
    for el in reversed(found):  # innermost first: its content moves up before its parent's
        parent = el.getparent()
        if parent is None:
            continue
        holder = _WRAPPERS[el.tag]
        if holder is None:
            content = [c for c in el if c.tag not in _WRAPPER_PROPERTIES]
        else:
            inner = el.find(holder)
            content = list(inner) if inner is not None else []
        at = parent.index(el)
        parent.remove(el)
        for offset, child in enumerate(content):
            parent.insert(at + offset, child)


def _docx_rows(table: Any) -> list[list[str]]:
    """Rows of cell texts; a cell merged across columns once (by its `<w:tc>`), a cell
    merged down repeated in each row it covers (python-docx gives the top cell)."""
    from docx.table import _Cell

    rows = []
    for row in table.rows:
        try:
            cells = row.cells
        except Exception:  # a malformed merge: fall back to the cells as stored
            cells = tuple(_Cell(tc, table) for tc in row._tr.tc_lst)
        texts, last = [], None
        for cell in cells:
            if last is not None and cell._tc is last:
                continue
            last = cell._tc
            texts.append(cell.text)
        rows.append(texts)
    return rows


