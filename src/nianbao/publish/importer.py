"""Import a published annual report (.docx, .html or plain text, not made by nianbao).

The format is sniffed from the bytes: a zip holding word/document.xml is a .docx (tables
read with python-docx, a merged cell counted once by its underlying `<w:tc>`, content
controls unwrapped at every level), text holding
`<html` or `<table` is HTML (stdlib html.parser; rowspan/colspan expanded into a grid),
anything else is plain text laid out like a text extraction of a .docx (every cell on its
own tab-indented line, rows separated by blank lines, a cell continued on untabbed lines).

All three become one neutral document: paragraphs and tables of rows of cell texts. The
three tables of the form are then found by their labels, the figures read with
`normalise` (blank, "/" and 0 stay distinct), the prose of the form's prose sections
taken from between the section headings, and the form's rules run over what was read:
a published report that does not balance is reported, never corrected, and totals are
taken as printed, never recomputed.

Labels are matched by normalised keys derived from the Form's own labels (`label_key`):
NFKC, whitespace, punctuation and bracket characters dropped, a trailing bracketed remark
dropped (`（区分处理的，只计这一情形，…）`, `（历史累计）`, `（单位：万元）`), and the
connectives 及/与/和 dropped (`行政复议及行政诉讼情况`). Two keys match exactly, by prefix
or, weakest, by suffix (`规范性文件` for `行政规范性文件`). There is no second list of
labels here: every label searched for is the Form's.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from nianbao.findings import Finding, make
from nianbao.publish.record import Record
from nianbao.publish.report import Section, field_id, format_value, note_field, sections
from nianbao.read.normalise import NA, normalise
from nianbao.spec.expr import Ref, Side
from nianbao.spec.model import COUNT, Block, Form, Header, Table
from nianbao.text import decode_chinese
from nianbao.validate.rules import check_rules

MAX_UNZIPPED = 200 * 1024 * 1024   # a report's package is a few MB at most
MAX_SPAN = 1000                    # rowspan/colspan beyond this is not a real table
MAX_GRID = 500_000                 # grid positions of one HTML table
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class ImportResult:
    """What was read from one published report, and what was found wrong with it."""

    identity: dict[str, Any] = field(default_factory=dict)   # unit.name, unit.code, year
    values: dict[str, Any] = field(default_factory=dict)     # field id -> value as printed
    findings: list[Finding] = field(default_factory=list)
    fmt: str | None = None                                   # "docx" | "html" | "text"

    def record(self) -> Record:
        return Record(dict(self.identity), dict(self.values))


def import_report(data: bytes, name: str, form: Form) -> ImportResult:
    """Read a published report into a record with findings; never raises on a bad file."""
    result = ImportResult(identity={"unit.name": None, "unit.code": None, "year": None})
    try:
        result.fmt, doc = _parse(data)
    except _Unreadable as exc:
        result.fmt = exc.fmt
        result.findings.append(make("IMPORT_UNREADABLE", file=name, report=name,
                                    detail=str(exc)))
        return result
    except Exception as exc:  # a hostile file must give a finding, not a traceback
        result.findings.append(make("IMPORT_UNREADABLE", file=name, report=name,
                                    detail=f"文件已损坏或格式异常：{type(exc).__name__}"))
        return result
    try:
        _Reader(form, name, doc, result).read()
    except Exception as exc:  # same promise for a document whose content defeats the reader
        result.findings.append(make("IMPORT_UNREADABLE", file=name, report=name,
                                    detail=f"无法识别文档内容：{type(exc).__name__}"))
    return result


# -- the neutral document -----------------------------------------------------------------

@dataclass
class _Table:
    rows: list[list[str]]


@dataclass
class _Doc:
    items: list[str | _Table]        # paragraphs (one line each) and tables, in order
    title: str | None = None         # an HTML page's <title>


class _Unreadable(Exception):
    def __init__(self, detail: str, fmt: str | None = None) -> None:
        super().__init__(detail)
        self.fmt = fmt


def _parse(data: bytes) -> tuple[str, _Doc]:
    if not data:
        raise _Unreadable("文件为空（0 字节）")
    if data[:4] == b"PK\x03\x04":
        return "docx", _read_docx(data)
    if data[:8] == _OLE:
        raise _Unreadable("这是旧版 Word 97-2003（.doc）或 WPS 格式，请另存为 .docx")
    if data[:5] == b"%PDF-":
        raise _Unreadable("这是 PDF 文件，其中的表格无法可靠读取")
    text = _decode(data)
    if re.search(r"<html|<table", text, re.IGNORECASE):
        return "html", _read_html(text)
    return "text", _read_text(text)


def _decode(data: bytes) -> str:
    text = decode_chinese(data)
    if text is None:
        raise _Unreadable("既不是 .docx，也无法按 UTF-8 或 GB18030 解码为文字")
    control = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v")
    if "\x00" in text or control > max(2, len(text) // 100):
        raise _Unreadable("文件含有二进制数据，不是 .docx、网页或文字文件")
    return text


def _read_docx(data: bytes) -> _Doc:
    from docx import Document
    from docx.table import Table as DocxTable

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            names = {i.filename for i in infos}
            if "word/document.xml" not in names:
                what = "Excel 工作簿" if "xl/workbook.xml" in names else "压缩文件"
                raise _Unreadable(f"这是{what}，不是 Word（.docx）文档", "docx")
            if sum(i.file_size for i in infos) > MAX_UNZIPPED:
                raise _Unreadable("解压后过大，可能已损坏或被篡改", "docx")
    except zipfile.BadZipFile:
        raise _Unreadable("压缩包已损坏，无法打开", "docx") from None
    try:
        document = Document(io.BytesIO(data))
    except Exception as exc:
        raise _Unreadable(f"Word 文档已损坏，无法打开（{type(exc).__name__}）", "docx") from None
    _unwrap(document.element.body)
    items: list[str | _Table] = []
    for block in document.iter_inner_content():
        if isinstance(block, DocxTable):
            items.append(_Table(_docx_rows(block)))
        else:
            items.extend(block.text.split("\n"))
    return _Doc(items)


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


def _read_text(text: str) -> _Doc:
    """The text layout of an extracted .docx: `\\tcell` lines, blank line between rows,
    untabbed lines right after a cell continue it, other lines are paragraphs."""
    text = re.sub(r"\[bookmark: [^\]]*\]", "", text)  # extraction artefacts
    items: list[str | _Table] = []
    table: _Table | None = None
    row: list[str] | None = None
    in_cell = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.startswith("\t"):
            if table is None:
                table = _Table([])
                items.append(table)
            if row is None:
                row = []
                table.rows.append(row)
            row.append(line[1:])
            in_cell = True
        elif not line.strip():
            row, in_cell = None, False
        elif in_cell and row is not None:
            row[-1] += "\n" + line
        else:
            table = row = None
            items.append(line)
    return _Doc(items)


# -- HTML -------------------------------------------------------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
         "source", "track", "wbr"}
_BLOCK = {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd",
          "div", "dl", "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
          "h5", "h6", "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section",
          "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
_SKIP = {"script", "style", "template", "noscript", "head"}


class _Node:
    __slots__ = ("attrs", "children", "tag")

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs = tag, attrs
        self.children: list[_Node | str] = []

    def find(self, tag: str) -> _Node | None:
        for child in self.children:
            if isinstance(child, _Node):
                if child.tag == tag:
                    return child
                found = child.find(tag)
                if found is not None:
                    return found
        return None


class _TreeBuilder(HTMLParser):
    """A forgiving DOM: unclosed <p>/<td>/<tr> are closed the way browsers do."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {})
        self.stack = [self.root]

    def _close(self, names: set[str], stop: set[str]) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            tag = self.stack[i].tag
            if tag in names:
                del self.stack[i:]
                return
            if tag in stop:
                return

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("td", "th"):
            self._close({"td", "th"}, {"tr", "table"})
        elif tag == "tr":
            self._close({"tr"}, {"table"})
        elif tag in ("thead", "tbody", "tfoot"):
            self._close({"thead", "tbody", "tfoot"}, {"table"})
        if tag in _BLOCK:
            self._close({"p"}, {"td", "th", "table", "li", "div", "body"})
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        stop = set() if tag == "table" else {"table"}
        self._close({tag}, stop)

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _read_html(text: str) -> _Doc:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    head_title = builder.root.find("title")
    doc = _Doc([], _inline_text(head_title).strip() if head_title else None)
    buf: list[str] = []

    def flush() -> None:
        for line in "".join(buf).split("\n"):
            line = re.sub(r"[ \t\r\n\f]+", " ", line).strip()
            if line:
                doc.items.append(line)
        buf.clear()

    def walk(node: _Node) -> None:
        for child in node.children:
            if isinstance(child, str):
                buf.append(child)
                continue
            if child.tag in _SKIP:
                continue
            if child.tag == "br":
                buf.append("\n")
            elif child.tag == "table" and child.find("table") is None:
                flush()
                doc.items.append(_Table(_html_rows(child)))
            elif child.tag in _BLOCK:
                flush()
                walk(child)
                flush()
            else:
                walk(child)

    walk(builder.root)
    flush()
    return doc


def _inline_text(node: _Node) -> str:
    parts = []
    for child in node.children:
        if isinstance(child, str):
            parts.append(child)
        elif child.tag == "br":
            parts.append("\n")
        elif child.tag not in _SKIP:
            inner = _inline_text(child)
            parts.append(f"\n{inner}\n" if child.tag in _BLOCK else inner)
    return "".join(parts)


def _cell_text(node: _Node) -> str:
    lines = (re.sub(r"[ \t\r\n\f]+", " ", s).strip() for s in _inline_text(node).split("\n"))
    return "\n".join(s for s in lines if s)


def _span(node: _Node, name: str) -> int:
    try:
        return min(max(int(node.attrs.get(name, "1").strip() or 1), 1), MAX_SPAN)
    except ValueError:
        return 1


def _html_rows(table: _Node) -> list[list[str]]:
    """Rows of cell texts from a grid with rowspan/colspan expanded, each cell once per
    row it covers (like python-docx's rows)."""
    trs: list[_Node] = []
    for child in table.children:
        if isinstance(child, _Node):
            if child.tag == "tr":
                trs.append(child)
            elif child.tag in ("thead", "tbody", "tfoot"):
                trs += [g for g in child.children if isinstance(g, _Node) and g.tag == "tr"]
    grid: list[dict[int, int]] = [{} for _ in trs]  # row -> column -> cell number
    texts: list[str] = []
    size = 0
    for r, tr in enumerate(trs):
        col = 0
        for td in (c for c in tr.children if isinstance(c, _Node) and c.tag in ("td", "th")):
            while col in grid[r]:
                col += 1
            rowspan = min(_span(td, "rowspan"), len(trs) - r)
            colspan = _span(td, "colspan")
            size += rowspan * colspan
            if size > MAX_GRID:
                raise _Unreadable("网页中的表格过大或行列合并异常", "html")
            texts.append(_cell_text(td))
            for dr in range(rowspan):
                for dc in range(colspan):
                    grid[r + dr][col + dc] = len(texts) - 1
            col += colspan
    return [[texts[i] for i in dict.fromkeys(row[c] for c in sorted(row))] for row in grid]


# -- matching labels ------------------------------------------------------------------------

_REMARK = re.compile(r"[(\[【〔][^()\[\]【】〔〕]*[)\]】〕]$")
_CONNECTIVES = str.maketrans("", "", "及与和")
_NUMERAL = re.compile(r"^[〇一二三四五六七八九十]+")


def label_key(text: str) -> str:
    """The key a label is matched by (see the module docstring)."""
    key = "".join(unicodedata.normalize("NFKC", text).split())
    while (m := _REMARK.search(key)) and m.start() > 0:
        key = key[: m.start()]
    key = "".join(ch for ch in key if unicodedata.category(ch)[0] in "LN")
    return key.translate(_CONNECTIVES)


def match(found: str, wanted: str) -> int:
    """How well a found key matches a wanted one: 3 exact, 2 prefix, 1 suffix, 0 not."""
    if not found or not wanted:
        return 0
    if found == wanted:
        return 3
    short = min(len(found), len(wanted))
    if short >= 2 and (found.startswith(wanted) or wanted.startswith(found)):
        return 2
    if short >= 3 and (found.endswith(wanted) or wanted.endswith(found)):
        return 1
    return 0


def _table_labels(table: Table) -> set[str]:
    labels = {b.title for b in table.blocks} | {b.stub for b in table.blocks}
    labels |= {b.corner for b in table.blocks}
    labels |= {p for b in table.blocks for h in (*b.columns, *b.rows) for p in h.path}
    return {label_key(x) for x in labels if x}


# -- reading ----------------------------------------------------------------------------

class _Reader:
    def __init__(self, form: Form, name: str, doc: _Doc, result: ImportResult) -> None:
        self.form, self.name, self.doc, self.result = form, name, doc, result
        self.values = result.values
        self.sections = sections(form)
        self.headings: dict[str, int] = {}  # section number -> item index
        rule = form.value_rule
        self.rule_id, self.rule_text = (rule.id, rule.text) if rule else (None, "")

    def add(self, code: str, **kw: Any) -> None:
        self.result.findings.append(make(code, file=self.name, report=self.name, **kw))

    def read(self) -> None:
        self.find_headings()
        self.identity()
        self.tables()
        self.prose()
        findings = check_rules(self.form, self.values, file=self.name)
        self.result.findings += [self.relocate(f) for f in findings]

    # -- structure --------------------------------------------------------------------
    def find_headings(self) -> None:
        wanted = []
        for sec in self.sections:
            key = label_key(sec.heading)
            wanted.append((sec, key, _NUMERAL.sub("", key)))
        for i, item in enumerate(self.doc.items):
            if not isinstance(item, str) or len(item.strip()) > 60:
                continue
            key = label_key(item)
            for sec, full, bare in wanted:
                if sec.number not in self.headings and key and key in (full, bare):
                    self.headings[sec.number] = i
                    break

    def section_items(self, sec: Section) -> list[str | _Table] | None:
        start = self.headings.get(sec.number)
        if start is None:
            return None
        after = [i for i in self.headings.values() if i > start]
        return self.doc.items[start + 1: min(after, default=len(self.doc.items))]

    def identity(self) -> None:
        first = min(self.headings.values(), default=len(self.doc.items))
        lines = [x.strip() for x in self.doc.items[:first] if isinstance(x, str) and x.strip()]
        if self.doc.title:
            lines.append(self.doc.title)
        want = "".join(unicodedata.normalize("NFKC", self.form.title).split())
        for i, line in enumerate(lines):
            text = "".join(unicodedata.normalize("NFKC", line).split())
            at = text.find(want)
            if at < 0:
                continue
            # the name is cut from the line as printed: NFKC would turn the official
            # full-width brackets of a unit's name into half-width ones
            raw = "".join(line.split())
            raw_at = raw.find("".join(self.form.title.split()))
            head = raw[:raw_at] if raw_at >= 0 else text[:at]
            year = None
            m = re.search(r"(\d{4}|[〇零一二三四五六七八九]{4})年度?$", head)
            if m:
                digits = m.group(1).translate(str.maketrans("〇零一二三四五六七八九",
                                                            "00123456789"))
                year = int(digits) if 2000 <= int(digits) <= 2100 else None
                head = head[: m.start()]
            name = head.strip("《》“”\"'：:，,。 ") or None
            if name is None and i > 0 and len(lines[i - 1]) <= 30 \
                    and not re.search(r"[。；;，,：:]", lines[i - 1]):
                name = lines[i - 1]
            self.result.identity.update({"unit.name": name, "year": year})
            break
        labels = {f.id: f.label for f in self.form.cover.fields}
        for fid in ("unit.name", "year"):
            if self.result.identity.get(fid) is None:
                self.add("IMPORT_IDENTITY_MISSING", field=fid, label=labels.get(fid, fid))
        year = self.result.identity.get("year")
        if year is not None and year < self.form.first_year:
            self.add("IMPORT_OLD_FORMAT", field="year", year=year,
                     first_year=self.form.first_year)

    def prose(self) -> None:
        for sec in self.sections:
            items = self.section_items(sec)
            if sec.prose is not None:
                if items is None:
                    self.add("IMPORT_SECTION_MISSING", field=sec.prose.id, label=sec.heading,
                             section=sec.number)
                    continue
                lines = [x.strip() for x in items if isinstance(x, str) and x.strip()]
                self.values[sec.prose.id] = "\n".join(lines) or None
            elif sec.table is not None and items is not None:
                self.note(sec.table, items)

    def note(self, table: Table, items: list[str | _Table]) -> None:
        note = note_field(self.form, table)
        if note is None:
            return
        lines = [x.strip() for x in items if isinstance(x, str) and x.strip()]
        for i, line in enumerate(lines):
            head = unicodedata.normalize("NFKC", line)
            if head.startswith(note[1]) and head[len(note[1]): len(note[1]) + 1] == ":":
                first = line[len(note[1]) + 1:].strip()
                self.values[note[0]] = "\n".join(([first] if first else []) + lines[i + 1:])
                return

    # -- tables -----------------------------------------------------------------------
    def tables(self) -> None:
        docs = [x for x in self.doc.items if isinstance(x, _Table)]
        labels = {t.id: _table_labels(t) for t in self.form.tables}
        rows: dict[str, list[list[str]]] = {t.id: [] for t in self.form.tables}
        for doc_table in docs:
            keys = {label_key(c) for row in doc_table.rows for c in row}
            keys.discard("")
            scores = {tid: sum(1 for want in wanted if any(match(k, want) for k in keys))
                      for tid, wanted in labels.items()}
            best = max(scores, key=lambda tid: (scores[tid], -len(labels[tid])))
            if scores[best] >= 2:
                rows[best] += doc_table.rows
        for table in self.form.tables:
            if not rows[table.id]:
                self.add("IMPORT_TABLE_MISSING", sheet=table.title, table=table.id)
                continue
            _TableReader(self, table, rows[table.id]).read()

    def value(self, table: Table, fid: str, text: str) -> None:
        """One figure as printed; blank, not applicable and 0 stay distinct."""
        f = self.form.fields[fid]
        where = {"sheet": table.title, "cell": f.label, "field": fid}
        raw = text.strip()
        if not raw:
            self.values[fid] = None
            self.add("IMPORT_VALUE_BLANK", **where)
            return
        got = normalise(raw, f.kind, f.not_applicable)
        value = got.value
        if got.code == "VALUE_NORMALISED":
            if not _PLAIN_NUMBER.fullmatch(raw):
                notes = [n for n in got.detail.split("，") if n and n != "数字以文本形式存储"]
                self.add("IMPORT_VALUE_READ", found=raw, value=format_value(value),
                         detail="，".join(notes) or got.detail, **where)
        elif got.code == "VALUE_NOT_APPLICABLE":
            self.add("IMPORT_VALUE_NA", found=raw, **where)
        elif got.code is not None:
            if got.code == "VALUE_NA_NOT_ALLOWED":
                value = NA
            elif got.code == "VALUE_TEXT":
                value = raw
            self.add("IMPORT_VALUE", rule=self.rule_id, rule_text=self.rule_text, found=raw,
                     detail=_PROBLEMS.get(got.code, got.detail), problem=got.code, **where)
        self.values[fid] = value

    # -- rule findings, located in the report's own terms -------------------------------
    def relocate(self, finding: Finding) -> Finding:
        """check_rules locates a failing rule in the Excel template's cells; a published
        report has none, so name the table, the row/column labels and the fields instead."""
        inst = next((i for i in self.form.instances
                     if i.id == finding.values.get("instance")), None)
        if inst is None:
            return finding
        anchor = self.form.fields[inst.anchor]
        table = self.form.table(anchor.table) if anchor.table else None
        refs = list(dict.fromkeys(r.field for r in inst.comparison.refs))
        short = _short_labels([self.form.fields[r].label_path for r in refs])
        names = dict(zip(refs, short, strict=True))
        v = finding.values
        return make(
            "UNBALANCED", file=self.name, sheet=table.title if table else None,
            cell=anchor.label, field=inst.anchor, rule=inst.rule.id,
            severity=finding.severity, where_label=inst.where, rule_text=inst.rule.text,
            lhs=v.get("lhs"), rhs=v.get("rhs"), diff=v.get("diff"),
            lhs_expr=_expr(inst.comparison.lhs, names), rhs_expr=_expr(inst.comparison.rhs, names),
            cells=_shorten(list(names.values()), "、"), instance=inst.id,
        )


_PLAIN_NUMBER = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")
_PROBLEMS = {
    "VALUE_TEXT": "不是数字",
    "VALUE_NA_NOT_ALLOWED": "此项不能为「不适用」",
    "VALUE_NEGATIVE": "不能为负数",
    "VALUE_FRACTION": "件数必须是整数",
    "VALUE_TOO_LARGE": "数值过大",
}


def _short_labels(paths: list[tuple[str, ...]]) -> list[str]:
    """Label paths without the parts all of them share ("自然人", "行政复议", ...)."""
    if len(paths) < 2:
        return [" / ".join(p) for p in paths]
    head = 0
    while all(len(p) > head + 1 and p[head] == paths[0][head] for p in paths):
        head += 1
    tail = 0
    while all(len(p) > head + tail + 1 and p[-1 - tail] == paths[0][-1 - tail] for p in paths):
        tail += 1
    return ["·".join(p[head: len(p) - tail]) for p in paths]


def _shorten(parts: list[str], sep: str) -> str:
    if len(parts) <= 5:
        return sep.join(parts)
    return f"{sep.join(parts[:2])}{sep}…{sep}{parts[-1]}（共 {len(parts)} 项）"


def _expr(side: Side, names: dict[str, str]) -> str:
    out: list[str] = []
    for sign, term in side.terms:
        text = ("上年" if term.prev else "") + names[term.field] if isinstance(term, Ref) \
            else format_value(term)
        out.append(("-" if sign < 0 else "+" if out else "") + text)
    if len(out) > 5:
        return f"{out[0]}{out[1]}+…{out[-1]}（共 {len(out)} 项）"
    return "".join(out) or "0"


class _TableReader:
    """One form table from the rows of the document table(s) found for it."""

    def __init__(self, reader: _Reader, table: Table, rows: list[list[str]]) -> None:
        self.reader, self.table, self.rows = reader, table, rows
        self.keys = [[label_key(c) for c in row] for row in rows]

    def read(self) -> None:
        start = 0
        for block in self.table.blocks:
            start = self.block(block, start)

    def block(self, block: Block, start: int) -> int:
        n = len(block.columns)
        if block.title:
            title = label_key(block.title)
            at = next((i for i in range(start, len(self.rows))
                       if any(match(k, title) == 3 for k in self.keys[i])), None)
            if at is not None:
                start = at + 1
        cursor, first = start, None
        for row in block.rows:
            at = self.data_row(row, n, cursor) if row.path else self.value_row(block, n, cursor)
            where = {"sheet": self.table.title,
                     "cell": " / ".join(((block.title,) if block.title else ()) + row.path)
                     or self.table.title}
            if at is None:
                self.reader.add("IMPORT_ROW_MISSING", table=self.table.id, **where)
                continue
            cells = self.rows[at]
            have = len(cells) - (1 if row.path else 0)
            if have < n:
                self.reader.add("IMPORT_ROW_CELLS", table=self.table.id, found=max(have, 0),
                                expected=n, **where)
                continue
            for col, text in zip(block.columns, cells[-n:], strict=True):
                self.reader.value(self.table, field_id(self.table, row, col), text)
            cursor = at + 1
            first = at if first is None else min(first, at)
        self.columns(block, start, len(self.rows) if first is None else first)
        return max(cursor, start)

    def data_row(self, row: Header, n: int, cursor: int) -> int | None:
        """The row whose last label (before its n figures) matches the row's own label:
        first looked for after the previous row, then anywhere in the table."""
        want = label_key(row.path[-1])
        for span in (range(cursor, len(self.rows)), range(cursor)):
            best, at = 0, None
            for i in span:
                keys = self.keys[i]
                labels = keys[:-n] if len(keys) > n else keys
                leaf = next((k for k in reversed(labels) if k), "")
                strength = match(leaf, want)
                if strength > best:
                    best, at = strength, i
                if best == 3:
                    break
            if at is not None:
                return at
        return None

    def value_row(self, block: Block, n: int, cursor: int) -> int | None:
        """A row without labels (table 四): the first row of at least n cells after the
        header whose last n cells hold no header label and are mostly figures."""
        header = {label_key(p) for c in block.columns for p in c.path}
        for i in range(cursor, len(self.rows)):
            tail = self.rows[i][-n:]
            if len(self.rows[i]) < n or any(label_key(c) in header for c in tail):
                continue
            figures = sum(1 for c in tail if not c.strip()
                          or normalise(c.strip(), COUNT, True).code != "VALUE_TEXT")
            if figures * 2 >= n:
                return i
        return None

    def columns(self, block: Block, start: int, end: int) -> None:
        """Every column label of the block should be in its header rows; a header whose
        bracketed remark differs from the official one (a unit: 元 for 万元) is reported."""
        texts = [c for row in self.rows[start:end] for c in row if c.strip()]
        found = {label_key(c) for c in texts} - {""}
        seen: set[str] = set()
        for col in block.columns:
            for label in col.path:
                key = label_key(label)
                if key in seen:
                    continue
                seen.add(key)
                where = {"sheet": self.table.title, "table": self.table.id}
                if not any(match(k, key) for k in found):
                    self.reader.add("IMPORT_COLUMN_MISSING", cell=label, **where)
                    continue
                want = _remark(label)
                other = next((t for t in texts if match(label_key(t), key) >= 2
                              and _remark(t) not in ("", want)), None)
                if want and other is not None:
                    self.reader.add("IMPORT_HEADER_DIFFERS", cell=label, found=other,
                                    expected=label, **where)


def _remark(text: str) -> str:
    """The key of a label's trailing bracketed remark ("（单位：万元）" -> "单位万元")."""
    key = "".join(unicodedata.normalize("NFKC", text).split())
    m = _REMARK.search(key)
    if not m or m.start() == 0:
        return ""
    return "".join(ch for ch in m.group(0) if unicodedata.category(ch)[0] in "LN")
