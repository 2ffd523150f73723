"""The rule language: parsing, evaluation, compilation to Excel, group expansion, errors.

The parser is hand-written and accepts only sums of references compared with `==`: no text of
a spec can run code.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nianbao.cells import a1, col_letters
from nianbao.spec import expr
from nianbao.spec.expr import (
    Comparison,
    ExprError,
    Number,
    Ref,
    Side,
    compress,
    excel_side,
    parse,
)
from nianbao.validate import evaluate


def terms(side: Side) -> list[tuple[int, str]]:
    """A side as (sign, "field" / "prev.field" / "constant") pairs, easy to compare."""
    return [(s, str(t) if isinstance(t, Ref) else f"{t}") for s, t in side.terms]


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "lhs", "rhs"), [
    ("a == b", [(1, "a")], [(1, "b")]),
    ("t3.new.total == t3.carry_forward.total",
     [(1, "t3.new.total")], [(1, "t3.carry_forward.total")]),
    ("a + b - c == 3", [(1, "a"), (1, "b"), (-1, "c")], [(1, "3")]),
    ("a - (b - c) == 0", [(1, "a"), (-1, "b"), (1, "c")], [(1, "0")]),
    ("a - (b - (c + d)) == e", [(1, "a"), (-1, "b"), (1, "c"), (1, "d")], [(1, "e")]),
    ("a == sum(b, c, d)", [(1, "a")], [(1, "b"), (1, "c"), (1, "d")]),
    ("a == x - sum(b, c)", [(1, "a")], [(1, "x"), (-1, "b"), (-1, "c")]),
    ("1.5 == a", [(1, "1.5")], [(1, "a")]),
    ("a == 01", [(1, "a")], [(1, "1")]),
    ("prev.t3.x.y == t3.x.y", [(1, "prev.t3.x.y")], [(1, "t3.x.y")]),
    ("   a\n==\tb   ", [(1, "a")], [(1, "b")]),
])
def test_parse(text, lhs, rhs):
    c = parse(text)
    assert isinstance(c, Comparison)
    assert (terms(c.lhs), terms(c.rhs), c.op) == (lhs, rhs, "==")


def test_prev_flag_and_refs_order():
    c = parse("t2.a.in_force == prev.t2.a.in_force + t2.a.issued - t2.a.repealed")
    assert [(r.field, r.prev) for r in c.refs] == [
        ("t2.a.in_force", False), ("t2.a.in_force", True), ("t2.a.issued", False),
        ("t2.a.repealed", False)]
    assert isinstance(c.rhs.terms[0][1], Ref) and c.rhs.terms[0][1].prev
    assert c.lhs.refs == [Ref("t2.a.in_force")]


def test_constants_are_exact_decimals():
    c = parse("a == 0.1 + 0.2")
    assert [t for _, t in c.rhs.terms] == [Decimal("0.1"), Decimal("0.2")]
    assert all(type(t) is Decimal for _, t in c.rhs.terms)


# --- group expansion --------------------------------------------------------------------------

GROUPS = {"g": ["p", "q", "r"], "one": ["p"]}


def expand(ref: str) -> list[str]:
    m = re.search(r"\[(\w+)\]", ref)
    if not m:
        return [ref]
    if m.group(1) not in GROUPS:
        raise ExprError(f"未知的分组“{m.group(1)}”")
    return [ref[: m.start()] + member + ref[m.end():] for member in GROUPS[m.group(1)]]


def test_group_expands_inside_sum():
    c = parse("t.x.total == sum(t.x.[g])", expand)
    assert terms(c.rhs) == [(1, "t.x.p"), (1, "t.x.q"), (1, "t.x.r")]


def test_group_in_the_middle_of_a_reference():
    c = parse("t.total.c == sum(t.[g].c)", expand)
    assert terms(c.rhs) == [(1, "t.p.c"), (1, "t.q.c"), (1, "t.r.c")]


def test_group_with_prev_and_negative_sum():
    c = parse("a == b - sum(prev.t.[g])", expand)
    assert terms(c.rhs) == [(1, "b"), (-1, "prev.t.p"), (-1, "prev.t.q"), (-1, "prev.t.r")]


def test_several_groups_in_one_sum():
    c = parse("a == sum(t.[g], u.[one], v)", expand)
    assert terms(c.rhs) == [(1, "t.p"), (1, "t.q"), (1, "t.r"), (1, "u.p"), (1, "v")]


def test_group_outside_sum_is_an_error():
    with pytest.raises(ExprError, match="只能写在 sum"):
        parse("a == t.[g]", expand)


def test_single_member_group_outside_sum_is_one_reference():
    assert terms(parse("a == t.[one]", expand).rhs) == [(1, "t.p")]


def test_unknown_group_error_comes_from_the_resolver():
    with pytest.raises(ExprError, match="未知的分组“nope”"):
        parse("a == sum(t.[nope])", expand)


def test_groups_of_the_shipped_spec(form):
    by_id = {i.id: i for i in form.instances}
    applicants = ["natural_person", "business", "research", "nonprofit", "legal_service",
                  "other_org"]
    assert [r.field for r in by_id["R5:denied.inquiry"].comparison.rhs.refs] == [
        f"t3.denied.inquiry.{c}" for c in applicants]
    outcomes = form.table("t3").groups["outcomes"]
    assert outcomes[0] == "granted" and outcomes[-1] == "other.other" and len(outcomes) == 21
    assert form.table("t3").groups["applicants"] == tuple(applicants)
    assert [r.field for r in by_id["R6:total"].comparison.rhs.refs] == [
        f"t3.{row}.total" for row in outcomes]


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "words"), [
    ("", "表达式不完整"),
    ("a", "表达式不完整"),
    ("a ==", "表达式不完整"),
    ("== a", "意外的“==”"),
    ("a = b", "无法识别"),
    ("a != b", "无法识别"),
    ("a < b", "无法识别"),
    ("a == b == c", "第 4 个记号处多余的内容"),
    ("a == b)", "多余的内容"),
    ("(a == b)", "应为“)”，实为“==”"),
    ("a == -b", "意外的“-”"),
    ("-a == b", "意外的“-”"),
    ("a == b * 2", "无法识别"),
    ("a == b / 2", "无法识别"),
    ("a == 1e3", "多余的内容"),
    ("a == .5", "无法识别"),
    ("a == sum()", "sum(...) 中应为字段引用，实为“)”"),
    ("a == sum(1)", "sum(...) 中应为字段引用，实为“1”"),
    ("a == sum(b", "表达式不完整"),
    ("a == sum", "表达式不完整"),
    ("sum == 1", "应为“(”"),
    ("a == b # comment", "无法识别"),
    ("a == 'b'", "无法识别"),
    ('a == "b"', "无法识别"),
    ("a == b; c", "无法识别"),
])
def test_bad_text_is_an_expr_error(text, words):
    with pytest.raises(ExprError) as info:
        parse(text)
    assert words in str(info.value)
    assert f"“{text}”" in str(info.value)


@pytest.mark.parametrize(("text", "position"), [("a = b", 3), ("a  ! b", 4), ("a == b # c", 8)])
def test_error_position_is_the_offending_character(text, position):
    with pytest.raises(ExprError) as info:
        parse(text)
    assert f"第 {position} 个字符处无法识别" in str(info.value)


def test_error_position_without_whitespace():
    with pytest.raises(ExprError, match="第 2 个字符处无法识别"):
        parse("a=b")


def test_expr_error_is_a_value_error():
    assert issubclass(ExprError, ValueError)


# --- no code execution ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch /tmp/pwned') == 1",
    "open('/etc/passwd') == 1",
    "a == (lambda: 1)()",
    "a == [x for x in b]",
    "a == eval('1')",
    "a == exec('import os')",
    "a == {1: 2}",
    "a == b if c else d",
])
def test_code_is_rejected(text):
    with pytest.raises(ExprError):
        parse(text)


def test_dunder_names_are_mere_field_names():
    """A bare name is a field reference, looked up in the form's field map, never evaluated."""
    c = parse("__import__ == __builtins__ + b.__class__.__mro__[1]")
    assert c.refs == [Ref("__import__"), Ref("__builtins__"), Ref("b.__class__.__mro__[1]")]


def test_parse_and_compile_without_eval_or_exec():
    calls: list[str] = []

    def forbidden(name: str):
        def call(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called")
        return call

    names = ("eval", "exec", "compile", "__import__")
    saved = {name: getattr(builtins, name) for name in names}
    try:
        for name in names:
            setattr(builtins, name, forbidden(name))
        c = parse("t.a + t.b - (t.c - 2) == sum(t.d, t.e)")
        lhs = excel_side(c.lhs, lambda r: "A1")
    finally:
        for name, fn in saved.items():
            setattr(builtins, name, fn)
    assert calls == []
    assert lhs == "SUM(A1,A1)-SUM(A1)+2"
    # (the Python side of the rules is compiled and run by validate/evaluate.py: its own
    # guards against a hostile spec are in test_rules_compiled.py)


def test_module_has_no_dynamic_code_paths():
    tree = ast.parse(inspect.getsource(expr))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for dangerous in ("eval", "exec", "compile", "__import__", "getattr", "globals", "locals",
                      "vars", "open"):
        assert dangerous not in names, dangerous
    assert not attrs & {"__import__", "system", "popen", "eval", "exec", "__dict__"}
    imported = {a.name.split(".")[0] for n in ast.walk(tree)
                if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not (imported | modules) & {"os", "subprocess", "importlib", "pickle", "ast"}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab.()+-=,[]_ 0123456789sum\n'\"!*;", max_size=40))
def test_any_text_parses_or_is_an_expr_error(text):
    try:
        result = parse(text)
    except ExprError:
        return
    assert isinstance(result, Comparison)
    assert all(isinstance(t, Ref | Decimal) for _, t in result.lhs.terms + result.rhs.terms)


# --- evaluation, by the compiled path validate/evaluate.py runs ---------------------------------


def summed(side: Side, values: dict[str, Number], prev: dict[str, Number] | None = None
           ) -> Number:
    """One side as the checker sums it: compiled (evaluate._compile) and, where a file's
    floats meet exact Decimals or previous-year terms count, term by term."""
    terms, constant = evaluate._terms(side)
    none = evaluate.Terms(())
    sides = {"s": (terms, constant, none, 0)}
    p = evaluate.Plan((), sides, *evaluate._compile(sides, ()), ())
    if prev is not None:
        return evaluate.instance_sides(p, "s", values, prev)[0]
    return evaluate.current_sides(p, values)["s"][0]


def test_evaluate_ints():
    c = parse("a + b - c == 0")
    values = {"a": 5, "b": 7, "c": 2}
    assert summed(c.lhs, values) == 10
    assert summed(c.rhs, values) == 0


def test_evaluate_decimals_is_exact_and_integral_results_are_ints():
    side = parse("a + b == 0").lhs
    total = summed(side, {"a": Decimal("0.1"), "b": Decimal("0.2")})
    assert total == Decimal("0.3") and isinstance(total, Decimal)
    total = summed(side, {"a": Decimal("1.5"), "b": Decimal("1.5")})
    assert total == 3 and type(total) is int


def test_evaluate_constants():
    assert summed(parse("a - 1.5 == 0").lhs, {"a": 3}) == Decimal("1.5")
    assert summed(parse("a == 0").rhs, {"a": 99}) == 0


def test_evaluate_floats():
    assert summed(parse("a + b == 0").lhs, {"a": 0.5, "b": 0.5}) == 1.0


def test_evaluate_prev_goes_through_the_lookup():
    side = parse("a == prev.a - a").rhs
    assert summed(side, {"a": 3}, {"a": 10}) == 7


@pytest.mark.parametrize(("text", "values", "expected"), [
    ("a - 1.5 == 0", {"a": 3.0}, 1.5),
    ("a + b == 0", {"a": 0.5, "b": Decimal("1.5")}, 2),
])
def test_evaluate_mixed_float_and_decimal(text, values, expected):
    assert summed(parse(text).lhs, values) == expected


# --- compiling to Excel -----------------------------------------------------------------------

ADDRESSES = {"a": "D7", "b": "E7", "c": "F7", "d": "D8", "e": "D9", "x": "J30"}


@pytest.mark.parametrize(("text", "excel"), [
    ("a == 0", "SUM(D7)"),
    ("a + b + c == 0", "SUM(D7:F7)"),
    ("a + d + e == 0", "SUM(D7:D9)"),
    ("a + e == 0", "SUM(D7,D9)"),
    ("d + a + b == 0", "SUM(D8,D7:E7)"),
    ("a + b - c == 0", "SUM(D7:E7)-SUM(F7)"),
    ("a - b - c == 0", "SUM(D7)-SUM(E7:F7)"),
    ("a + b + 2 == 0", "SUM(D7:E7)+2"),
    ("a - 2 == 0", "SUM(D7)-2"),
    ("a + 1.50 == 0", "SUM(D7)+1.5"),
    ("100 + a == 0", "SUM(D7)+100"),
    ("0 == a", "0"),
    ("2 - 5 == a", "-3"),
    ("a - 1 + 1 == 0", "SUM(D7)"),
    ("x + a == 0", "SUM(J30,D7)"),
])
def test_excel_side(text, excel):
    assert excel_side(parse(text).lhs, lambda r: ADDRESSES[r.field]) == excel


def test_excel_side_of_the_shipped_rules(form, layout):
    by_id = {i.id: i for i in form.instances}

    def address(r: Ref) -> str:
        return layout.places[r.field].a1

    assert excel_side(by_id["R5:new"].comparison.rhs, address) == "SUM(D7:I7)"
    assert excel_side(by_id["R6:natural_person"].comparison.rhs, address) == "SUM(D9:D29)"
    assert excel_side(by_id["R1:business"].comparison.lhs, address) == "SUM(E7:E8)"
    assert excel_side(by_id["R1:business"].comparison.rhs, address) == "SUM(E30:E31)"
    assert excel_side(by_id["R7:suit_after_review"].comparison.rhs, address) == "SUM(K7:N7)"


@pytest.mark.parametrize(("cells", "ranges"), [
    ([], []),
    (["D7"], ["D7"]),
    (["D7", "D8", "D9"], ["D7:D9"]),
    (["D7", "E7", "F7"], ["D7:F7"]),
    (["D7", "E8"], ["D7", "E8"]),
    (["D7", "D8", "E8", "F8"], ["D7:D8", "E8:F8"]),
    (["D7", "D8", "D10"], ["D7:D8", "D10"]),
    (["D9", "D8"], ["D9", "D8"]),
    (["A1", "A1"], ["A1", "A1"]),
    (["Y1", "Z1", "AA1", "AB1"], ["Y1:AB1"]),
    (["AZ3", "BA3"], ["AZ3:BA3"]),
    (["D7", "x!A1", "D8"], ["D7", "x!A1", "D8"]),
    (["D7", "E7", "E8"], ["D7:E7", "E8"]),
])
def test_compress(cells, ranges):
    assert compress(cells) == ranges


def test_compress_keeps_every_cell_once():
    cells = [a1(r, c) for r in range(6, 31) for c in range(3, 9)]
    out = compress(cells)
    assert out == [f"D{r}:I{r}" for r in range(7, 32)]


# Python and the compiled Excel formula compute the same number ---------------------------------

_SUM = re.compile(r"([+-]?)SUM\(([^)]*)\)|([+-]?)(\d+(?:\.\d+)?)")
_CELL = re.compile(r"^([A-Z]+)(\d+)$")


def _cells_of(ref: str) -> list[str]:
    if ":" not in ref:
        return [ref]
    first, last = (_CELL.match(p) for p in ref.split(":"))
    assert first and last
    c0, c1 = _col(first.group(1)), _col(last.group(1))
    r0, r1 = int(first.group(2)), int(last.group(2))
    return [f"{col_letters(c)}{r}" for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def excel_eval(formula: str, sheet: dict[str, int]) -> Decimal:
    """A tiny evaluator for what excel_side writes: signed SUM()s and constants."""
    total, pos = Decimal(0), 0
    for m in _SUM.finditer(formula):
        assert m.start() == pos, (formula, pos)
        pos = m.end()
        if m.group(2) is not None:
            value = sum((sheet.get(c, 0) for ref in m.group(2).split(",")
                         for c in _cells_of(ref)), 0)
            total += -value if m.group(1) == "-" else value
        else:
            value = Decimal(m.group(4))
            total += -value if m.group(3) == "-" else value
    assert pos == len(formula), formula
    return total


FIELDS = [f"f.r{r}c{c}" for r in range(4) for c in range(4)]
ADDRESS = {f"f.r{r}c{c}": a1(r + 6, c + 3) for r in range(4) for c in range(4)}

term = st.one_of(st.sampled_from(FIELDS),
                 st.decimals(min_value=0, max_value=1000, places=2).map(lambda d: f"{d}"),
                 st.lists(st.sampled_from(FIELDS), min_size=1, max_size=5).map(
                     lambda fs: f"sum({', '.join(fs)})"))


@st.composite
def side_text(draw) -> str:
    items = draw(st.lists(term, min_size=1, max_size=8))
    signs = draw(st.lists(st.sampled_from(["+", "-"]), min_size=len(items) - 1,
                          max_size=len(items) - 1))
    text = items[0]
    for sign, item in zip(signs, items[1:], strict=True):
        text += f" {sign} {item}"
    if draw(st.booleans()) and len(items) > 1:
        text = f"{items[0]} - ({text})"
    return text


@settings(max_examples=200, deadline=None)
@given(side_text(), st.dictionaries(st.sampled_from(FIELDS), st.integers(0, 10**6)))
def test_excel_formula_computes_what_python_computes(text, values):
    side = parse(f"{text} == 0").lhs
    python = summed(side, dict(values))
    sheet = {ADDRESS[f]: v for f, v in values.items()}
    formula = excel_side(side, lambda r: ADDRESS[r.field])
    assert excel_eval(formula, sheet) == Decimal(str(python))
