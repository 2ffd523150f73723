"""Who published a report and for which year: read from its title, in all its published forms.

A title is a line (or two lines, when the title is broken) that ends with the form's title,
「工作」 optional (「…2023年政府信息公开年度报告」), with the unit's name and the year in
either order before it (「示例区某局2022年…」, 「2022年度示例区某局…」); a body sentence that
merely cites the form's name (「本报告依据《…年度报告格式》…」) is never a title. Without a
title line, the page's own heading (an HTML <title>, a PDF's document title) is used, and
that is said (a warning); without either, nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HEAD = 40                         # characters of name and year before the title words
_YEAR = re.compile(r"([0-9０-９]{4}|[〇零一二三四五六七八九]{4})年度?")
_DIGITS = str.maketrans("〇零一二三四五六七八九０１２３４５６７８９", "00123456789" + "0123456789")
_SENTENCE = re.compile(r"[。，,；;：:《》“”\"]")
_SITE = re.compile(r"[_|｜—–-]")
_STRIP = "《》“”\"'：:，,。 　"


@dataclass
class Identity:
    """Unit name and year as found, and where from ("title", "page")."""

    name: str | None = None
    year: int | None = None
    source: str | None = None


def title_pattern(form_title: str) -> re.Pattern[str]:
    """The form's title at the end of a line, 「工作」 optional, 「（全文）」 allowed after."""
    words = re.escape("".join(form_title.split())).replace("工作", "(?:工作)?")
    return re.compile(rf"^(?P<head>.*?){words}(?:[(（]全文[)）])?$")


def find_identity(lines: list[str], page_title: str | None, form_title: str) -> Identity:
    """The identity in the lines before the first section heading, else in the page title."""
    pattern = title_pattern(form_title)
    lines = [line.strip() for line in lines if line.strip()]
    for i, line in enumerate(lines):
        found = _parse(line, pattern)
        if found is None:
            continue
        if found.name is None and i > 0 and _parse(lines[i - 1], pattern) is None:
            joined = _parse(lines[i - 1] + line, pattern)  # a title broken after the name
            if joined is not None and joined.name is not None:
                found = joined
        found.source = "title"
        return found
    for i in range(len(lines) - 1):  # broken inside the title words
        found = _parse(lines[i] + lines[i + 1], pattern)
        if found is not None:
            found.source = "title"
            return found
    # a web page's title often carries the site's name after a separator
    for part in [page_title or "", *_SITE.split(page_title or "")]:
        found = _parse(part.strip(), pattern) if part.strip() else None
        if found is not None:
            found.source = "page"
            return found
    return Identity()


def _parse(line: str, pattern: re.Pattern[str]) -> Identity | None:
    """Name and year from a title line; None when the line is no title."""
    compact = "".join(line.split())
    m = pattern.match(compact)
    if m is None:
        return None
    head = m.group("head")
    if len(head) > MAX_HEAD or _SENTENCE.search(head.strip(_STRIP)):
        return None
    year = None
    ym = _YEAR.search(head)
    if ym is not None:
        digits = int(ym.group(1).translate(_DIGITS))
        if 2000 <= digits <= 2100:
            year = digits
        head = (head[: ym.start()] + " " + head[ym.end():]).strip()
    parts = [p.strip(_STRIP) for p in head.split(" ")]
    name = "".join(p for p in parts if p) or None
    return Identity(name, year)
