"""Findings in the filler's words: rows and columns named by their labels, cells in brackets.

`rule_message(finding, form)` is the one builder of a rule finding's text (the check, the
feedback workbook and any page showing findings use it): 「一、本年新收 + 二、上年结转
（自然人：17）≠（七）总计 + 四、结转下年度（自然人：16），差 1 [D7+D8, D30+D31]」.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from nianbao.findings import Finding
from nianbao.spec.expr import Ref, Side, compress
from nianbao.spec.layout import layout_for
from nianbao.spec.model import Form, Header, RuleInstance

MAX_NAMED = 4  # a side of more terms is named by its first and last ("… 至 … 之和")


@dataclass(frozen=True)
class _Place:
    """Where a field sits in its table: its row and column headers."""

    row: Header
    column: Header


@cache
def _places(form: Form) -> dict[str, _Place]:
    out = {}
    for t in form.tables:
        for b in t.blocks:
            for r in b.rows:
                for c in b.columns:
                    out[".".join(p for p in (t.id, r.id, c.id) if p)] = _Place(r, c)
    return out


@cache
def _instances(form: Form) -> dict[str, RuleInstance]:
    return {inst.id: inst for inst in form.instances}


def instance_of(finding: Finding | Mapping[str, Any], form: Form) -> RuleInstance | None:
    """The rule instance a rule finding is about (None for any other finding)."""
    values = _values(finding)
    return _instances(form).get(str(values.get("instance") or ""))


def finding_fields(finding: Finding | Mapping[str, Any], form: Form) -> list[str]:
    """Every field of this year a finding involves: all the cells of a rule's equation, or
    the finding's own field. What a feedback workbook tints."""
    inst = instance_of(finding, form)
    if inst is not None:
        return list(dict.fromkeys(r.field for r in inst.comparison.refs if not r.prev))
    field = finding.field if isinstance(finding, Finding) else finding.get("field")
    return [field] if field else []


def row_name(header: Header) -> str:
    """A row as messages name it: its short name, else its label below the top group."""
    if header.short:
        return header.short
    return " ".join(header.path[1:]) or " ".join(header.path)


def rule_message(finding: Finding | Mapping[str, Any], form: Form) -> str:
    """The text of a balancing-rule finding in labels, with its values and cells; the
    finding's own message when it is not about a rule instance of this form."""
    inst = instance_of(finding, form)
    values = _values(finding)
    if inst is None:
        return str(finding.message if isinstance(finding, Finding) else finding.get("message"))
    places = _places(form)
    refs = [r for r in inst.comparison.refs if r.field in places]
    if len(refs) != len(inst.comparison.refs):
        return str(finding.message if isinstance(finding, Finding) else finding.get("message"))
    rows = {places[r.field].row.path for r in refs}
    columns = {places[r.field].column.path for r in refs}
    if len(columns) == 1:  # one column: name the rows, the column is the context
        context = places[refs[0].field].column.path[-1]

        def name(ref: Ref) -> str:
            return row_name(places[ref.field].row)
    elif len(rows) == 1:  # one row: name the columns below what they share
        shared = _shared_prefix([places[r.field].column.path for r in refs])
        row = places[refs[0].field].row
        context = row_name(row) if row.path else " ".join(shared)

        def name(ref: Ref) -> str:
            path = places[ref.field].column.path
            return " ".join(path[len(shared):]) or path[-1]
    else:
        context = ""

        def name(ref: Ref) -> str:
            place = places[ref.field]
            return f"{row_name(place.row)}·{place.column.path[-1]}"
    layout = layout_for(form)
    lhs = _side_text(inst.comparison.lhs, name)
    rhs = _side_text(inst.comparison.rhs, name)
    cells = ", ".join(_cells_text(side, layout) for side in (inst.comparison.lhs,
                                                            inst.comparison.rhs))

    def shown(value: Any) -> str:
        return f"（{context}：{value}）" if context else f"（{value}）"

    sep = "≠" if rhs.startswith("（") else "≠ "
    return (f"{lhs}{shown(values.get('lhs'))}{sep}{rhs}{shown(values.get('rhs'))}，"
            f"差 {values.get('diff')} [{cells}]")


def _values(finding: Finding | Mapping[str, Any]) -> Mapping[str, Any]:
    return finding.values if isinstance(finding, Finding) else (finding.get("values") or {})


def _shared_prefix(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    first = paths[0]
    n = 0
    while n < len(first) - 1 and all(len(p) > n + 1 and p[n] == first[n] for p in paths):
        n += 1
    return first[:n]


def _side_text(side: Side, name: Any) -> str:
    """A side as labels joined by + and -; a long run of additions as its ends."""
    terms = [(sign, term) for sign, term in side.terms if isinstance(term, Ref)]
    if not terms:
        return "0"
    if len(terms) > MAX_NAMED and all(sign > 0 for sign, _ in terms):
        first, last = (("上年 " if t.prev else "") + name(t) for _, t in (terms[0], terms[-1]))
        return f"{first} 至 {last} 之和"
    out = []
    for sign, term in terms:
        text = ("上年 " if term.prev else "") + name(term)
        out.append(("- " if sign < 0 else ("+ " if out else "")) + text)
    return " ".join(out)


def _cells_text(side: Side, layout: Any) -> str:
    """A side's cells: D7+D8, a run of neighbours as a range (D7:I7)."""
    out = []
    for prev in (False, True):
        cells = [layout.places[t.field].a1 for sign, t in side.terms
                 if isinstance(t, Ref) and t.prev == prev and sign > 0]
        minus = [layout.places[t.field].a1 for sign, t in side.terms
                 if isinstance(t, Ref) and t.prev == prev and sign < 0]
        prefix = "上年 " if prev else ""
        text = "+".join(prefix + c for c in (cells if len(cells) <= 3 else compress(cells)))
        text += "".join("-" + prefix + c for c in minus)
        if text:
            out.append(text)
    return "+".join(out) or "0"
