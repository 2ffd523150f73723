"""HTML reports (a saved web page): a forgiving DOM built with the stdlib's html.parser,
rowspan/colspan expanded into a grid, layout tables around the content looked through."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from nianbao.publish.source import Doc, DocTable, Unreadable

MAX_SPAN = 1000                    # rowspan/colspan beyond this is not a real table
MAX_GRID = 500_000                 # grid positions of one HTML table


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


def read_html(text: str) -> Doc:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    head_title = builder.root.find("title")
    doc = Doc([], _inline_text(head_title).strip() if head_title else None)
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
                doc.items.append(DocTable(_html_rows(child)))
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
                raise Unreadable("网页中的表格过大或行列合并异常", "html")
            texts.append(_cell_text(td))
            for dr in range(rowspan):
                for dc in range(colspan):
                    grid[r + dr][col + dc] = len(texts) - 1
            col += colspan
    return [[texts[i] for i in dict.fromkeys(row[c] for c in sorted(row))] for row in grid]




def looks_like_html(text: str) -> bool:
    """Text that is a web page (or a fragment of one holding a table)."""
    return re.search(r"<html|<table", text, re.IGNORECASE) is not None
