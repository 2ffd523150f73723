"""What a person counts: mistakes, not their consequences; warnings by cause, not by cell.

`link_consequences` marks each finding that follows from another (a total column that
goes out of balance with the column that caused it, the checks around an overwritten
formula, every blank cell of a form left wholly blank) with `caused_by`, and says on the
cause what follows from it. `digest` groups warnings and notes by cause and block
(「表三有 144 格空白，已按 0 计…」) for status, receipts and feedback; `--json` and the
exports keep every finding, the consequences linked to their cause.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from nianbao.findings import Finding, Severity, title
from nianbao.spec.model import Form
from nianbao.validate.wording import instance_of

BLANK_CODES = ("VALUE_BLANK", "TEXT_BLANK")


def cause_ref(f: Finding) -> dict[str, Any]:
    """How a consequence points at its cause in `--json` (code, rule and place)."""
    return {"code": f.code, "rule": f.rule, "sheet": f.sheet, "cell": f.cell,
            "field": f.field}


@cache
def _inputs_of(form: Form, field: str, kept: frozenset[str]) -> frozenset[str]:
    """The fields a value is computed from, down to what the filler typed (a computed
    field whose formula was overwritten counts as typed: `kept`)."""
    inst = form.definers.get(field)
    if inst is None or field in kept:
        return frozenset({field})
    out: set[str] = {field}
    for ref in inst.comparison.rhs.refs:
        out |= _inputs_of(form, ref.field, kept)
    return frozenset(out)


def link_consequences(form: Form, findings: list[Finding]) -> list[Finding]:
    """The findings with every consequence linked to its cause (idempotent: a finding
    already linked is left alone)."""
    out = list(findings)
    nothing = next((i for i, f in enumerate(out) if f.code == "NOTHING_FILLED"), None)
    if nothing is not None:  # a wholly blank form is one error
        for i, f in enumerate(out):
            if f.code in BLANK_CODES and "caused_by" not in f.values:
                out[i] = _linked(f, out[nothing])
    overwritten = {f.field: i for i, f in enumerate(out)
                   if f.code == "FORMULA_CHANGED" and f.field}
    kept = frozenset(overwritten)
    primary: list[tuple[int, str | None, frozenset[str]]] = []  # (index, rule, inputs)
    later: list[tuple[int, frozenset[str]]] = []
    for i, f in enumerate(out):
        inst = instance_of(f, form) if f.code == "UNBALANCED" else None
        if inst is None or "caused_by" in f.values:
            continue
        fields = [r.field for r in inst.comparison.refs if not r.prev]
        inputs = frozenset().union(*(_inputs_of(form, x, kept) for x in fields))
        cause = next((overwritten[x] for x in overwritten if x in inputs), None)
        if cause is not None:
            out[i] = _linked(f, out[cause])
        elif fields and all(x in form.definers and x not in kept for x in fields):
            later.append((i, inputs))  # every term a total: it follows from its parts
        else:
            primary.append((i, f.rule, inputs))
    for i, inputs in later:
        cause = next((j for j, rule, ins in primary if rule == out[i].rule and ins & inputs),
                     None)
        if cause is not None:
            out[i] = _linked(out[i], out[cause])
    return _tell_causes(form, findings, out)


def _linked(f: Finding, cause: Finding) -> Finding:
    return dataclasses.replace(f, values={**f.values, "caused_by": cause_ref(cause)})


def _tell_causes(form: Form, before: list[Finding], out: list[Finding]) -> list[Finding]:
    """Say on each cause which checks went out of balance with it (newly linked ones)."""
    new = [f for old, f in zip(before, out, strict=True)
           if "caused_by" in f.values and "caused_by" not in old.values
           and f.code == "UNBALANCED"]
    for k, f in enumerate(out):
        mine = [c for c in new if c.values["caused_by"] == cause_ref(f)]
        if not mine or "caused_by" in f.values:
            continue
        wheres = []
        for c in mine:
            inst = instance_of(c, form)
            wheres.append(f"{inst.where}（{inst.rule.id}）" if inst else c.cell or "")
        text = f"{f.message}；{'、'.join(dict.fromkeys(wheres))}随之不平衡"
        follows = [*f.values.get("consequences", []), *(cause_ref(c) for c in mine)]
        out[k] = dataclasses.replace(f, message=text,
                                     values={**f.values, "consequences": follows})
    return out


# -- grouping for people ---------------------------------------------------------------------

@dataclass(frozen=True)
class Group:
    """Findings of one cause and one block, as one line a person reads."""

    severity: str
    code: str
    message: str
    count: int                     # cells (findings) in the group
    cells: tuple[str, ...]         # "sheet!A1" of each, in order
    explained: bool                # every member carries the filler's 说明
    first: Mapping[str, Any]       # the first member (its place links the group)


@dataclass(frozen=True)
class Digest:
    """The counts a clerk reads: mistakes (consequences folded) and groups of warnings."""

    errors: tuple[Mapping[str, Any], ...]   # blocking findings that are no consequence
    consequences: int
    warnings: tuple[Group, ...]
    notes: tuple[Group, ...]

    @property
    def warning_cells(self) -> int:
        return sum(g.count for g in self.warnings)

    @property
    def unexplained(self) -> int:
        return sum(not g.explained for g in self.warnings)

    def counts_text(self) -> str:
        """「错误 1 处，提醒 2 类（共 166 格）」."""
        text = f"错误 {len(self.errors)} 处"
        if self.warnings:
            text += f"，提醒 {len(self.warnings)} 类（共 {self.warning_cells} 格"
            explained = len(self.warnings) - self.unexplained
            text += f"，已说明 {explained} 类）" if explained else "）"
        else:
            text += "，提醒 0 处"
        return text


def digest(findings: Iterable[Finding | Mapping[str, Any]], form: Form | None = None
           ) -> Digest:
    """Group the findings (Finding objects or their dicts, as the ledger keeps them)."""
    items = [f.to_dict() if isinstance(f, Finding) else f for f in findings]
    errors = tuple(f for f in items if Severity(f["severity"]).rank >= Severity.ERROR.rank
                   and not (f.get("values") or {}).get("caused_by"))
    consequences = sum(bool((f.get("values") or {}).get("caused_by")) for f in items)
    groups: dict[str, dict[tuple[Any, ...], list[Mapping[str, Any]]]] = {
        "warning": {}, "info": {}}
    for f in items:
        if f["severity"] in groups and not (f.get("values") or {}).get("caused_by"):
            groups[f["severity"]].setdefault(_group_key(f), []).append(f)
    return Digest(errors, consequences,
                  tuple(_group(m, form) for m in groups["warning"].values()),
                  tuple(_group(m, form) for m in groups["info"].values()))


def _group_key(f: Mapping[str, Any]) -> tuple[Any, ...]:
    code = f["code"]
    if code == "VALUE_NORMALISED":  # the same reading, wherever it happened
        return (code, (f.get("values") or {}).get("detail"))
    return (code, f.get("sheet"), f.get("rule"))


def table_name(sheet: str | None, form: Form | None) -> str:
    """How a person names a sheet's table: 表三 (a sheet without a table: its name)."""
    table = next((t for t in form.tables if t.sheet == sheet), None) if form else None
    return f"表{table.section}" if table else f"「{sheet}」" if sheet else "文件"


def _group(members: list[Mapping[str, Any]], form: Form | None) -> Group:
    first = members[0]
    n, code = len(members), first["code"]
    cells = tuple(f"{m['sheet']}!{m['cell']}" for m in members if m.get("sheet")
                  and m.get("cell"))
    explained = all((m.get("values") or {}).get("explanation") for m in members)
    if n == 1:
        message = first["message"]
    elif code == "VALUE_BLANK":
        message = (f"{table_name(first.get('sheet'), form)}有 {n} 格空白，已按 0 计；"
                   "如确为 0 请填 0 或在说明中注明")
    elif code == "VALUE_NORMALISED":
        detail = (first.get("values") or {}).get("detail") or "写法不规范"
        message = f"{detail}（共 {n} 格），已按数字读取，请确认"
    elif code == "VALUE_NOT_APPLICABLE":
        message = f"{table_name(first.get('sheet'), form)}有 {n} 格填写“不适用”（/）"
    elif code == "TEXT_BLANK":
        message = f"{table_name(first.get('sheet'), form)}有 {n} 项文字未填写"
    else:
        where = table_name(first.get("sheet"), form) if first.get("sheet") else ""
        rule = f"{first['rule']} " if first.get("rule") else ""
        message = f"{rule}{title(code)}：{where}共 {n} 处，如：{first['message']}"
    return Group(first["severity"], code, message, n, cells, explained, first)


def first_problem(findings: list[Mapping[str, Any]], reason: str | None = None) -> str:
    """The first mistake in a few words with where it is (「负数（依申请公开!D31）等 2 处」)."""
    errors = [f for f in findings if f["severity"] in ("fatal", "error")
              and not (f.get("values") or {}).get("caused_by")]
    first = next((f for f in errors if f["code"] == reason), None) or \
        (errors[0] if errors else None)
    if first is None:
        return title(reason) if reason else ""
    where = f"{first['sheet']}!{first['cell']}" if first.get("sheet") and first.get("cell") \
        else ""
    more = f"等 {len(errors)} 处" if len(errors) > 1 else ""
    return f"{title(first['code'])}{'（' + where + '）' if where else ''}{more}"


NO_PROBLEMS: dict[str, Any] = {"first": "", "warning_groups": 0}


def problems(verdict: Any) -> dict[str, Any]:
    """What a collect run says of one verdict: its first mistake (or first group of
    warnings) and how many groups of warnings. Reads the findings only when there is
    something to say (a clean verdict keeps its findings undecoded)."""
    if verdict.status == "valid" and not verdict.warnings:
        return dict(NO_PROBLEMS)
    d = digest(verdict.findings)
    first = first_problem(verdict.findings, verdict.reason)
    if not first and d.warnings:
        first = title(d.warnings[0].code)
    return {"first": first, "warning_groups": len(d.warnings)}
