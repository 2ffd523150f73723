"""Render the annual report of one record in the official structure (.docx, .html, .md).

Everything printed comes from the Form: the title is `<机关名称><年度>年<form.title>`, the
six sections are the form's prose fields and tables ordered by their section numeral, and
each table's block titles, merged headers (the 勾稽 corner note of table 三, table 四's
three-level header) and row labels come from the same layout the Excel template is built
from (`spec.layout`), so the table structure is never written a second time.

Figures are printed exactly as recorded: blank (None or absent) stays blank, not
applicable (NA) prints "/", a Decimal keeps its digits (96171.6), an int has no
separators, text is printed as is. Output is deterministic: the same record gives the same
bytes in every format (the .docx has fixed core properties and fixed zip timestamps).

Markdown cannot merge cells: every table block is a pipe table whose row label is the full
label path joined with " / " and whose column labels are the leaf labels (the full path,
joined the same way, where leaf labels repeat, as in table 四); a note above each table
says so. The .docx and .html keep the real merged cells.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import _Cell

from nianbao.publish.prose_source import PLACEHOLDER
from nianbao.publish.record import Record
from nianbao.read.normalise import NA
from nianbao.spec.layout import layout_for
from nianbao.spec.model import Block, Form, Header, ProseField, Table

FORMATS = ("docx", "html", "md")

# Fixed document time: the same record gives the same bytes.
FIXED_TIME = datetime(2021, 9, 29)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# Layout label styles that belong to a table's printed structure (not its checks/status).
_TABLE_STYLES = {"block_title": "title", "corner": "corner", "header": "header",
                 "row_group": "row_group", "row_label": "row_label"}

MD_NOTE = ("> 注：Markdown 表格不能合并单元格，多级表头已展开：行标签写出完整的标签路径"
           "（以“ / ”连接），列标签为最末一级（有重复时写出完整路径）。")


# -- what is printed where (shared with the importer) ------------------------------------

@dataclass(frozen=True)
class Section:
    """One numbered section of the report: its heading and what it holds."""

    number: str                      # "一" ... "六"
    heading: str                     # "一、总体情况", a table's title
    prose: ProseField | None = None
    table: Table | None = None


def numeral(text: str) -> int | None:
    """The value of a small Chinese numeral ("一" -> 1, "十二" -> 12), None if it is not one."""
    digits = {c: i for i, c in enumerate("〇一二三四五六七八九")}
    if text and all(c in digits for c in text):
        return int("".join(str(digits[c]) for c in text))
    if text.count("十") == 1:
        tens, _, ones = text.partition("十")
        if (not tens or tens in digits) and (not ones or ones in digits):
            return digits.get(tens, 1) * 10 + digits.get(ones, 0)
    return None


def sections(form: Form) -> list[Section]:
    """The form's sections in report order (by section numeral, then form order)."""
    items = [Section(p.section, p.label, prose=p) for p in form.prose.fields]
    items += [Section(t.section, t.title, table=t) for t in form.tables]
    order = {id(s): i for i, s in enumerate(items)}
    return sorted(items, key=lambda s: (numeral(s.number) or 10**6, order[id(s)]))


def report_title(form: Form, record: Record) -> str:
    """`<机关名称><年度>年<form.title>`, or the record's own title when it has one."""
    if record.title:
        return record.title
    name = str(record.identity.get("unit.name") or "").strip()
    year = record.identity.get("year")
    return f"{name}{f'{year}年' if year not in (None, '') else ''}{form.title}"


def format_value(value: Any) -> str:
    """A value as printed: blank "", not applicable "/", numbers exact, text as is."""
    if value is None:
        return ""
    if value is NA:
        return "/"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        return text.removesuffix(".0")
    return str(value)


@dataclass(frozen=True)
class GridCell:
    """One printed cell of a table, possibly merged over rows and columns."""

    row: int
    col: int
    last_row: int
    last_col: int
    text: str
    role: str                 # title | corner | header | row_group | row_label | value
    field: str | None = None  # the field id of a value cell

    @property
    def rowspan(self) -> int:
        return self.last_row - self.row + 1

    @property
    def colspan(self) -> int:
        return self.last_col - self.col + 1


@dataclass(frozen=True)
class Grid:
    rows: int
    cols: int
    label_cols: int
    cells: tuple[GridCell, ...]  # ordered by (row, col)


def table_grid(form: Form, table: Table, values: dict[str, Any] | None = None) -> Grid:
    """A table as printed: the layout's label cells and value places, minus the template's
    check rows and columns, shifted to start at (0, 0). Value cells hold `values`."""
    layout = layout_for(form)
    labels = [(c.area, c.text, _TABLE_STYLES[c.style]) for c in layout.labels
              if c.area.sheet == table.sheet and c.style in _TABLE_STYLES]
    fields = [f.id for f in form.fields.values() if f.table == table.id and f.numeric]
    places = [(layout.places[fid], fid) for fid in fields if fid in layout.places]
    top = min([a.row for a, _, _ in labels] + [a.row for a, _ in places])
    bottom = max([a.last_row for a, _, _ in labels] + [a.last_row for a, _ in places])
    right = max([a.last_col for a, _, role in labels if role != "title"]
                + [a.last_col for a, _ in places])
    label_cols = min(a.col for a, _ in places)
    shown = values or {}
    cells = [GridCell(a.row - top, a.col, a.last_row - top, min(a.last_col, right), text, role)
             for a, text, role in labels]
    cells += [GridCell(a.row - top, a.col, a.last_row - top, min(a.last_col, right),
                       format_value(shown.get(fid)), "value", fid) for a, fid in places]
    cells.sort(key=lambda c: (c.row, c.col))
    return Grid(bottom - top + 1, right + 1, label_cols, tuple(cells))


def note_field(form: Form, table: Table) -> tuple[str, str] | None:
    """(field id, printed label) of a table's note, e.g. ("note.t2", "说明")."""
    if table.note is None or table.note.id not in form.fields:
        return None
    return table.note.id, form.fields[table.note.id].label_path[-1]


# -- entry point --------------------------------------------------------------------------

def render_report(form: Form, record: Record, fmt: str) -> bytes:
    """The annual report of `record` as a .docx, .html or .md file (bytes)."""
    renderers: dict[str, Callable[[Form, Record], bytes]] = {
        "docx": _docx, "html": _html, "md": _md}
    if fmt not in renderers:
        raise ValueError(f"未知的报告格式“{fmt}”，应为 {'、'.join(FORMATS)} 之一")
    return renderers[fmt](form, record)


def _prose_lines(value: Any) -> list[str]:
    if value is None or value is NA:
        return []
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return [line.strip() for line in text.split("\n") if line.strip()]


def _section_lines(prose: ProseField, record: Record) -> list[str]:
    """A prose section's lines; when empty, a marked placeholder if the record asks for
    one (a merged report: the office supplies the words)."""
    lines = _prose_lines(record.values.get(prose.id))
    if not lines and record.placeholders:
        return [PLACEHOLDER.format(label=prose.label)]
    return lines


def _note_text(form: Form, table: Table, record: Record) -> str | None:
    note = note_field(form, table)
    if note is None:
        return None
    lines = _prose_lines(record.values.get(note[0]))
    return f"{note[1]}：" + "\n".join(lines) if lines else None


# -- .docx ------------------------------------------------------------------------------

_PAGE_MARGIN = Mm(25)


def _docx(form: Form, record: Record) -> bytes:
    doc = Document()
    font = form.font
    normal = doc.styles["Normal"]
    normal.font.name = font
    normal.font.size = Pt(12)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)
    title = report_title(form, record)
    props = doc.core_properties
    props.title, props.author, props.last_modified_by = title, "nianbao", "nianbao"
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    props.comments = props.subject = props.keywords = props.category = ""
    _page(doc.sections[0], landscape=False)

    para = doc.add_paragraph()
    para.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _run(para, title, font, 18, bold=True)
    landscape = False
    for sec in sections(form):
        wide = bool(sec.table and sec.table.landscape)
        if wide != landscape:
            _page(doc.add_section(WD_SECTION.NEW_PAGE), landscape=wide)
            landscape = wide
        head = doc.add_paragraph()
        head.paragraph_format.space_before = Pt(12)
        head.paragraph_format.keep_with_next = True  # a heading never ends a page
        _run(head, sec.heading, font, 14, bold=True)
        if sec.prose is not None:
            for line in _section_lines(sec.prose, record):
                p = doc.add_paragraph()
                p.paragraph_format.first_line_indent = Pt(24)
                _run(p, line, font, 12)
        if sec.table is not None:
            _docx_table(doc, form, sec.table, record, landscape)
            note = _note_text(form, sec.table, record)
            if note:
                for line in note.split("\n"):
                    _run(doc.add_paragraph(), line, font, 10.5)
    buf = io.BytesIO()
    doc.save(buf)
    return _stable_zip(buf.getvalue())


def _page(section: Any, landscape: bool) -> None:
    width, height = Mm(210), Mm(297)
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (height, width) if landscape else (width, height)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, _PAGE_MARGIN)


def _run(paragraph: Any, text: str, font: str, size: float, bold: bool = False) -> None:
    run = paragraph.add_run(text)
    run.font.name = font
    run.font.size = Pt(size)
    run.font.bold = bold or None
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)


def _column_widths(grid: Grid, usable: int) -> list[int]:
    """Label columns get room for their text, data columns share the rest equally."""
    data = grid.cols - grid.label_cols
    if grid.label_cols == 0:
        return [usable // grid.cols] * grid.cols
    if grid.label_cols == 1:
        label = [int(usable * 0.34)]
    else:
        group = int(usable * 0.09)
        label = [group] * (grid.label_cols - 1) + [int(usable * 0.30)]
    rest = usable - sum(label)
    return label + [rest // data] * data


def _docx_table(doc: Any, form: Form, table: Table, record: Record, landscape: bool) -> None:
    grid = table_grid(form, table, record.values)
    font = form.font
    out = doc.add_table(rows=grid.rows, cols=grid.cols)
    out.style = doc.styles["Table Grid"]
    out.autofit = False
    page = Mm(297) if landscape else Mm(210)
    widths = _column_widths(grid, int(page - 2 * _PAGE_MARGIN))
    # The cell objects of the unmerged grid, taken once: `table.cell()` rescans the table on
    # every call. Merged areas never overlap, so each area's corners are still live below.
    cells = [[_Cell(tc, out) for tc in tr.tc_lst] for tr in out._tbl.tr_lst]
    for i, width in enumerate(widths):
        out.columns[i].width = width
        for row in cells:
            row[i].width = width
    _rows_print_whole(out, grid)
    for c in grid.cells:
        cell = cells[c.row][c.col]
        if c.rowspan > 1 or c.colspan > 1:
            cell = cell.merge(cells[c.last_row][c.last_col])
        for extra in cell.paragraphs[1:]:
            extra._element.getparent().remove(extra._element)
        para = cell.paragraphs[0]
        left = c.role == "row_label"
        para.alignment = WD_ALIGN_PARAGRAPH.LEFT if left else WD_ALIGN_PARAGRAPH.CENTER
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        lines = c.text.split("\n") if c.text else []
        for i, line in enumerate(lines):
            _run(para, line, font, 9, bold=c.role == "title")
            if i < len(lines) - 1:
                para.runs[-1].add_break()


def _rows_print_whole(out: Any, grid: Grid) -> None:
    """No row splits across pages (w:cantSplit); the header rows at the top of a table
    repeat on every page it spans (w:tblHeader)."""
    heads = {c.row for c in grid.cells if c.role != "value"}
    values = {c.row for c in grid.cells if c.role == "value"}
    top = 0
    while top < grid.rows and top in heads and top not in values:
        top += 1
    for i, tr in enumerate(out._tbl.tr_lst):
        pr = tr.get_or_add_trPr()
        pr.append(pr.makeelement(qn("w:cantSplit"), {}))
        if i < top:
            pr.append(pr.makeelement(qn("w:tblHeader"), {}))


def _stable_zip(data: bytes) -> bytes:
    """The same package with fixed member timestamps and attributes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            member.create_system = 3
            dst.writestr(member, src.read(info.filename))
    return out.getvalue()


# -- .html ------------------------------------------------------------------------------

_CSS = """\
@page { size: A4; margin: 25mm; }
body { font-family: "{font}", serif; max-width: 60em; margin: 2em auto; line-height: 1.7; }
h1 { text-align: center; font-size: 1.6em; }
h2 { font-size: 1.2em; margin-top: 1.6em; }
p { text-indent: 2em; margin: 0.4em 0; }
p.note { text-indent: 0; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.8em 0 1.6em; font-size: 0.9em; }
th, td { border: 1px solid #000; padding: 0.25em 0.5em; text-align: center;
         vertical-align: middle; font-weight: normal; }
th.row_label { text-align: left; }
th.title { font-weight: bold; }
"""


def _esc(text: str) -> str:
    return "<br />".join(html.escape(line, quote=True) for line in text.split("\n"))


def _html(form: Form, record: Record) -> bytes:
    title = report_title(form, record)
    out = ["<!DOCTYPE html>", '<html lang="zh-CN">', "<head>", '<meta charset="utf-8" />',
           f"<title>{_esc(title)}</title>",
           "<style>\n" + _CSS.replace("{font}", re.sub(r"[\"<>&\\;{}]", "", form.font))
           + "</style>",
           "</head>", "<body>", f"<h1>{_esc(title)}</h1>"]
    for sec in sections(form):
        out.append(f"<h2>{_esc(sec.heading)}</h2>")
        if sec.prose is not None:
            out += [f"<p>{_esc(line)}</p>" for line in
                    _section_lines(sec.prose, record)]
        if sec.table is not None:
            out += _html_table(form, sec.table, record)
            note = _note_text(form, sec.table, record)
            if note:
                out += [f'<p class="note">{_esc(line)}</p>' for line in note.split("\n")]
    out += ["</body>", "</html>", ""]
    return "\n".join(out).encode("utf-8")


def _html_table(form: Form, table: Table, record: Record) -> list[str]:
    grid = table_grid(form, table, record.values)
    starts = {(c.row, c.col): c for c in grid.cells}
    covered = {(r, k) for c in grid.cells for r in range(c.row, c.last_row + 1)
               for k in range(c.col, c.last_col + 1)}
    out = [f'<table data-table="{html.escape(table.id)}">']
    for r in range(grid.rows):
        row = []
        for k in range(grid.cols):
            c = starts.get((r, k))
            if c is None:
                if (r, k) not in covered:
                    row.append("<td></td>")
                continue
            tag = "td" if c.role == "value" else "th"
            attrs = f' class="{c.role}"'
            attrs += f' rowspan="{c.rowspan}"' if c.rowspan > 1 else ""
            attrs += f' colspan="{c.colspan}"' if c.colspan > 1 else ""
            row.append(f"<{tag}{attrs}>{_esc(c.text)}</{tag}>")
        out.append("<tr>" + "".join(row) + "</tr>")
    out.append("</table>")
    return out


# -- .md --------------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _md_line(text: str) -> str:
    """A prose line that markdown will not read as a heading, quote or table."""
    return "\\" + text if text[:1] in ("#", ">", "|", "-", "+", "*", "=") else text


def _md(form: Form, record: Record) -> bytes:
    out = [f"# {report_title(form, record)}", ""]
    for sec in sections(form):
        out += [f"## {sec.heading}", ""]
        if sec.prose is not None:
            for line in _section_lines(sec.prose, record):
                out += [_md_line(line), ""]
        if sec.table is not None:
            out += [MD_NOTE, ""]
            for block in sec.table.blocks:
                out += _md_block(sec.table, block, record)
            note = _note_text(form, sec.table, record)
            if note:
                out += [_md_line(line) for line in note.split("\n")] + [""]
    return "\n".join(out).encode("utf-8")


def _md_block(table: Table, block: Block, record: Record) -> list[str]:
    out = [f"**{block.title}**", ""] if block.title else []
    leaves = [c.path[-1] if c.path else "" for c in block.columns]
    unique = len(set(leaves)) == len(leaves)
    columns = [leaf if unique else " / ".join(c.path) for leaf, c in zip(leaves, block.columns,
                                                                           strict=True)]
    has_labels = any(r.path for r in block.rows)
    head = ([block.corner or block.stub or ""] if has_labels else []) + columns
    out.append("| " + " | ".join(_md_cell(h) for h in head) + " |")
    out.append("|" + " --- |" * len(head))
    for r in block.rows:
        cells = [" / ".join(r.path)] if has_labels else []
        cells += [format_value(record.values.get(field_id(table, r, c))) for c in block.columns]
        out.append("| " + " | ".join(_md_cell(x) for x in cells) + " |")
    return [*out, ""]


def field_id(table: Table, row: Header, col: Header) -> str:
    """The field id of one cell: table, row and column id segments joined (spec.load)."""
    return ".".join(p for p in (table.id, row.id, col.id) if p)
