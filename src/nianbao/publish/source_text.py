"""Plain-text reports in every shape people paste them.

- the layout of a text extraction of a .docx: every cell on its own tab-indented line, rows
  separated by blank lines, a cell continued on untabbed lines;
- a row on one line, cells separated by spaces, tabs or `|` (as copied from a PDF, a
  spreadsheet or a web page; a Markdown table too), figures possibly running on after the
  label (「…申请数量64 0 0」);
- one cell per line without tabs (a label line, then its figures one a line).

Which lines are table rows is decided from what they hold: a line with figures after its
labels, a line of figures only, a line of cells separated by tabs or `|`, and the short
label-only lines just before such lines (block titles and column headers). Everything else
is a paragraph: section headings, prose, notes.
"""

from __future__ import annotations

import re

from nianbao.publish.source import Doc, DocTable

# one printed figure: a number (half- or full-width, thousands separators, a decimal
# point, a unit after it), a dash or slash for "not applicable", or 无
_FIGURE = re.compile(r"[+\-－]?[0-9０-９][0-9０-９,，.．]*(件|个|项|万元|元)?|[/／\-－—–]{1,2}|无")
_GLUED = re.compile(r"^(.*[\u4e00-\u9fff）)\]】”])([0-9０-９][0-9０-９,，.．]*)$")
_NUMBERING = re.compile(
    r"^([（(][一二三四五六七八九十]+[)）]|[0-9０-９]+[.．、]|[一二三四五六七八九十]+、)$")
_HEADING = re.compile(r"^[一二三四五六七八九十]+、")
_SEPARATED = re.compile(r"[|｜\t]")
_RULE_ROW = re.compile(r"^[\s|｜:：\-－—=+]+$")   # a Markdown or box-drawing rule line
_SENTENCE = re.compile(r"[。；;]")
_NOTE = re.compile(r"^(说明|注)[：:]")
MAX_LABEL = 120      # characters of a row's labels; a longer line is prose
MAX_CELL = 50        # characters of one label; a longer one is a sentence of prose
MAX_HEADER_RUN = 24  # label-only lines before the first row of figures


def read_text(text: str) -> Doc:
    """The paragraphs and tables of a pasted or extracted report."""
    text = re.sub(r"\[bookmark: [^\]]*\]", "", text)  # extraction artefacts
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    single = sum(1 for s in lines if s.startswith("\t") and "\t" not in s[1:] and s[1:].strip())
    inner = sum(1 for s in lines if "\t" in s.strip(" \t"))
    if single >= 3 and single > inner:
        return _read_cell_lines(lines)
    return _read_pasted(lines)


def _read_cell_lines(lines: list[str]) -> Doc:
    """`\\tcell` lines, blank line between rows, untabbed lines right after a cell continue
    it, other lines are paragraphs."""
    items: list[str | DocTable] = []
    table: DocTable | None = None
    row: list[str] | None = None
    in_cell = False
    for line in lines:
        if line.startswith("\t"):
            if table is None:
                table = DocTable([])
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
    return Doc(items)


# -- pasted shapes --------------------------------------------------------------------------

def is_figure(text: str) -> bool:
    """A cell text that is a printed figure (or a not-applicable mark)."""
    return bool(_FIGURE.fullmatch(text.strip()))


def split_cells(line: str) -> list[str]:
    """The cells of one pasted line: by `|` or tabs when it has them, else by runs of
    spaces, a figure running on after a label cut off, a bare numbering joined to its
    label (「2. 其他…」)."""
    stripped = line.strip()
    if _SEPARATED.search(stripped):
        cells = [c.strip() for c in _SEPARATED.split(line.strip(" \u3000\r"))]
        if stripped[0] in "|｜":
            cells = cells[1:]
        if stripped[-1] in "|｜" and cells:
            cells = cells[:-1]
        return cells
    tokens = stripped.split()
    out: list[str] = []
    for token in tokens:
        if out and _NUMBERING.match(out[-1]) and not is_figure(token):
            out[-1] += token
            continue
        glued = _GLUED.match(token)
        if glued and not is_figure(token):
            out += [glued.group(1), glued.group(2)]
        else:
            out.append(token)
    return out


def _kind(line: str) -> tuple[str, list[str]]:
    """What a line is: blank, figures (a row with figures), labels (short, label-only),
    cells (separated by tabs or `|`), heading (「四、…」 without figures) or text."""
    stripped = line.strip()
    if not stripped:
        return "blank", []
    if (_RULE_ROW.match(stripped) and _SEPARATED.search(stripped)) or set(stripped) <= set("-—=_"):
        return "rule", []
    if _NOTE.match(stripped):
        return "text", []
    cells = split_cells(stripped)
    labels = [c for c in cells if c and not is_figure(c)]
    text = "".join(labels)
    if len(text) > MAX_LABEL or any(len(c) > MAX_CELL for c in labels) \
            or (labels and _SENTENCE.search(labels[-1])):
        return "text", cells
    if _SEPARATED.search(stripped) and len(cells) >= 2:
        return "cells", cells
    if cells and is_figure(cells[-1]):
        return "figures", cells
    if _HEADING.match(stripped):
        return "heading", cells
    return "labels", cells


def _table_lines(kinds: list[str]) -> list[bool]:
    """Which lines belong to a table: rows with figures or separated cells, a heading-like
    label directly followed by figures, and short label lines leading up to a row."""
    n = len(kinds)
    table = [k in ("figures", "cells", "rule") for k in kinds]
    for i, k in enumerate(kinds):
        if k == "heading":
            nxt = next((kinds[j] for j in range(i + 1, n) if kinds[j] != "blank"), None)
            table[i] = nxt == "figures"
    # label runs: a run of labels (blank lines allowed) that ends at a table line
    i = 0
    while i < n:
        if kinds[i] != "labels":
            i += 1
            continue
        j = i
        while j < n and kinds[j] in ("labels", "blank"):
            j += 1
        count = sum(1 for k in kinds[i:j] if k == "labels")
        if j < n and table[j] and count <= MAX_HEADER_RUN:
            for k in range(i, j):
                table[k] = kinds[k] == "labels"
        i = max(j, i + 1)
    return table


def _read_pasted(lines: list[str]) -> Doc:
    classified = [_kind(line) for line in lines]
    kinds = [k for k, _ in classified]
    in_table = _table_lines(kinds)
    items: list[str | DocTable] = []
    table: DocTable | None = None
    for (kind, cells), line, tabular in zip(classified, lines, in_table, strict=True):
        if kind == "blank" or kind == "rule":
            continue
        if not tabular:
            table = None
            items.append(line)
            continue
        if table is None:
            table = DocTable([])
            items.append(table)
        _add_row(table.rows, cells, kind)
    return Doc(items)


def _add_row(rows: list[list[str]], cells: list[str], kind: str) -> None:
    """A line's cells as a new row; figures alone on a line go on a row of one or two
    labels before them (one cell per line, or a row wrapped onto the next line); a label
    continuing an unclosed one is joined to it."""
    last = rows[-1] if rows else None
    if last is not None and kind == "figures" and all(is_figure(c) for c in cells) \
            and sum(1 for c in last if not is_figure(c)) <= 2:
        last.extend(cells)
        return
    if last is not None and cells and not is_figure(cells[0]) \
            and not any(is_figure(c) for c in last) and _open(last[-1]):
        last[-1] += cells[0]
        last.extend(cells[1:])
        return
    rows.append(list(cells))


def _open(label: str) -> bool:
    """A label cut off at a line break: an unclosed bracket, a trailing comma."""
    opened = label.count("（") + label.count("(")
    closed = label.count("）") + label.count(")")
    return opened > closed or label.endswith(("，", "、", ","))
