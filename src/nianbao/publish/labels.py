"""Matching a published report's labels with the Form's own: normalised keys, then a score.

`label_key`: NFKC, whitespace, punctuation and bracket characters dropped, a trailing
bracketed remark dropped (`（区分处理的，只计这一情形，…）`, `（历史累计）`, `（单位：万元）`),
and the connectives 及/与/和 dropped (`行政复议及行政诉讼情况`). `match` says whether two
keys are the same label (exact, prefix or suffix). `score` grades how close a printed label
is to an official one, 0..1, tolerating dropped or added function words (「1.国家秘密」),
misprints (「2.其他法律行政止公开」) and short forms (「规范性文件」); a numbering that differs
(「（六）其他处理」 against 「3.其他」) all but rules a match out. Nothing below `FLOOR` is ever
assigned. There is no second list of labels here: every label searched for is the Form's.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from difflib import SequenceMatcher

from nianbao.spec.model import Table

FLOOR = 0.6          # below this score a printed label is not taken for an official one

_REMARK = re.compile(r"[(\[【〔][^()\[\]【】〔〕]*[)\]】〕]$")
_CONNECTIVES = str.maketrans("", "", "及与和")
NUMERAL = re.compile(r"^[〇一二三四五六七八九十]+")
_NUMBERING = re.compile(r"^([0-9]+|[〇一二三四五六七八九十]+)(?=\D)")
_FUNCTION_WORDS = re.compile(r"属于|的|之|等")


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


def numbering(key: str) -> tuple[str, str]:
    """A key's leading numbering and the rest: ("三", "不予公开"), ("1", "属于国家秘密")."""
    m = _NUMBERING.match(key)
    return (m.group(1), key[m.end():]) if m else ("", key)


@functools.lru_cache(maxsize=1 << 16)  # the same few hundred labels, report after report
def score(found: str, wanted: str) -> float:
    """How close a found key is to a wanted one, 0 (unrelated) to 1 (the same)."""
    if not found or not wanted:
        return 0.0
    if found == wanted:
        return 1.0
    if len(wanted) >= 4 and found.endswith(wanted):
        return 0.85  # the group's label printed in the same cell (「（三）不予公开1.属于…」)
    num_f, body_f = numbering(found)
    num_w, body_w = numbering(wanted)
    body_f, body_w = _FUNCTION_WORDS.sub("", body_f), _FUNCTION_WORDS.sub("", body_w)
    if not body_f or not body_w:
        return 0.0
    strength = match(body_f, body_w)
    grade = (0.95, 0.8, 0.9, 0.95)[strength] if strength else \
        SequenceMatcher(None, body_f, body_w, autojunk=False).ratio()
    if num_f and num_w and num_f != num_w:
        grade *= 0.5  # another item of the list, however alike its words
    return grade


def table_labels(table: Table) -> set[str]:
    """The keys of every label printed in a table: titles, stubs, corner, columns, rows."""
    labels = {b.title for b in table.blocks} | {b.stub for b in table.blocks}
    labels |= {b.corner for b in table.blocks}
    labels |= {p for b in table.blocks for h in (*b.columns, *b.rows) for p in h.path}
    return {label_key(x) for x in labels if x}
