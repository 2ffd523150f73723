"""Compute what every formula of the layout shows, in Python.

Used twice: the writer stores these values as the formulas' cached results (so a file shows
the truth even where nothing recalculates), and the reader compares them with the cached
results found in a returned file. Semantics follow the spreadsheet: SUM() counts numbers
only, so a blank or a text cell counts as 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache, lru_cache
from itertools import repeat
from typing import Any

from nianbao.spec.expr import Number, Ref, Side
from nianbao.spec.layout import NA_MARKERS, InputCell, Layout, status_text
from nianbao.spec.model import COUNT, Form, RuleInstance


def numeric(value: Any) -> Number:
    """The number a spreadsheet's SUM() sees in a cell: numbers as they are, else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return 0
    return value


class Terms(tuple):  # type: ignore[type-arg]
    """Signed field references (sign, field id, previous year?), also kept split by sign
    and year so that a sum runs as four C-level loops instead of one Python loop."""

    plus: tuple[str, ...]
    minus: tuple[str, ...]
    prev_plus: tuple[str, ...]
    prev_minus: tuple[str, ...]

    def __new__(cls, items: Iterable[tuple[int, str, bool]]) -> Terms:
        self = super().__new__(cls, tuple(items))
        self.plus = tuple(f for s, f, p in self if s > 0 and not p)
        self.minus = tuple(f for s, f, p in self if s < 0 and not p)
        self.prev_plus = tuple(f for s, f, p in self if s > 0 and p)
        self.prev_minus = tuple(f for s, f, p in self if s < 0 and p)
        return self


Sides = tuple[Terms, Number, Terms, Number]  # lhs terms, lhs constant, rhs terms, rhs constant


@dataclass(frozen=True)
class Plan:
    """A form's rules flattened once into signed terms: evaluating a record is then a few
    hundred additions (this is the hot path of checking thousands of files)."""

    computed: tuple[tuple[str, Terms, Number], ...]  # in dependency order
    sides: dict[str, Sides]                          # rule instance id -> its two sides
    # every instance's sides without previous-year terms, in one compiled function
    current: Callable[[Mapping[str, Number]], tuple[tuple[Number, Number], ...]]
    # every computed field in order, put into the numbers given (none of them given)
    totals: Callable[[dict[str, Number]], tuple[Number, ...]]
    computed_ids: tuple[str, ...]                    # of `computed`, in order


def _compile(sides: dict[str, Sides], computed: tuple[tuple[str, Terms, Number], ...]
             ) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """`current` and `totals` of a plan, compiled from `_source`. They run without builtins
    (nothing but int and KeyError is in reach), so even a wrong source could not import,
    open or call anything."""
    source, constants = _source(sides, computed)
    namespace: dict[str, Any] = {"__builtins__": {}, "int": int, "KeyError": KeyError,
                                 "t": _tidy_total, **constants}
    exec(compile(source, "<rules>", "exec"), namespace)  # the source is ours: see _source
    return namespace["current"], namespace["totals"]


def _source(sides: dict[str, Sides], computed: tuple[tuple[str, Terms, Number], ...]
            ) -> tuple[str, dict[str, Number]]:
    """Python source of `_sum` for every side (without previous-year terms) and for every
    computed field, as two functions: the same additions in the same order (so the same
    results, floats included), without a call per term; and the constants it names. Field
    ids go in only as repr() of a str, a string literal whatever the id holds (they never
    depend on the spec loader's checks); constants by name; every other character is ours.
    Each is written twice: one reads n[id], for when every field is there (a record read
    from a file; it takes about half the time), the other n.get(id, 0)."""
    constants: dict[str, Number] = {}

    def total(terms: Terms, constant: Number, read: str) -> str:
        name = f"k{len(constants)}"
        constants[name] = constant
        text = f"{name} + ({added(terms.plus, read)})"
        if terms.minus:
            text = f"({text}) - ({added(terms.minus, read)})"
        return f"(x if (x := {text}).__class__ is int else t(x))"

    def added(fields: tuple[str, ...], read: str) -> str:
        return "0" + "".join(" + " + read.format(_literal(f)) for f in fields)

    source = []
    for suffix, read, get in (("all", "n[{}]", ""), ("any", "g({}, 0)", "    g = n.get\n")):
        pairs = "".join(f"        ({total(lt, lc, read)}, {total(rt, rc, read)}),\n"
                        for lt, lc, rt, rc in sides.values())
        fields = "".join(f"    n[{_literal(fid)}] = v{i} = {total(terms, constant, read)}\n"
                         for i, (fid, terms, constant) in enumerate(computed))
        found = "".join(f"v{i}, " for i in range(len(computed)))
        source.append(f"def current_{suffix}(n):\n{get}    return (\n{pairs}    )\n\n\n"
                      f"def totals_{suffix}(n):\n{get}{fields}    return ({found})\n")
    # (totals_any after a KeyError overwrites what totals_all put in: the same values)
    source.append("def current(n):\n    try:\n        return current_all(n)\n"
                  "    except KeyError:\n        return current_any(n)\n\n\n"
                  "def totals(n):\n    try:\n        return totals_all(n)\n"
                  "    except KeyError:\n        return totals_any(n)\n")
    return "\n\n".join(source), constants


def _literal(fid: str) -> str:
    """A field id as a Python string literal; anything but a str (whose repr could be any
    text) is refused."""
    if type(fid) is not str:
        raise TypeError(f"field id {fid!r} is not a str")
    return repr(fid)


def current_sides(p: Plan, nums: Mapping[str, Number]) -> dict[str, tuple[Number, Number]]:
    """instance_sides of every instance without previous-year terms, at once; where floats
    read from a file meet exact Decimals, one by one (see _sum)."""
    try:
        return dict(zip(p.sides, p.current(nums), strict=True))
    except TypeError:
        return {instance: instance_sides(p, instance, nums) for instance in p.sides}


def _terms(side: Side) -> tuple[Terms, Number]:
    terms = Terms((s, t.field, t.prev) for s, t in side.terms if isinstance(t, Ref))
    constant = sum((s * t for s, t in side.terms if isinstance(t, Decimal)), Decimal(0))
    return terms, _tidy_total(constant)


@cache
def plan(form: Form) -> Plan:
    order: list[str] = []
    seen: set[str] = set()

    def visit(fid: str) -> None:  # the spec loader has already refused cycles
        if fid in seen or fid not in form.definers:
            return
        seen.add(fid)
        for ref in form.definers[fid].comparison.rhs.refs:
            visit(ref.field)
        order.append(fid)

    for fid in form.definers:
        visit(fid)
    computed = tuple((fid, *_terms(form.definers[fid].comparison.rhs)) for fid in order)
    sides = {i.id: (*_terms(i.comparison.lhs), *_terms(i.comparison.rhs))
             for i in form.instances}
    return Plan(computed, sides, *_compile(sides, computed),  # type: ignore[arg-type]
                tuple(fid for fid, _, _ in computed))


_NUMBER_TYPES = frozenset({int, float, Decimal})
_WHOLE_TYPES = frozenset({int, type(None)})


def numbers(values: Mapping[str, Any]) -> dict[str, Number]:
    """What SUM() sees of every value (exact types decided inline: this runs per file)."""
    kinds = _NUMBER_TYPES
    return {fid: v if type(v) in kinds else (0 if v is None else numeric(v))
            for fid, v in values.items()}


_ZEROS = repeat(0)  # the default of every missing term (never exhausted)


def _sum(terms: Terms, constant: Number, nums: Mapping[str, Number],
         prev: Mapping[str, Number] | None = None) -> Number:
    get = nums.get
    try:
        total = constant + sum(map(get, terms.plus, _ZEROS))
        if terms.minus:
            total -= sum(map(get, terms.minus, _ZEROS))
        if prev is not None and (terms.prev_plus or terms.prev_minus):
            total += sum(map(prev.get, terms.prev_plus, _ZEROS)) - sum(
                map(prev.get, terms.prev_minus, _ZEROS))
        return total if type(total) is int else _tidy_total(total)
    except TypeError:  # floats read from a file beside exact Decimals: add as floats
        return float(constant) + sum(
            sign * float(((prev or {}) if p else nums).get(fid, 0)) for sign, fid, p in terms)


def field_values(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """All field values: the given ones, plus every computed field not given.

    A computed field present in `values` holds a constant (its formula was overwritten):
    it is kept as is, and totals that depend on it use it, as a spreadsheet would.
    """
    if all(fid in values for fid in plan(form).computed_ids):
        return dict(values)  # already complete (a record read back, or totals as printed)
    return _completed(form, values)[0]


def _completed(form: Form, values: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                dict[str, Number]]:
    """field_values, and what SUM() sees of them (numbers of the result)."""
    out = dict(values)
    p = plan(form)
    computed = p.computed
    if all(fid in values for fid, _, _ in computed):
        return out, numbers(out)  # already complete (a record read back, or as printed)
    nums = numbers(values)
    if values.keys().isdisjoint(p.computed_ids):  # none given (the usual record): at once
        try:
            out.update(zip(p.computed_ids, p.totals(nums), strict=True))
            return out, nums
        except TypeError:  # floats read from a file beside exact Decimals: one by one
            nums = numbers(values)
    for fid, terms, constant in computed:
        if fid not in values:
            out[fid] = nums[fid] = _sum(terms, constant, nums)
    return out, nums


def sides(form: Form, inst: RuleInstance, values: Mapping[str, Any],
          previous: Mapping[str, Any] | None = None) -> tuple[Number, Number]:
    """Left and right value of one rule instance (previous-year refs read `previous`)."""
    return instance_sides(plan(form), inst.id, numbers(values),
                          numbers(previous) if previous is not None else None)


def instance_sides(p: Plan, instance: str, nums: Mapping[str, Number],
                   prev: Mapping[str, Number] | None = None) -> tuple[Number, Number]:
    """sides() over values already turned into numbers (evaluate many instances at once)."""
    lhs, lc, rhs, rc = p.sides[instance]
    return _sum(lhs, lc, nums, prev), _sum(rhs, rc, nums, prev)


def invalid_count(cells: list[InputCell], values: Mapping[str, Any]) -> int:
    """Python twin of layout.values_excel for one rectangle of inputs."""
    raw = [values.get(c.field) for c in cells]
    if set(map(type, raw)) <= _WHOLE_TYPES and min(filter(None, raw), default=0) >= 0:
        return 0  # the usual rectangle: blanks and whole counts, decided at C speed
    na = any(c.not_applicable for c in cells)
    text = len([v for v in raw if v is not None and v != "" and _is_text(v)
                and not (na and v in NA_MARKERS)])
    negative = len([v for v in raw if _is_number(v) and v < 0])
    fraction = 0
    if cells[0].kind == COUNT:
        fraction = len([v for v in raw if _is_number(v) and not _whole(v)])
    return text + negative + fraction


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _whole(value: Number) -> bool:
    """An integral number (inf and NaN are not: a file may hold them, a count cannot)."""
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, Decimal):
        return value.is_finite() and value == value.to_integral_value()
    return True


def _is_text(value: Any) -> bool:
    """COUNTA counts it but COUNT does not (dates are numbers to a spreadsheet)."""
    return not _is_number(value) and not isinstance(value, datetime | date | time)


@dataclass(frozen=True)
class _TableCells:
    """Where one table's derived cells are, and what they count (see sheet_values)."""

    id: str
    rects: tuple[tuple[InputCell, ...], ...]
    fields: tuple[str, ...]                  # every input of the rectangles, for blanks
    checks: tuple[int, ...]                  # its check cells, as places in _SheetPlan.checks
    values_key: tuple[str, int, int]
    counts: tuple[tuple[str, tuple[str, int, int]], ...]
    status_key: tuple[str, int, int]


@dataclass(frozen=True)
class _SheetPlan:
    computed: tuple[tuple[str, int, int], ...]  # cells of computed fields ...
    computed_fields: tuple[str, ...]            # ... and their fields
    checks: tuple[tuple[str, int, int], ...]    # check cells ...
    check_sides: tuple[int, ...]                # ... and their instances' places in Plan.sides
    tables: tuple[_TableCells, ...]
    status_key: tuple[str, int, int]


def _sheet_plan(layout: Layout) -> _SheetPlan:
    """The formula cells of a layout grouped once for sheet_values."""
    computed = [c for c in layout.formulas if c.role == "computed"]
    checks = [c for c in layout.formulas if c.role == "check"]
    instances = list(plan(layout.form).sides)
    tables = []
    for table in layout.form.tables:
        rects = tuple(tuple(cells) for _, cells in layout.input_rects(table.id))
        own = {c.area.key for c in layout.checks.values() if c.table == table.id}
        tables.append(_TableCells(
            table.id, rects, tuple(c.field for cells in rects for c in cells),
            tuple(i for i, c in enumerate(checks) if c.area.key in own),
            layout.values[table.id].area.key,
            tuple((role, cell.area.key) for role, cell in layout.counts[table.id].items()),
            layout.table_status[table.id].area.key))
    return _SheetPlan(
        tuple(c.area.key for c in computed), tuple(c.field for c in computed),  # type: ignore[misc]
        tuple(c.area.key for c in checks),
        tuple(instances.index(c.instance) for c in checks),  # type: ignore[arg-type]
        tuple(tables), layout.status.area.key)


def sheet_values(layout: Layout, values: Mapping[str, Any]) -> dict[tuple[str, int, int], Any]:
    """The value of every formula cell, keyed by (sheet, row, col) of its top-left cell."""
    form = layout.form
    sp = layout.derived("sheet_values", _sheet_plan)
    full, nums = _completed(form, values)
    p = plan(form)
    out: dict[tuple[str, int, int], Any] = dict(zip(
        sp.computed, map(full.__getitem__, sp.computed_fields), strict=True))
    try:
        found = p.current(nums)
    except TypeError:  # floats read from a file beside exact Decimals: one by one
        found = tuple(current_sides(p, nums).values())
    pairs = list(map(found.__getitem__, sp.check_sides))
    try:
        differences = [lhs - rhs for lhs, rhs in pairs]
    except TypeError:
        differences = [difference(lhs, rhs) for lhs, rhs in pairs]
    # a spreadsheet shows a float difference that is whole as a whole number
    differences = [int(d) if d.__class__ is float and d.is_integer() else d
                   for d in differences]
    out.update(zip(sp.checks, differences, strict=True))
    all_unbalanced = all_invalid = all_blank = 0
    for t in sp.tables:
        shown = list(map(full.get, t.fields))
        if set(map(type, shown)) <= _WHOLE_TYPES and min(filter(None, shown), default=0) >= 0:
            invalid = 0  # the usual table: blanks and whole counts (as invalid_count decides)
        else:
            invalid = sum(invalid_count(list(cells), full) for cells in t.rects)
        c = {"unbalanced": sum(1 for i in t.checks if differences[i] != 0),
             "invalid": invalid, "blank": shown.count(None) + shown.count("")}
        out[t.values_key] = invalid
        for role, key in t.counts:
            out[key] = c[role]
        out[t.status_key] = _status(c["unbalanced"], invalid, c["blank"], "本表",
                                    form.cover.incomplete)
        all_unbalanced += c["unbalanced"]
        all_invalid += invalid
        all_blank += c["blank"]
    out[sp.status_key] = _status(all_unbalanced, all_invalid, all_blank, "",
                                 form.cover.incomplete)
    return out


_status = lru_cache(maxsize=4096)(status_text)  # (a few texts over and over)


def difference(a: Number, b: Number) -> Number:
    """a - b, in floats when a file's floats meet exact Decimals."""
    try:
        return a - b  # type: ignore[operator]
    except TypeError:
        return float(a) - float(b)


def _tidy_total(value: Number) -> Number:
    """An integral Decimal becomes an int (as a spreadsheet shows it); floats stay."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value
