"""The balancing rules over a record, and the value rule through the whole pipeline.

An independent oracle (plain sums over the documented structure, not the spec's rule
instances) says which instances a record breaks; check_rules must report exactly those, one
UNBALANCED finding each, located at the anchor field's cell.
"""

from __future__ import annotations

import io
import warnings
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nianbao.check import check_bytes
from nianbao.findings import Severity
from nianbao.read.normalise import NA
from nianbao.render.workbook import RenderOptions, render
from nianbao.validate.rules import check_rules

APPLICANTS = ["natural_person", "business", "research", "nonprofit", "legal_service",
              "other_org"]
COLUMNS = [*APPLICANTS, "total"]
ROWS = [
    "new", "carried_over", "granted", "partial",
    "denied.state_secret", "denied.prohibited_by_law", "denied.security_stability",
    "denied.third_party", "denied.internal_affairs", "denied.process_info",
    "denied.enforcement_files", "denied.inquiry",
    "unable.not_held", "unable.needs_creation", "unable.unclear",
    "not_processed.petition", "not_processed.duplicate", "not_processed.publication",
    "not_processed.excessive", "not_processed.confirmation",
    "other.overdue_correction", "other.overdue_fee", "other.other",
    "outcome_total", "carry_forward",
]
OUTCOMES = ROWS[2:23]
BLOCKS = ["review", "suit_direct", "suit_after_review"]
T4_PARTS = ["upheld", "corrected", "other", "pending"]
T2_ROWS = ["regulations", "normative_docs"]
IDENTITY = {"unit.code": "330503-017", "unit.name": "某区文化和广电旅游体育局", "year": 2022}


# --- the oracle -------------------------------------------------------------------------------


def _num(value: Any) -> Any:
    return value if isinstance(value, int | Decimal) and not isinstance(value, bool) else 0


def complete(values: dict[str, Any]) -> dict[str, Any]:
    """Numbers of every field; a total not given is the sum it stands for."""
    v = {k: _num(x) for k, x in values.items()}

    def get(key: str) -> Any:
        return v.get(key, 0)

    for col in APPLICANTS:
        v.setdefault(f"t3.outcome_total.{col}", sum(get(f"t3.{r}.{col}") for r in OUTCOMES))
    for row in ROWS:
        v.setdefault(f"t3.{row}.total", sum(get(f"t3.{row}.{c}") for c in APPLICANTS))
    for b in BLOCKS:
        v.setdefault(f"t4.{b}.total", sum(get(f"t4.{b}.{p}") for p in T4_PARTS))
    return v


def oracle(values: dict[str, Any], previous: dict[str, Any] | None = None
           ) -> dict[str, tuple[Any, Any]]:
    """Instance id -> (lhs, rhs) of every broken instance, from the documented rules."""
    v = complete(values)
    g = lambda key: v.get(key, 0)  # noqa: E731
    out: dict[str, tuple[Any, Any]] = {}

    def compare(inst: str, lhs: Any, rhs: Any) -> None:
        if lhs != rhs:
            out[inst] = (lhs, rhs)

    for c in COLUMNS:
        compare(f"R1:{c}", g(f"t3.new.{c}") + g(f"t3.carried_over.{c}"),
                g(f"t3.outcome_total.{c}") + g(f"t3.carry_forward.{c}"))
    for r in ROWS:
        compare(f"R5:{r}", g(f"t3.{r}.total"), sum(g(f"t3.{r}.{c}") for c in APPLICANTS))
    for c in COLUMNS:
        compare(f"R6:{c}", g(f"t3.outcome_total.{c}"), sum(g(f"t3.{r}.{c}") for r in OUTCOMES))
    for b in BLOCKS:
        compare(f"R7:{b}", g(f"t4.{b}.total"), sum(g(f"t4.{b}.{p}") for p in T4_PARTS))
    if previous is not None:
        p = complete(previous)
        for c in COLUMNS:
            compare(f"X1:{c}", g(f"t3.carried_over.{c}"), p.get(f"t3.carry_forward.{c}", 0))
        for r in T2_ROWS:
            compare(f"X2:{r}", g(f"t2.{r}.in_force"),
                    p.get(f"t2.{r}.in_force", 0) + g(f"t2.{r}.issued") - g(f"t2.{r}.repealed"))
    return out


def by_instance(findings) -> dict[str, Any]:
    out = {}
    for f in findings:
        assert f.code == "UNBALANCED"
        inst = f.values["instance"]
        assert inst not in out, f"two findings for {inst}"
        out[inst] = f
    return out


def assert_matches_oracle(form, layout, values, previous=None) -> dict[str, Any]:
    found = by_instance(check_rules(form, values, previous=previous, file="a.xlsx"))
    expected = oracle(values, previous)
    assert set(found) == set(expected)
    anchors = {i.id: i.anchor for i in form.instances}
    for inst, f in found.items():
        place = layout.places[anchors[inst]]
        assert (f.rule, f.sheet, f.cell, f.field, f.file) == (
            inst.split(":")[0], place.sheet, place.a1, anchors[inst], "a.xlsx")
        lhs, rhs = expected[inst]
        assert (f.values["lhs"], f.values["rhs"], f.values["diff"]) == (lhs, rhs, lhs - rhs)
        assert f.severity == (Severity.WARNING if inst[0] == "X" else Severity.ERROR)
    return found


def test_oracle_agrees_with_itself_on_a_known_case():
    assert oracle({"t4.review.upheld": 10, "t4.review.corrected": 1, "t4.review.total": 0}) == {
        "R7:review": (0, 11)}


# --- each rule broken on a values dict --------------------------------------------------------


def located(findings) -> list[tuple]:
    return sorted((f.rule, f.values["instance"], f.sheet, f.cell, f.field, f.values["lhs"],
                   f.values["rhs"], f.values["diff"]) for f in findings)


def test_r1_column_natural_person(form):
    findings = check_rules(form, {"t3.new.natural_person": 5}, file="a.xlsx")
    assert {f.code for f in findings} == {"UNBALANCED"}
    assert located(findings) == [
        ("R1", "R1:natural_person", "依申请公开", "D7", "t3.new.natural_person", 5, 0, 5),
        ("R1", "R1:total", "依申请公开", "J7", "t3.new.total", 5, 0, 5),
    ]
    f = next(f for f in findings if f.field == "t3.new.natural_person")
    assert f.severity == Severity.ERROR and f.file == "a.xlsx"
    # in the filler's words: rows and the column by their labels, the cells in brackets
    assert f.message == (
        "依申请公开!D7：一、本年新收 + 二、上年结转（自然人：5）≠（七）总计 + 四、结转下年度"
        "（自然人：0），差 5 [D7+D8, D30+D31]（第一项加第二项之和，应等于第三项（七）总计加第四项"
        "之和）")


def test_r1_with_carried_over_and_carry_forward(form):
    values = {"t3.carried_over.research": 4, "t3.granted.research": 1,
              "t3.carry_forward.research": 2}
    assert located(check_rules(form, values)) == [
        ("R1", "R1:research", "依申请公开", "F7", "t3.new.research", 4, 3, 1),
        ("R1", "R1:total", "依申请公开", "J7", "t3.new.total", 4, 3, 1),
    ]


def test_r5_total_given_as_a_disagreeing_constant(form):
    values = {"t3.new.natural_person": 3, "t3.granted.natural_person": 3,
              "t3.granted.total": 5}
    assert located(check_rules(form, values)) == [
        ("R5", "R5:granted", "依申请公开", "J9", "t3.granted.total", 5, 3, 2),
        ("R6", "R6:total", "依申请公开", "J30", "t3.outcome_total.total", 3, 5, -2),
    ]


def test_r5_total_given_as_an_agreeing_constant(form):
    values = {"t3.new.natural_person": 3, "t3.granted.natural_person": 3,
              "t3.granted.total": 3, "t3.new.total": 3}
    assert check_rules(form, values) == []


def test_r6_outcome_total_given_as_a_constant(form):
    values = {"t3.new.natural_person": 3, "t3.outcome_total.natural_person": 3}
    assert located(check_rules(form, values)) == [
        ("R6", "R6:natural_person", "依申请公开", "D30", "t3.outcome_total.natural_person",
         3, 0, 3),
        ("R6", "R6:total", "依申请公开", "J30", "t3.outcome_total.total", 3, 0, 3),
    ]


@pytest.mark.parametrize(("values", "expected"), [
    ({"t4.review.upheld": 10, "t4.review.corrected": 1, "t4.review.total": 0},
     ("R7", "R7:review", "复议诉讼", "E7", "t4.review.total", 0, 11, -11)),
    ({"t4.suit_direct.total": 2},
     ("R7", "R7:suit_direct", "复议诉讼", "J7", "t4.suit_direct.total", 2, 0, 2)),
    ({"t4.suit_after_review.pending": 2, "t4.suit_after_review.total": 1},
     ("R7", "R7:suit_after_review", "复议诉讼", "O7", "t4.suit_after_review.total", 1, 2, -1)),
])
def test_r7_each_block(form, values, expected):
    findings = check_rules(form, values)
    assert located(findings) == [expected]
    assert "总计应等于结果维持、结果纠正、其他结果、尚未审结四项之和" in findings[0].message


def test_empty_and_all_zero_records_balance(form, layout):
    assert check_rules(form, {}) == []
    zeros = {fid: 0 for fid, c in layout.inputs.items() if c.kind in ("count", "amount")}
    assert check_rules(form, zeros) == []


def test_text_and_na_count_as_zero_like_sum_does(form):
    values = {"t3.new.natural_person": "abc", "t3.granted.natural_person": NA,
              "t3.new.business": None}
    assert check_rules(form, values) == []


def test_fraction_is_used_exactly(form):
    findings = check_rules(form, {"t3.new.natural_person": Decimal("1.5")})
    assert [(f.values["instance"], f.values["diff"]) for f in findings] == [
        ("R1:natural_person", Decimal("1.5")), ("R1:total", Decimal("1.5"))]


# --- balanced records, and any perturbation of them -------------------------------------------


@st.composite
def balanced(draw, given_totals: bool = True) -> dict[str, Any]:
    values: dict[str, Any] = {}
    n = st.integers(0, 400)
    for col in APPLICANTS:
        out = 0
        for row in OUTCOMES:
            values[f"t3.{row}.{col}"] = v = draw(n)
            out += v
        values[f"t3.carry_forward.{col}"] = cf = draw(n)
        values[f"t3.carried_over.{col}"] = co = draw(st.integers(0, out + cf))
        values[f"t3.new.{col}"] = out + cf - co
    for b in BLOCKS:
        for p in T4_PARTS:
            values[f"t4.{b}.{p}"] = draw(st.integers(0, 30))
    for r in T2_ROWS:
        for c in ("issued", "repealed", "in_force"):
            values[f"t2.{r}.{c}"] = draw(st.integers(0, 100))
    values["t2.fees_wan_yuan"] = draw(st.decimals(0, 10**6, places=2))
    if given_totals and draw(st.booleans()):
        # the totals as a filler's file holds them: correct constants
        values.update({k: v for k, v in complete(values).items()
                       if k.endswith(".total") or k.startswith("t3.outcome_total.")})
    return values


@settings(max_examples=60, deadline=None)
@given(balanced())
def test_balanced_records_give_no_findings(form, values):
    assert check_rules(form, values) == []


@settings(max_examples=40, deadline=None)
@given(balanced(given_totals=False))
def test_cross_year_rules_hold_for_a_consistent_previous_year(form, values):
    previous = {f"t3.carry_forward.{c}": values[f"t3.carried_over.{c}"] for c in APPLICANTS}
    for r in T2_ROWS:
        previous[f"t2.{r}.in_force"] = (values[f"t2.{r}.in_force"] - values[f"t2.{r}.issued"]
                                        + values[f"t2.{r}.repealed"])
    assert check_rules(form, values, previous=previous) == []


FIELD_IDS = ([f"t3.{r}.{c}" for r in ROWS for c in COLUMNS]
             + [f"t4.{b}.{p}" for b in BLOCKS for p in [*T4_PARTS, "total"]])


@settings(max_examples=80, deadline=None)
@given(balanced(), st.dictionaries(st.sampled_from(FIELD_IDS), st.integers(-5, 500),
                                   min_size=1, max_size=4))
def test_any_perturbation_gives_one_finding_per_broken_instance(form, layout, values, changes):
    values = {**values, **changes}
    assert_matches_oracle(form, layout, values)


_OTHER = st.one_of(st.none(), st.text(max_size=3), st.booleans())
_FLOATS = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.just(-0.0))
_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False, places=3)
_NUMBERS = [st.one_of(st.integers(-10**15, 10**15), _OTHER), st.one_of(_FLOATS, _OTHER),
            st.one_of(_DECIMALS, st.integers(-10**6, 10**6), _OTHER),
            st.one_of(_FLOATS, _DECIMALS, _OTHER)]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_NUMBERS), st.booleans(), st.data())
def test_compiled_sides_are_the_term_by_term_sums(form, kind, every, data):
    """The rules compiled into one function give exactly what summing each side term by
    term gives, type and float rounding included; floats beside Decimals one by one. With
    every input given (a record read from a file) the compiled functions read n[id]."""
    from nianbao.validate.evaluate import (
        _sum,
        current_sides,
        field_values,
        instance_sides,
        numbers,
        plan,
    )

    p = plan(form)
    if every:
        inputs = [fid for fid in form.fields if fid not in p.computed_ids]
        values = data.draw(st.fixed_dictionaries(dict.fromkeys(inputs, kind)))
    else:
        values = data.draw(st.dictionaries(st.sampled_from(FIELD_IDS), kind, max_size=60))
    nums = numbers(values)
    if every:
        complete = dict(nums)
        try:
            p.totals.__globals__["totals_all"](complete)
            p.current.__globals__["current_all"](complete)  # no KeyError: every id is there
        except TypeError:
            pass
    try:
        p.current(nums)
    except TypeError:  # (only floats meeting Decimals)
        assert {type(v) for v in nums.values()} >= {float, Decimal}
    compiled = current_sides(p, nums)
    assert list(compiled) == list(p.sides)
    one_by_one = numbers(values)
    for fid, terms, constant in p.computed:
        if fid not in values:
            one_by_one[fid] = _sum(terms, constant, one_by_one)
    full = field_values(form, values)  # (all computed fields at once, or one by one)
    missing = [f for f in p.computed_ids if f not in values]
    assert [repr(full[f]) for f in missing] == [repr(one_by_one[f]) for f in missing]
    for instance, (lhs, rhs) in compiled.items():
        want = instance_sides(p, instance, nums)
        assert (repr(lhs), repr(rhs)) == (repr(want[0]), repr(want[1])), instance


# --- cross-year rules -------------------------------------------------------------------------


def test_cross_year_rules_run_only_with_previous(form, layout):
    values = {"t3.carried_over.natural_person": 2, "t3.granted.natural_person": 2,
              "t2.regulations.in_force": 5, "t2.regulations.issued": 1}
    assert check_rules(form, values) == []
    previous = {"t3.carry_forward.natural_person": 3, "t2.regulations.in_force": 5}
    found = assert_matches_oracle(form, layout, values, previous)
    assert located(found.values()) == [
        ("X1", "X1:natural_person", "依申请公开", "D8", "t3.carried_over.natural_person",
         2, 3, -1),
        ("X1", "X1:total", "依申请公开", "J8", "t3.carried_over.total", 2, 3, -1),
        ("X2", "X2:regulations", "主动公开", "D6", "t2.regulations.in_force", 5, 6, -1),
    ]
    assert all(f.severity == Severity.WARNING for f in found.values())
    x1 = found["X1:natural_person"]
    assert "上年 D31" in x1.message


def test_cross_year_with_an_empty_previous_record(form):
    values = {"t3.carried_over.business": 1, "t3.granted.business": 1}
    assert {f.values["instance"] for f in check_rules(form, values, previous={})} == {
        "X1:business", "X1:total"}


# --- through the whole pipeline: files edited with openpyxl -----------------------------------


@pytest.fixture(scope="module")
def filled(layout) -> bytes:
    """A valid return: issued, every number 0, prose written."""
    values: dict[str, Any] = {fid: 0 for fid, c in layout.inputs.items()
                              if c.kind in ("count", "amount")}
    values.update({"text.overview": "总体情况", "text.problems": "问题",
                   "text.other": "未收取信息处理费"})
    return render(layout, RenderOptions(identity=IDENTITY, lock_identity=True, values=values))


def edit(data: bytes, changes: dict[tuple[str, str], Any]) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(data))
    for (sheet, ref), value in changes.items():
        wb[sheet][ref] = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def check(data: bytes, changes: dict[tuple[str, str], Any]):
    result = check_bytes(edit(data, changes), "return.xlsx")
    assert all(f.file == "return.xlsx" for f in result.findings)
    # saved by openpyxl: no cached results, which is said once
    assert [f.code for f in result.findings].count("CACHED_MISSING") == 1
    return result


def summary(result) -> list[tuple]:
    return sorted(((f.code, f.severity.value, f.rule, f.sheet, f.cell, f.field)
                   for f in result.findings if f.code != "CACHED_MISSING"),
                  key=lambda t: tuple(str(x) for x in t))


def test_filled_template_is_valid(filled):
    result = check_bytes(filled, "return.xlsx")
    assert (result.status, result.findings) == ("valid", [])
    assert result.identity == IDENTITY


def test_unedited_save_is_valid(filled):
    result = check(filled, {})
    assert result.status == "valid"
    assert summary(result) == []


def test_text_in_a_count(filled):
    result = check(filled, {("依申请公开", "D7"): "abc"})
    assert summary(result) == [
        ("VALUE_TEXT", "error", "R8", "依申请公开", "D7", "t3.new.natural_person")]
    assert result.status == "invalid"
    assert result.values["t3.new.natural_person"] is None
    f = next(f for f in result.findings if f.code == "VALUE_TEXT")
    assert "「abc」" in f.message and "件数应填写不小于 0 的整数" in f.message


def test_negative_count(filled):
    result = check(filled, {("依申请公开", "D7"): -3})
    assert summary(result) == [
        ("UNBALANCED", "error", "R1", "依申请公开", "D7", "t3.new.natural_person"),
        ("UNBALANCED", "error", "R1", "依申请公开", "J7", "t3.new.total"),
        ("VALUE_NEGATIVE", "error", "R8", "依申请公开", "D7", "t3.new.natural_person"),
    ]
    assert result.values["t3.new.natural_person"] == -3


def test_negative_count_balanced_elsewhere(filled):
    result = check(filled, {("复议诉讼", "A7"): -1, ("复议诉讼", "B7"): 1})
    assert summary(result) == [
        ("VALUE_NEGATIVE", "error", "R8", "复议诉讼", "A7", "t4.review.upheld")]


def test_fraction_in_a_count(filled):
    result = check(filled, {("依申请公开", "D7"): 1.5, ("依申请公开", "D9"): 1.5})
    assert summary(result) == [
        ("VALUE_FRACTION", "error", "R8", "依申请公开", "D7", "t3.new.natural_person"),
        ("VALUE_FRACTION", "error", "R8", "依申请公开", "D9", "t3.granted.natural_person"),
    ]
    assert result.values["t3.new.natural_person"] == Decimal("1.5")


def test_number_with_unit_stored_as_text(filled):
    result = check(filled, {("依申请公开", "D7"): "12件", ("依申请公开", "D9"): 12})
    assert summary(result) == [
        ("VALUE_NORMALISED", "warning", None, "依申请公开", "D7", "t3.new.natural_person")]
    assert result.status == "valid"
    assert result.values["t3.new.natural_person"] == 12
    assert result.values["t3.new.total"] == 12
    f = result.findings[0]
    assert f.values["value"] == "12" and "「12件」" in f.message and "去掉了单位“件”" in f.message


def test_formula_in_an_input(filled):
    result = check(filled, {("依申请公开", "D7"): "=1+2"})
    assert summary(result) == [
        ("VALUE_FORMULA", "error", "R8", "依申请公开", "D7", "t3.new.natural_person")]
    assert result.findings[0].values["found"] == "=1+2"


def test_total_formula_overwritten_with_a_wrong_constant(filled):
    result = check(filled, {("依申请公开", "J7"): 5})
    assert summary(result) == [
        ("FORMULA_CHANGED", "error", None, "依申请公开", "J7", "t3.new.total"),
        ("UNBALANCED", "error", "R1", "依申请公开", "J7", "t3.new.total"),
        ("UNBALANCED", "error", "R5", "依申请公开", "J7", "t3.new.total"),
    ]
    assert result.values["t3.new.total"] == 5
    r5 = next(f for f in result.findings if f.rule == "R5")
    assert (r5.values["lhs"], r5.values["rhs"]) == (5, 0)


def test_total_formula_overwritten_with_the_right_constant(filled):
    result = check(filled, {("依申请公开", "D7"): 2, ("依申请公开", "E7"): 3,
                            ("依申请公开", "D9"): 2, ("依申请公开", "E9"): 3,
                            ("依申请公开", "J7"): 5})
    assert summary(result) == [
        ("FORMULA_CHANGED", "error", None, "依申请公开", "J7", "t3.new.total")]


def test_table_four_total_overwritten(filled):
    result = check(filled, {("复议诉讼", "E7"): 3})
    assert summary(result) == [
        ("FORMULA_CHANGED", "error", None, "复议诉讼", "E7", "t4.review.total"),
        ("UNBALANCED", "error", "R7", "复议诉讼", "E7", "t4.review.total"),
    ]


def test_blank_count_is_a_warning_not_a_zero(filled):
    result = check(filled, {("依申请公开", "D7"): None})
    assert summary(result) == [
        ("VALUE_BLANK", "warning", None, "依申请公开", "D7", "t3.new.natural_person")]
    assert result.status == "valid"
    assert result.values["t3.new.natural_person"] is None


def test_not_applicable_in_table_two_and_three(filled):
    result = check(filled, {("主动公开", "B6"): "/"})
    assert summary(result) == [
        ("VALUE_NOT_APPLICABLE", "info", None, "主动公开", "B6", "t2.regulations.issued")]
    assert result.values["t2.regulations.issued"] is NA
    assert result.to_dict()["values"]["t2.regulations.issued"] == "n/a"
    result = check(filled, {("依申请公开", "D7"): "/"})
    assert summary(result) == [
        ("VALUE_NA_NOT_ALLOWED", "error", "R8", "依申请公开", "D7", "t3.new.natural_person")]


def test_amount_is_read_exactly(filled):
    result = check(filled, {("主动公开", "B17"): 96171.6})
    assert summary(result) == []
    assert result.values["t2.fees_wan_yuan"] == Decimal("96171.6")
    assert result.to_dict()["values"]["t2.fees_wan_yuan"] == "96171.6"
    result = check(filled, {("主动公开", "B17"): "96171.6"})
    assert summary(result) == [
        ("VALUE_NORMALISED", "warning", None, "主动公开", "B17", "t2.fees_wan_yuan")]
    assert result.values["t2.fees_wan_yuan"] == Decimal("96171.6")


def test_a_rendered_record_reads_back_exactly(layout):
    record = {fid: i % 7 for i, (fid, c) in enumerate(layout.inputs.items())
              if c.kind == "count" and fid.startswith(("t2.", "t4."))}
    for col in APPLICANTS:
        record[f"t3.granted.{col}"] = 4
        record[f"t3.carry_forward.{col}"] = 1
        record[f"t3.carried_over.{col}"] = 2
        record[f"t3.new.{col}"] = 3
    record["t2.fees_wan_yuan"] = Decimal("96171.6")
    data = render(layout, RenderOptions(identity=IDENTITY, lock_identity=True, values=record))
    result = check_bytes(data, "r.xlsx")
    blanks = {f.field for f in result.findings if f.code == "VALUE_BLANK"}
    assert blanks == {fid for fid, c in layout.inputs.items()
                      if c.kind == "count" and fid not in record}
    assert {f.code for f in result.findings} <= {"VALUE_BLANK", "TEXT_BLANK"}
    assert result.status == "valid"
    for fid, value in record.items():
        assert result.values[fid] == value and type(result.values[fid]) is type(value), fid
    assert result.values["t3.new.total"] == 18
    assert result.values["t3.outcome_total.total"] == 24


def test_issued_identity_overwritten_with_garbage_is_reported(filled):
    result = check(filled, {("封面", "B6"): "二〇二二"})
    assert any(f.code in ("IDENTITY_EDITED", "IDENTITY_INVALID") and f.cell == "B6"
               for f in result.findings), summary(result)


def test_issued_identity_edited_is_reported(filled):
    result = check(filled, {("封面", "B6"): 2023})
    assert summary(result) == [("IDENTITY_EDITED", "error", None, "封面", "B6", "year")]
    assert result.identity["year"] == 2022
