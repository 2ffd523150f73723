"""Reading one form table from the rows of the document table(s) found for it.

Every labelled row of the form is matched with the printed row whose last label scores
best against it (`labels.score`, a small bonus when the printed row also carries the row's
group label), all pairs at once and best first, so that a printed row goes to the form row
it fits best; nothing below `labels.FLOOR` is assigned. A printed row with figures that no
form row takes is reported as unread, with its text. Table 四's single row has no label:
it is the first row of figures after the header.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Protocol

from nianbao.publish.labels import FLOOR, label_key, match, score
from nianbao.publish.report import field_id
from nianbao.publish.source_text import is_figure
from nianbao.read.normalise import normalise
from nianbao.spec.model import COUNT, Block, Table

_REMARK = re.compile(r"[(\[【〔][^()\[\]【】〔〕]*[)\]】〕]$")
GROUP_BONUS = 0.05   # the printed row also names the row's group (「（三）不予公开」)


class Sink(Protocol):
    """Where a table reader puts what it reads and finds."""

    def add(self, code: str, **kw: Any) -> None: ...

    def value(self, table: Table, fid: str, text: str) -> None: ...


class TableReader:
    """One form table from the rows of the document table(s) found for it."""

    def __init__(self, reader: Sink, table: Table, rows: list[list[str]]) -> None:
        self.reader, self.table, self.rows = reader, table, rows
        self.keys = [[label_key(c) for c in row] for row in rows]
        self.used: set[int] = set()
        self.assigned = self.assign()

    def read(self) -> None:
        start = 0
        for number, block in enumerate(self.table.blocks):
            start = self.block(number, block, start)
        self.unread()

    # -- which printed row is which form row --------------------------------------------
    def labels(self, i: int, n: int) -> tuple[int, list[str]] | None:
        """(position of the last label, label keys) of a printed row that can hold n
        figures: it has a figure, or at least n cells after its last label."""
        cells = self.rows[i]
        head = len(cells) - n if len(cells) > n else len(cells)
        at = [j for j in range(head) if self.keys[i][j] and not is_figure(cells[j])]
        if not at:
            return None
        last = at[-1]
        if len(cells) - last - 1 < n and not any(is_figure(c) for c in cells[last + 1:]):
            return None
        return last, [self.keys[i][j] for j in at]

    def assign(self) -> dict[tuple[int, int], int]:
        """(block number, row number) -> printed row, by score, best pairs first. Labels
        printed exactly as the form's are paired first; only the rest are scored."""
        wanted: list[tuple[int, int, str, list[str]]] = []
        found: dict[int, list[tuple[int, list[str]] | None]] = {}
        for b, block in enumerate(self.table.blocks):
            found[b] = [self.labels(i, len(block.columns)) for i in range(len(self.rows))]
            wanted += [(b, r, label_key(row.path[-1]), [label_key(p) for p in row.path[:-1]])
                       for r, row in enumerate(block.rows) if row.path]
        out: dict[tuple[int, int], int] = {}
        for b, r, want, _ in wanted:
            at = next((i for i, got in enumerate(found[b]) if got and got[1][-1] == want
                       and i not in self.used), None)
            if at is not None:
                out[(b, r)] = at
                self.used.add(at)
        pairs: list[tuple[float, int, int, int]] = []
        for b, r, want, groups in wanted:
            if (b, r) in out:
                continue
            for i, got in enumerate(found[b]):
                if got is None or i in self.used:
                    continue
                grade = score(got[1][-1], want)
                if grade < FLOOR:
                    continue
                if any(score(k, g) >= 0.8 for k in got[1][:-1] for g in groups):
                    grade += GROUP_BONUS
                pairs.append((-grade, i, b, r))
        pairs.sort()
        for _, i, b, r in pairs:
            if (b, r) not in out and i not in self.used:
                out[(b, r)] = i
                self.used.add(i)
        return out

    # -- reading ------------------------------------------------------------------------
    def block(self, number: int, block: Block, start: int) -> int:
        n = len(block.columns)
        if block.title:
            title = label_key(block.title)
            at = next((i for i in range(start, len(self.rows))
                       if any(match(k, title) == 3 for k in self.keys[i])
                       or match("".join(self.keys[i]), title) == 3), None)
            if at is not None:
                start = at + 1
        cursor, first = start, None
        for r, row in enumerate(block.rows):
            at = self.assigned.get((number, r)) if row.path else self.value_row(block, n, start)
            where = {"sheet": self.table.title,
                     "cell": " / ".join(((block.title,) if block.title else ()) + row.path)
                     or self.table.title}
            if at is None:
                self.reader.add("IMPORT_ROW_MISSING", table=self.table.id, **where)
                continue
            self.used.add(at)
            cells = self.rows[at]
            got = self.labels(at, n) if row.path else None
            have = len(cells) - (got[0] + 1 if got else 0)
            if have < n:
                self.reader.add("IMPORT_ROW_CELLS", table=self.table.id, found=max(have, 0),
                                expected=n, **where)
                continue
            for col, text in zip(block.columns, cells[-n:], strict=True):
                self.reader.value(self.table, field_id(self.table, row, col), text)
            cursor = max(cursor, at + 1)
            first = at if first is None else min(first, at)
        self.columns(block, start, len(self.rows) if first is None else first)
        return max(cursor, start)

    def value_row(self, block: Block, n: int, cursor: int) -> int | None:
        """A row without labels (table 四): the first row of at least n cells after the
        header whose last n cells hold no header label and are mostly figures."""
        header = {label_key(p) for c in block.columns for p in c.path}
        for i in range(cursor, len(self.rows)):
            tail = self.rows[i][-n:]
            if i in self.used or len(self.rows[i]) < n \
                    or any(label_key(c) in header for c in tail):
                continue
            figures = sum(1 for c in tail if not c.strip()
                          or normalise(c.strip(), COUNT, True).code != "VALUE_TEXT")
            if figures * 2 >= n:
                return i
        return None

    def unread(self) -> None:
        """Printed rows with a label and figures that no form row took."""
        groups = {label_key(p) for b in self.table.blocks for h in b.rows for p in h.path[:-1]}
        for i, cells in enumerate(self.rows):
            if i in self.used or not any(c.strip() and is_figure(c) for c in cells):
                continue
            labels = [c for c in cells if c.strip() and not is_figure(c)]
            if not labels:
                continue
            merged = any(score(label_key(labels[-1]), g) >= 0.95 for g in groups)
            self.reader.add("IMPORT_ROW_UNREAD", sheet=self.table.title, table=self.table.id,
                            found=" ".join(" ".join(c.split()) for c in cells),
                            detail="（这一行合并了官方格式中的几个小项）" if merged else "")

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
                want = remark(label)
                other = next((t for t in texts if match(label_key(t), key) >= 2
                              and remark(t) not in ("", want)), None)
                if want and other is not None:
                    self.reader.add("IMPORT_HEADER_DIFFERS", cell=label, found=other,
                                    expected=label, **where)


def remark(text: str) -> str:
    """The key of a label's trailing bracketed remark ("（单位：万元）" -> "单位万元")."""
    key = "".join(unicodedata.normalize("NFKC", text).split())
    m = _REMARK.search(key)
    if not m or m.start() == 0:
        return ""
    return "".join(ch for ch in m.group(0) if unicodedata.category(ch)[0] in "LN")
