"""PDF reports (text PDFs as offices export them from Word or WPS), read with pdfplumber.

Tables are rebuilt from the ruling lines and the positions of the words (pdfplumber's table
finder); a cell merged across columns or rows is kept once (pdfplumber gives None for the
positions it covers), an empty cell stays an empty cell. A page without ruling lines has its
cells told apart by the gaps between words, and is read like pasted text. The text outside
the tables is read line by line (centred page numbers left out), and a line that runs to
the right margin is joined to the next one (a paragraph wrapped by the page, not a new
paragraph). A table that starts a page right after a table that ended the page before is
the same table continued. A PDF without any text (a scan), or whose fonts do not say which
characters their glyphs are, is not guessed at.
"""

from __future__ import annotations

import io
import re
from typing import Any

from nianbao.publish.source import Doc, DocTable, Unreadable
from nianbao.publish.source_text import is_figure, read_text

_HEADING = re.compile(r"^([一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）])")
_NUMBERED = re.compile(r"^[（(]?[0-9一二三四五六七八九十]+[)）.、．]")
_PAGE_NUMBER = re.compile(r"^[-—－\s]*\d+[-—－\s]*$|^第\s*\d+\s*页(\s*[,，]?\s*共\s*\d+\s*页)?$"
                          r"|^\d+\s*/\s*\d+$")
MAX_PAGES = 200       # a report has a few pages; more is not an annual report


def read_pdf(data: bytes) -> Doc:
    """The paragraphs and tables of a PDF, in reading order."""
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PDFPasswordIncorrect:
        raise Unreadable("PDF 文件设置了打开密码", "pdf") from None
    except Exception as exc:
        raise Unreadable(f"PDF 文件已损坏，无法打开（{type(exc).__name__}）", "pdf") from None
    with pdf:
        if len(pdf.pages) > MAX_PAGES:
            raise Unreadable(f"PDF 共 {len(pdf.pages)} 页，不像是一份年度报告", "pdf")
        chars = [c["text"] for page in pdf.pages for c in page.chars]
        if not chars:
            raise Unreadable("这是扫描件，没有可读取的文字", "pdf")
        if sum(c.startswith("(cid:") for c in chars) * 2 > len(chars):
            raise Unreadable("PDF 中的字体没有文字编码，文字无法提取（复制出来是乱码）", "pdf")
        items: list[str | DocTable] = []
        for page in pdf.pages:
            _read_page(page, items)
        title = pdf.metadata.get("Title")
    return Doc(items, title if isinstance(title, str) and title.strip() else None)


def _read_page(page: Any, items: list[str | DocTable]) -> None:
    tables = page.find_tables()
    if not tables:  # no ruling lines: cells told apart by the gaps between words
        _place(read_text("\n".join(_unruled_lines(page))).items, items)
        return
    boxes = [t.bbox for t in tables]
    placed: list[tuple[float, str | DocTable]] = [(t.bbox[1], DocTable(_rows(t)))
                                                  for t in tables]

    def outside(obj: dict[str, Any]) -> bool:
        mid_x, mid_y = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= mid_x <= x1 and top <= mid_y <= bottom
                       for x0, top, x1, bottom in boxes)

    placed += _paragraph_lines(page.filter(outside))
    placed.sort(key=lambda item: item[0])
    _place([item for _, item in placed], items)


def _place(page_items: list[str | DocTable], items: list[str | DocTable]) -> None:
    """A page's items after the pages before; a table that starts the page continues a
    table that ended the page before."""
    for at, item in enumerate(page_items):
        if isinstance(item, DocTable) and at == 0 and items and isinstance(items[-1], DocTable):
            _continue(items[-1], item)  # the table went on over the page break
        else:
            items.append(item)


def _rows(table: Any) -> list[list[str]]:
    """Rows of cell texts; the positions a merged cell covers (None) left out."""
    rows = []
    for row in table.extract():
        rows.append([cell for cell in row if cell is not None])
    return [row for row in rows if row]


def _continue(table: DocTable, more: DocTable) -> None:
    """Rows of a table's continuation on the next page. A row cut by the page break (the
    rest of its labels at the top of the next page, in as many cells, with no figures and
    no numbering of its own) is joined to its first part cell by cell."""
    if table.rows and more.rows:
        last, first = table.rows[-1], more.rows[0]
        text = next((c.strip() for c in first if c.strip()), "")
        if len(last) == len(first) and text and not _NUMBERED.match(text) \
                and not any(is_figure(c) for c in first if c.strip()):
            table.rows[-1] = [a + b for a, b in zip(last, first, strict=True)]
            more.rows = more.rows[1:]
    table.rows += more.rows


def _text_lines(page: Any) -> list[dict[str, Any]]:
    """pdfplumber's text lines of a page, without the centred page numbers."""
    lines = [line for line in page.extract_text_lines(keep_blank_chars=False)
             if line["text"].strip()]
    return [line for at, line in enumerate(lines)
            if not (at in (0, len(lines) - 1) and _page_number(line, page.width))]


def _size(line: dict[str, Any]) -> float:
    return float(max((c.get("size", 10) for c in line.get("chars", [])), default=10))


def _paragraph_lines(page: Any) -> list[tuple[float, str]]:
    """The page's text lines outside tables, a line wrapped at the right margin joined to
    the next line of the same size that is not a heading."""
    lines = _text_lines(page)
    if not lines:
        return []
    left = min(line["x0"] for line in lines)
    right = max(max(line["x1"] for line in lines), page.width - left)  # margins alike
    out: list[tuple[float, str]] = []
    last_size, joining = 0.0, False
    for line in lines:
        size, text = _size(line), line["text"].strip()
        if joining and abs(size - last_size) < 0.5 and not _HEADING.match(text):
            out[-1] = (out[-1][0], out[-1][1] + text)
        else:
            out.append((line["top"], text))
        # a full line runs from the left margin (or a paragraph's indent) to within two
        # characters of the right one; a centred title, a heading or a paragraph's short
        # last line does not
        joining = line["x0"] <= left + 3 * size and line["x1"] >= right - 2 * size
        last_size = size
    return out


def _unruled_lines(page: Any) -> list[str]:
    """A page without ruling lines as lines of tab-separated cells. A line right under a row
    with figures whose labels each lie under a label filling its column of that row (a
    label wrapped in a narrow column), and whose figures lie where that row has none (a
    cell whose figure went onto its second line), is the rest of that row: joined to it."""
    rows: list[tuple[dict[str, Any], list[list[Any]]]] = []
    for line in _text_lines(page):
        size = _size(line)
        spans = _spans(line["chars"], size)
        if rows and _wrapped(rows[-1][0], rows[-1][1], line, spans, size):
            cells = rows[-1][1]
            for x0, x1, text in spans:
                under = [c for c in cells if c[0] < x1 and x0 < c[1]]
                if under:
                    under[0][2] += text
                else:
                    cells.append([x0, x1, text])
            cells.sort(key=lambda c: c[0])
            rows[-1] = (line, cells)
        else:
            rows.append((line, [list(span) for span in spans]))
    return ["\t".join(cell[2] for cell in cells) for _, cells in rows]


def _wrapped(above: dict[str, Any], cells: list[list[Any]], line: dict[str, Any],
             spans: list[tuple[float, float, str]], size: float) -> bool:
    """Whether a line continues the row above it (see `_unruled_lines`)."""
    if line["top"] - above["bottom"] > size * 0.8 or not any(is_figure(c[2]) for c in cells) \
            or not spans or _HEADING.match(spans[0][2]) or _NUMBERED.match(spans[0][2]):
        return False
    labels = 0
    for x0, x1, text in spans:
        under = [c for c in cells if c[0] < x1 and x0 < c[1]]
        if is_figure(text):
            if under:
                return False
            continue
        if len(under) != 1 or is_figure(under[0][2]):
            return False
        after = [c[0] for c in cells if c[0] > under[0][1]]
        if not after or min(after) - under[0][1] > 2.5 * size:  # not filling its column
            return False
        labels += 1
    return labels > 0


def _page_number(line: dict[str, Any], width: float) -> bool:
    """A page number: a header's or footer's centred 「- 3 -」, 「第3页 共8页」, 「3/8」."""
    centre = (line["x0"] + line["x1"]) / 2
    return abs(centre - width / 2) < width * 0.1 and bool(_PAGE_NUMBER.match(line["text"].strip()))


def _spans(chars: list[dict[str, Any]], size: float) -> list[tuple[float, float, str]]:
    """A line's pieces of text (x0, x1, text), a gap over a character wide between two
    pieces (the next cell of a table drawn without lines)."""
    out: list[tuple[float, float, str]] = []
    for ch in chars:
        if ch["text"].isspace():
            continue
        if out and ch["x0"] - out[-1][1] <= size:
            x0, _, text = out[-1]
            gap = " " if ch["x0"] - out[-1][1] > size / 4 else ""
            out[-1] = (x0, ch["x1"], text + gap + ch["text"])
        else:
            out.append((ch["x0"], ch["x1"], ch["text"]))
    return out
