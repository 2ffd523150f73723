"""Round trips through a real LibreOffice: a template is filled as a user would fill it,
recalculated and saved by Calc, and `check_file` must read back exactly what was typed, agree
with Calc's own totals and verdicts, and report exactly the faults that were put in."""

from __future__ import annotations

import io
import random
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nianbao.check import check_file
from nianbao.findings import Finding
from nianbao.render.workbook import render
from nianbao.spec.layout import Layout
from nianbao.spec.model import AMOUNT, CODE, COUNT, TEXT, YEAR, Form
from nianbao.testing.libreoffice import Edit, LibreOffice
from tests.conftest import issued

T3 = "依申请公开"
T4 = "复议诉讼"
COVER = "封面"
IDENTITY = {"unit.code": "330503-017", "unit.name": "某区文化和广电旅游体育局", "year": 2022}


# -- the form, as plain lists (the field ids are the public schema) ---------------------------

def t3_axes(form: Form) -> tuple[tuple[str, ...], tuple[str, ...]]:
    t3 = next(t for t in form.tables if t.id == "t3")
    return t3.groups["applicants"], t3.groups["outcomes"]


T4_BLOCKS = ("review", "suit_direct", "suit_after_review")
T4_PARTS = ("upheld", "corrected", "other", "pending")


def expected_totals(form: Form, values: Mapping[str, Any]) -> dict[str, int]:
    """Every computed field, summed here from the inputs (independently of nianbao)."""
    applicants, outcomes = t3_axes(form)
    out: dict[str, int] = {}
    for col in applicants:
        out[f"t3.outcome_total.{col}"] = sum(values[f"t3.{r}.{col}"] for r in outcomes)
    rows = ["new", "carried_over", *outcomes, "carry_forward"]
    for row in rows:
        out[f"t3.{row}.total"] = sum(values[f"t3.{row}.{c}"] for c in applicants)
    out["t3.outcome_total.total"] = sum(out[f"t3.outcome_total.{c}"] for c in applicants)
    for block in T4_BLOCKS:
        out[f"t4.{block}.total"] = sum(values[f"t4.{block}.{p}"] for p in T4_PARTS)
    return out


# -- building records ------------------------------------------------------------------------

def balanced_t3(form: Form, rnd: random.Random, min_new: int = 0) -> dict[str, int]:
    """Table 三 that satisfies R1 in every column: outcomes and carry-forward chosen per
    applicant column, their sum split into new + carried over (new >= min_new)."""
    applicants, outcomes = t3_axes(form)
    out: dict[str, int] = {}
    for col in applicants:
        for row in outcomes:
            out[f"t3.{row}.{col}"] = rnd.choice((0, 0, 0, rnd.randint(0, 30)))
        out[f"t3.carry_forward.{col}"] = rnd.randint(0, 6)
        total = sum(out[f"t3.{r}.{col}"] for r in outcomes) + out[f"t3.carry_forward.{col}"]
        if total < min_new:
            out[f"t3.granted.{col}"] += min_new - total
            total = min_new
        carried = rnd.randint(0, total - min_new)
        out[f"t3.carried_over.{col}"] = carried
        out[f"t3.new.{col}"] = total - carried
    return out


def full_record(form: Form, rnd: random.Random, min_new: int = 0) -> dict[str, Any]:
    """Valid values for every input but the identity (issued) and the 说明 notes."""
    values: dict[str, Any] = balanced_t3(form, rnd, min_new)
    values.update({f"t4.{b}.{p}": rnd.randint(0, 5) for b in T4_BLOCKS for p in T4_PARTS})
    for fid, f in form.fields.items():
        if f.table == "t2" and not f.computed and f.kind == COUNT:
            values[fid] = rnd.randint(0, 500)
    values["t2.fees_wan_yuan"] = Decimal(rnd.randint(0, 99999)) / 100
    values.update({"text.overview": "本年度主动公开政府信息若干条。", "text.problems": "无。",
                   "text.other": "未收取信息处理费。"})
    return values


def edits_for(layout: Layout, values: Mapping[str, Any]) -> list[Edit]:
    """Numbers typed as a user types them; text entered as text."""
    edits = []
    for fid, value in values.items():
        area = layout.places[fid]
        if isinstance(value, str):
            edits.append(Edit(area.sheet, area.a1, value, "auto"))
        elif isinstance(value, Decimal):
            edits.append(Edit(area.sheet, area.a1, format(value, "f"), "typed"))
        else:
            edits.append(Edit(area.sheet, area.a1, str(value), "typed"))
    return edits


def fill(lo: LibreOffice, src_bytes: bytes, dst: Path, layout: Layout,
         values: Mapping[str, Any], extra: list[Edit] | None = None) -> Path:
    src = dst.with_name(dst.stem + "-template.xlsx")
    src.write_bytes(src_bytes)
    lo.fill(src, dst, edits_for(layout, values) + list(extra or []), recalc=True)
    return dst


def summary(findings: list[Finding]) -> set[tuple[Any, ...]]:
    """Findings as comparable tuples: code, rule, sheet, cell, field, diff (for UNBALANCED)."""
    return {(f.code, f.rule, f.sheet, f.cell, f.field, f.values.get("diff")) for f in findings}


def cached_at(path: Path, areas: Mapping[str, Any]) -> dict[str, Any]:
    """The results Calc cached in the file, read by openpyxl (data_only)."""
    book = openpyxl.load_workbook(path, data_only=True)
    return {key: book[a.sheet].cell(a.row + 1, a.col + 1).value for key, a in areas.items()}


def verdict(diff: int) -> str:
    """What a check cell shows (number format FMT_BALANCE)."""
    return "平衡" if diff == 0 else f"不平衡，差 {diff}"


# -- property: random valid input round trips exactly ------------------------------------------

CJK = "政府信息公开工作年度报告区县局办处中心街道镇乡村社区申请答复依法主动平台建设监督保障"
PUNCT = "，。；：、（）“”《》—"
TEXT_CHARS = CJK + PUNCT + "abcXYZ0123456789 "


@st.composite
def valid_inputs(draw: st.DrawFn, form: Form) -> dict[str, Any]:
    applicants, outcomes = t3_axes(form)
    small = st.one_of(st.just(0), st.integers(0, 60))
    values: dict[str, Any] = {}
    for col in applicants:
        parts = draw(st.lists(small, min_size=len(outcomes), max_size=len(outcomes)))
        values.update({f"t3.{r}.{col}": v for r, v in zip(outcomes, parts, strict=True)})
        forward = draw(st.integers(0, 30))
        total = sum(parts) + forward
        carried = draw(st.integers(0, total))
        values.update({f"t3.carry_forward.{col}": forward, f"t3.carried_over.{col}": carried,
                       f"t3.new.{col}": total - carried})
    for block in T4_BLOCKS:
        for part in T4_PARTS:
            values[f"t4.{block}.{part}"] = draw(st.integers(0, 25))
    text = st.text(st.sampled_from(TEXT_CHARS + "\n"), min_size=1, max_size=200).filter(
        lambda s: s.strip() != "")
    for fid, f in form.fields.items():
        if f.computed or fid in values:
            continue
        if f.kind == COUNT:
            values[fid] = draw(st.one_of(st.integers(0, 50), st.integers(0, 4_000_000)))
        elif f.kind == AMOUNT:
            places = draw(st.integers(0, 4))
            values[fid] = Decimal(draw(st.integers(0, 10**9))).scaleb(-places)
        elif f.kind == YEAR:
            values[fid] = draw(st.integers(2000, 2100))
        elif f.kind == CODE:
            values[fid] = draw(st.text(st.sampled_from("0123456789ABCDEFGHJK-"), min_size=1,
                                       max_size=24).filter(lambda s: s.strip("-") != ""))
        elif f.kind == TEXT:
            values[fid] = draw(text)
    return values


@pytest.fixture(scope="module")
def blank_template(layout: Layout) -> bytes:
    return render(layout)


@pytest.mark.libreoffice
@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_valid_inputs_round_trip_exactly(
    data: st.DataObject, libreoffice: LibreOffice, layout: Layout, blank_template: bytes,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    form = layout.form
    values = data.draw(valid_inputs(form))
    assert set(values) == set(layout.inputs)  # every input cell is typed into
    path = fill(libreoffice, blank_template, tmp_path_factory.mktemp("rt") / "filled.xlsx",
                layout, values)

    result = check_file(path)
    assert [f.to_dict() for f in result.findings] == []
    assert result.status == "valid"
    for fid, value in values.items():
        got = result.values[fid]
        assert got == value, fid
        assert type(got) is type(value), fid  # an amount stays a Decimal, a count an int
    totals = expected_totals(form, values)
    assert {fid: result.values[fid] for fid in totals} == totals
    # Calc's own totals, as cached in the file, are nianbao's
    calc = cached_at(path, {**{fid: layout.places[fid] for fid in totals},
                            **{i: c.area for i, c in layout.checks.items()},
                            "status": layout.status.area})
    assert {fid: calc[fid] for fid in totals} == {fid: result.values[fid] for fid in totals}
    assert {calc[i] for i in layout.checks} == {0}
    assert calc["status"] == "校验通过"


# -- what the check cells show after Calc recalculated ------------------------------------------

def read_checks(lo: LibreOffice, path: Path, layout: Layout) -> dict[str, Any]:
    cells = [(c.area.sheet, c.area.a1) for c in layout.checks.values()]
    status = (layout.status.area.sheet, layout.status.area.a1)
    tables = {t: (c.area.sheet, c.area.a1) for t, c in layout.table_status.items()}
    views = lo.read(path, [*cells, status, *tables.values()])
    out: dict[str, Any] = {i: views[(c.area.sheet, c.area.a1)]
                           for i, c in layout.checks.items()}
    out["status"] = views[status]
    out.update({f"status.{t}": views[cell] for t, cell in tables.items()})
    return out


@pytest.mark.libreoffice
def test_balanced_inputs_show_balance_everywhere(
    libreoffice: LibreOffice, layout: Layout, tmp_path: Path
) -> None:
    values = full_record(layout.form, random.Random(2022))
    path = fill(libreoffice, issued(layout), tmp_path / "balanced.xlsx", layout, values)
    views = read_checks(libreoffice, path, layout)
    for inst in layout.checks:
        assert (views[inst].value, views[inst].string) == (0, "平衡"), inst
    assert views["status"].string == "校验通过"
    assert {views[f"status.{t}"].string for t in ("t2", "t3", "t4")} == {"本表校验通过"}
    result = check_file(path)
    assert result.findings == [] and result.status == "valid"
    assert result.identity == IDENTITY


R1_BREAKS = [
    pytest.param({"natural_person": 2}, id="one-column"),
    pytest.param({"business": 3, "other_org": -3}, id="two-columns-total-balanced"),
    pytest.param({"research": 5, "legal_service": 1, "nonprofit": -4}, id="three-columns-net-2"),
    pytest.param({"nonprofit": -1}, id="negative-difference"),
]


@pytest.mark.libreoffice
@pytest.mark.parametrize("deltas", R1_BREAKS)
def test_r1_broken_in_chosen_columns(
    libreoffice: LibreOffice, layout: Layout, tmp_path: Path, deltas: dict[str, int]
) -> None:
    form = layout.form
    values = full_record(form, random.Random(7), min_new=5)
    for col, delta in deltas.items():
        values[f"t3.new.{col}"] += delta
    diffs = {**deltas, "total": sum(deltas.values())}
    broken = {col: d for col, d in diffs.items() if d}
    path = fill(libreoffice, issued(layout), tmp_path / "r1.xlsx", layout, values)

    views = read_checks(libreoffice, path, layout)
    applicants, _ = t3_axes(form)
    for col in (*applicants, "total"):
        view = views[f"R1:{col}"]
        assert (view.value, view.string) == (broken.get(col, 0), verdict(broken.get(col, 0))), col
    other = [i for i in layout.checks if not i.startswith("R1:")]
    assert all(views[i].string == "平衡" for i in other)
    assert views["status"].string == f"有 {len(broken)} 处不平衡，请查看标红单元格"
    assert views["status.t3"].string == f"本表有 {len(broken)} 处不平衡，请查看标红单元格"

    result = check_file(path)
    assert result.status == "invalid"
    assert summary(result.findings) == {
        ("UNBALANCED", "R1", T3, layout.places[f"t3.new.{col}"].a1, f"t3.new.{col}", d)
        for col, d in broken.items()
    }
    assert {f.values["instance"] for f in result.findings} == {f"R1:{c}" for c in broken}


# A constant typed over a total: (field, change against the true total, the rule instances
# that must then fail with their difference lhs - rhs).
OVERWRITES = [
    pytest.param("t3.granted.total", 4, {"R5:granted": 4, "R6:total": -4}, id="row-total"),
    pytest.param("t4.review.total", -1, {"R7:review": -1}, id="t4-total"),
    pytest.param("t3.outcome_total.business", 2,
                 {"R6:business": 2, "R1:business": -2, "R1:total": -2, "R6:total": 2},
                 id="column-total"),
]


@pytest.mark.libreoffice
@pytest.mark.parametrize(("fid", "change", "failing"), OVERWRITES)
def test_total_overwritten_by_a_constant(
    libreoffice: LibreOffice, layout: Layout, tmp_path: Path, fid: str, change: int,
    failing: dict[str, int],
) -> None:
    form = layout.form
    values = full_record(form, random.Random(11), min_new=1)
    values.update({f"t4.review.{p}": 1 for p in T4_PARTS})
    true_total = expected_totals(form, values)[fid]
    area = layout.places[fid]
    overwrite = Edit(area.sheet, area.a1, str(true_total + change), "typed")
    path = fill(libreoffice, issued(layout), tmp_path / "overwritten.xlsx", layout, values,
                [overwrite])

    views = read_checks(libreoffice, path, layout)
    for inst in layout.checks:
        want = failing.get(inst, 0)
        assert (views[inst].value, views[inst].string) == (want, verdict(want)), inst
    assert views["status"].string == f"有 {len(failing)} 处不平衡，请查看标红单元格"

    result = check_file(path)
    assert result.status == "invalid"
    instances = {i.id: i for i in form.instances}
    expected = {("FORMULA_CHANGED", None, area.sheet, area.a1, fid, None)}
    for inst_id, diff in failing.items():
        anchor = instances[inst_id].anchor
        place = layout.places[anchor]
        expected.add(("UNBALANCED", inst_id.split(":")[0], place.sheet, place.a1, anchor, diff))
    assert summary(result.findings) == expected
    changed = next(f for f in result.findings if f.code == "FORMULA_CHANGED")
    assert changed.values["found"] == str(true_total + change)
    assert result.values[fid] == true_total + change  # the constant is what the file says


# -- a file filled by openpyxl: no cached results at all ---------------------------------------

def openpyxl_fill(template: bytes, layout: Layout, values: Mapping[str, Any], dst: Path) -> Path:
    book = openpyxl.load_workbook(io.BytesIO(template))
    for fid, value in values.items():
        a = layout.places[fid]
        book[a.sheet].cell(a.row + 1, a.col + 1).value = value
    book.save(dst)
    return dst


def test_openpyxl_filled_file_is_recomputed(layout: Layout, tmp_path: Path) -> None:
    """openpyxl saves formulas without results: nianbao says so (CACHED_MISSING, info),
    recomputes every total from the inputs, and the file is valid when they are."""
    form = layout.form
    values = full_record(form, random.Random(3))
    path = openpyxl_fill(issued(layout), layout, values, tmp_path / "openpyxl.xlsx")
    assert cached_at(path, {"t": layout.places["t3.new.total"]}) == {"t": None}

    result = check_file(path)
    assert [(f.code, f.severity.value, f.sheet, f.cell) for f in result.findings] == [
        ("CACHED_MISSING", "info", None, None)]
    assert result.status == "valid"
    assert {fid: result.values[fid] for fid in values} == values
    totals = expected_totals(form, values)
    assert {fid: result.values[fid] for fid in totals} == totals


def test_openpyxl_filled_file_with_r1_broken(layout: Layout, tmp_path: Path) -> None:
    values = full_record(layout.form, random.Random(4))
    values["t3.carry_forward.research"] += 3
    path = openpyxl_fill(issued(layout), layout, values, tmp_path / "openpyxl-bad.xlsx")
    result = check_file(path)
    assert result.status == "invalid"
    assert summary(result.findings) == {
        ("CACHED_MISSING", None, None, None, None, None),
        ("UNBALANCED", "R1", T3, layout.places["t3.new.research"].a1, "t3.new.research", -3),
        ("UNBALANCED", "R1", T3, layout.places["t3.new.total"].a1, "t3.new.total", -3),
    }


@pytest.mark.libreoffice
def test_number_stored_as_text_is_read_with_a_warning_only(
    libreoffice: LibreOffice, layout: Layout, tmp_path: Path
) -> None:
    values = full_record(layout.form, random.Random(8))
    fid = "t4.review.upheld"
    area = layout.places[fid]
    as_text = Edit(area.sheet, area.a1, str(values[fid]), "string")
    path = fill(libreoffice, issued(layout), tmp_path / "text.xlsx", layout, values, [as_text])

    result = check_file(path)
    assert result.values[fid] == values[fid]
    assert result.status == "valid"
    r8 = layout.values["t4"].area
    assert libreoffice.read(path, [(r8.sheet, r8.a1)])[(r8.sheet, r8.a1)].string == "有误 1 处"
    assert summary(result.findings) == {("VALUE_NORMALISED", None, T4, area.a1, fid, None)}
