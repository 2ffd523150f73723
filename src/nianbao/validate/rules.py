"""Run the form's balancing rules over a record and report every instance that fails."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from nianbao.findings import Finding, Severity, make
from nianbao.spec.expr import Ref, Side, compress
from nianbao.spec.layout import layout_for
from nianbao.spec.model import Form, RuleInstance
from nianbao.validate.evaluate import (
    current_sides,
    difference,
    field_values,
    instance_sides,
    numbers,
    plan,
)
from nianbao.validate.wording import rule_message


def check_rules(form: Form, values: Mapping[str, Any], *, file: str | None = None,
                previous: Mapping[str, Any] | None = None,
                cross_year_only: bool = False) -> list[Finding]:
    """One finding per failing rule instance. Cross-year rules run only with `previous`
    (the same unit's record for the year before); `cross_year_only` runs only those."""
    nums = numbers(field_values(form, values))
    prev = numbers(field_values(form, previous)) if previous is not None else None
    p = plan(form)
    current = current_sides(p, nums) if not cross_year_only else {}
    findings = []
    for inst in form.instances:
        if (inst.rule.cross_year and prev is None) or (cross_year_only
                                                       and not inst.rule.cross_year):
            continue
        if inst.rule.cross_year:
            lhs, rhs = instance_sides(p, inst.id, nums, prev)
        else:  # (no previous-year terms)
            lhs, rhs = current[inst.id]
        if lhs != rhs:
            findings.append(unbalanced(form, inst, lhs, rhs, file))
    return findings


def unbalanced(form: Form, inst: RuleInstance, lhs: Any, rhs: Any,
               file: str | None) -> Finding:
    layout = layout_for(form)
    place = layout.places[inst.anchor]
    cells = [_cell_name(layout.places[r.field].a1, r) for r in inst.comparison.refs]
    finding = make(
        "UNBALANCED", file=file, sheet=place.sheet, cell=place.a1, field=inst.anchor,
        rule=inst.rule.id, severity=Severity(inst.rule.severity),
        where_label=inst.where, rule_text=inst.rule.text,
        lhs=_num(lhs), rhs=_num(rhs), diff=_num(difference(lhs, rhs)),
        lhs_expr=_expr(layout, inst.comparison.lhs), rhs_expr=_expr(layout, inst.comparison.rhs),
        cells="、".join(dict.fromkeys(cells)), instance=inst.id,
    )
    # in the filler's words: rows and columns by their labels, the cells in brackets
    text = f"{place.sheet}!{place.a1}：{rule_message(finding, form)}（{inst.rule.text}）"
    return dataclasses.replace(finding, message=text)


def _cell_name(a1: str, ref: Ref) -> str:
    return f"上年 {a1}" if ref.prev else a1


def _expr(layout: Any, side: Side) -> str:
    """A side in the filler's terms: cells and ranges joined by + and -."""
    out = []
    for sign, group in _signed_runs(side):
        names = [layout.places[r.field].a1 for r in group]
        prefix = "上年 " if group[0].prev else ""
        parts = names if len(names) <= 3 else [c.replace(":", "至") for c in compress(names)]
        text = "+".join(prefix + c for c in parts)
        out.append(("-" if sign < 0 else ("+" if out else "")) + text)
    return "".join(out) or "0"


def _signed_runs(side: Side) -> list[tuple[int, list[Ref]]]:
    runs: list[tuple[int, list[Ref]]] = []
    for sign, term in side.terms:
        if not isinstance(term, Ref):
            continue
        if runs and runs[-1][0] == sign and runs[-1][1][0].prev == term.prev:
            runs[-1][1].append(term)
        else:
            runs.append((sign, [term]))
    return runs


def _num(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
