"""The patched feedback workbook (feedback_package.py) against the full render: the same
workbook for openpyxl cell by cell (values, formulas, cached results, formats, comments,
links, validation, protection, page setup) and for our own reader; the fallback where the
patcher does not write exactly; and LibreOffice agreeing with the cached results."""

from __future__ import annotations

import dataclasses
import io
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openpyxl.workbook.workbook import Workbook

from nianbao.check import check_bytes
from nianbao.collect import feedback_package
from nianbao.collect.distribute import issue_options
from nianbao.collect.feedback import feedback_options
from nianbao.collect.feedback import feedback_workbook as feedback_bytes
from nianbao.collect.feedback_package import FeedbackWriter, writer_for
from nianbao.collect.issue_list import IssueList, IssueRow, issues_sheet
from nianbao.collect.judging import Context, judge
from nianbao.collect.ledger import Verdict
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import META_SHEET
from nianbao.spec.model import NUMERIC_KINDS
from nianbao.testing.libreoffice import LibreOffice
from tests.collect_helpers import LAYOUT, NAMES, complete_values, issue, make_workspace

FORM = LAYOUT.form


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Context]:
    ws, ledger = make_workspace(tmp_path_factory.mktemp("fbp") / "ws")
    ctx = Context.of(ws, dict(NAMES), received_at="2023-01-15T10:00:00+08:00")
    yield ws, ctx
    ledger.close()


def checked(setting: tuple[Any, Context], values: dict[str, Any], code: str = "330599-003",
            **changes: Any) -> tuple[Any, Verdict]:
    """A submission of `values` issued to `code`, checked and judged (verdict changed by
    `changes`, e.g. other findings)."""
    ws, ctx = setting
    result = check_bytes(issue(ws, code, values), "报表.xlsx")
    verdict = judge(result, ctx)
    return result, dataclasses.replace(verdict, **changes)


def both(setting: tuple[Any, Context], result: Any, verdict: Verdict) -> tuple[bytes, bytes]:
    """The patched and the fully rendered feedback workbook of one verdict."""
    _, ctx = setting
    opts, issues = feedback_options(FORM, result, verdict, ctx)
    patched = writer_for(LAYOUT, ctx.key, ctx.office).workbook(opts, issues)
    assert patched is not None, "the patcher fell back"
    assert feedback_bytes(FORM, result, verdict, ctx) == patched
    return patched, render(LAYOUT, opts)


def load(data: bytes, data_only: bool = False) -> Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(io.BytesIO(data), data_only=data_only)


def _style(cell: Any) -> tuple[Any, ...]:
    return (cell.number_format, repr(cell.font), repr(cell.fill), repr(cell.border),
            repr(cell.protection), repr(cell.alignment))


def _sheet(ws: Any) -> dict[str, Any]:
    """Everything of a worksheet openpyxl reads, comparable with ==."""
    cells = {c.coordinate: (c.value if not hasattr(c.value, "text") else
                            ("array", c.value.ref, c.value.text), c.data_type, _style(c),
                            (c.comment.text, c.comment.author) if c.comment else None,
                            (c.hyperlink.location, c.hyperlink.display) if c.hyperlink
                            else None)
             for row in ws.iter_rows() for c in row}
    return {
        "state": ws.sheet_state, "cells": cells,
        "merged": sorted(str(r) for r in ws.merged_cells.ranges),
        "widths": {k: (d.width, d.customWidth) for k, d in ws.column_dimensions.items()},
        "heights": {k: (d.height, d.customHeight) for k, d in ws.row_dimensions.items()},
        "validation": [(str(v.sqref), v.type, v.operator, v.formula1, v.formula2, v.prompt,
                        v.error, v.showErrorMessage) for v in ws.data_validations.dataValidation],
        "conditional": [(str(rng.sqref), [(r.type, r.operator, r.formula, r.priority,
                                           repr(r.dxf)) for r in rules])
                        for rng, rules in ws.conditional_formatting._cf_rules.items()],
        "protection": repr(ws.protection),
        "page": (repr(ws.page_setup), repr(ws.print_options), repr(ws.page_margins),
                 repr(ws.sheet_properties), ws.print_title_rows, ws.print_area,
                 ws.oddFooter.center.text, ws.sheet_view.showGridLines,
                 ws.sheet_view.tabSelected),
    }


def assert_equivalent(patched: bytes, full: bytes) -> None:
    """The two workbooks are the same for openpyxl (formulas and cached results) and for
    our reader (values and findings)."""
    for data_only in (False, True):
        a, b = load(patched, data_only), load(full, data_only)
        assert a.sheetnames == b.sheetnames
        assert {n: repr(d) for n, d in a.defined_names.items()} == \
               {n: repr(d) for n, d in b.defined_names.items()}
        assert repr(a.properties) == repr(b.properties)
        for name in a.sheetnames:
            sa, sb = _sheet(a[name]), _sheet(b[name])
            for key in sa:
                assert sa[key] == sb[key], (name, key)
    ra, rb = check_bytes(patched, "x.xlsx"), check_bytes(full, "x.xlsx")
    assert ra.submission is not None and rb.submission is not None
    assert ra.submission.values == rb.submission.values
    assert ra.identity == rb.identity
    assert ra.findings == rb.findings


def test_the_writer_prepares_itself_for_the_official_layout(setting) -> None:
    _, ctx = setting
    writer = writer_for(LAYOUT, ctx.key, ctx.office)
    assert writer.ok, writer.problem
    assert writer_for(LAYOUT, ctx.key, ctx.office) is writer  # prepared once per process


def test_wrong_values_and_rule_breaks_on_inputs_and_totals(setting) -> None:
    # text and a negative count on inputs, R1 broken (findings on input and total cells)
    values = complete_values(t3__new__natural_person=11, t2__penalty="十二",
                             t2__licensing=-3, t2__fees_wan_yuan=Decimal("12.35"))
    result, verdict = checked(setting, values)
    assert verdict.errors >= 3
    cells = {f["field"] for f in verdict.findings if f.get("field")}
    assert any(f in {c.field for c in LAYOUT.formulas} for f in cells)  # a total is marked
    patched, full = both(setting, result, verdict)
    assert_equivalent(patched, full)
    wb = load(patched)
    assert wb.sheetnames[0] == "问题清单"
    assert wb["问题清单"]["C5"].hyperlink.location


def test_not_applicable_blank_huge_and_special_text(setting) -> None:
    values = complete_values(t2__regulations__issued="/", t2__licensing=10**15,
                             t2__fees_wan_yuan=Decimal("123456789012.5"))
    for key in [k for k in values if k.startswith("t3.other")]:
        values[key] = None  # blanks: warnings on cells
    values["t3.new.research"] = 1e300
    prose = [fid for fid, c in LAYOUT.inputs.items() if c.kind not in NUMERIC_KINDS
             and fid not in {f.id for f in FORM.cover.fields}]
    for i, fid in enumerate(prose):
        values[fid] = ["见附件 <a href=\"x\">&amp; 'q'</a>", " 前后空格 ", "第一行\n第二行",
                       "控制\x07字符 _x0041_"][i % 4]
    result, verdict = checked(setting, values)
    patched, full = both(setting, result, verdict)
    assert_equivalent(patched, full)


def test_synthetic_findings_identity_no_cell_specials_and_many(setting) -> None:
    result, verdict = checked(setting, complete_values(t2__penalty=-1))
    cover = LAYOUT.inputs["unit.name"].area
    special = {"code": "IDENTITY_EDITED", "severity": "error", "sheet": cover.sheet,
               "cell": cover.a1, "field": "unit.name", "rule": None,
               "values": {"found": "别的 <单位> & \"名\""},
               "message": f"{cover.sheet}!{cover.a1}：单位名称 <被改> & \"引号\" 'x'"}
    whole = {"code": "CACHED_MISSING", "severity": "warning", "sheet": None, "cell": None,
             "field": None, "rule": None, "values": {}, "message": "整个文件的问题\x01"}
    places = list(LAYOUT.places.items())
    many = [{"code": "VALUE_TEXT", "severity": ["error", "warning", "info"][i % 3],
             "sheet": area.sheet, "cell": area.a1, "field": fid, "rule": "R8",
             "values": {"found": i}, "message": f"{area.sheet}!{area.a1}：第 {i} 条" * (i % 5)}
            for i, (fid, area) in enumerate(places)]
    for findings in ([special, whole], [whole], many + many[:20]):
        v = dataclasses.replace(verdict, findings=findings)
        assert_equivalent(*both(setting, result, v))


def test_no_findings_at_all(setting) -> None:
    result, verdict = checked(setting, complete_values())
    assert_equivalent(*both(setting, result, dataclasses.replace(verdict, findings=[])))


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12) | \
    st.sampled_from(["/", "—", "无", "&<>\"'", "中文", " x ", "_x0001_", ""])
VALUE = st.none() | st.integers(-10**20, 10**20) | TEXT | \
    st.floats(allow_nan=False, allow_infinity=False) | \
    st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False)


@settings(max_examples=10, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_values_marks_and_issues(setting, data: st.DataObject) -> None:
    _, ctx = setting
    inputs = [f for f in LAYOUT.inputs if f not in {c.id for c in FORM.cover.fields}]
    chosen = data.draw(st.lists(st.sampled_from(inputs), max_size=40, unique=True))
    values = {fid: data.draw(VALUE) for fid in chosen}
    marked = data.draw(st.lists(st.sampled_from(list(LAYOUT.places)), max_size=15, unique=True))
    marks = {fid: data.draw(TEXT) for fid in marked}
    rows = tuple(IssueRow(i, data.draw(st.sampled_from(["错误", "提醒"])),
                          data.draw(st.none() | st.just("'依申请公开'!D7")),
                          data.draw(TEXT.filter(bool)), data.draw(TEXT), data.draw(TEXT),
                          data.draw(TEXT), data.draw(st.sampled_from([30, 45, 180])))
                 for i in range(1, data.draw(st.integers(0, 6)) + 1))
    issues = IssueList(data.draw(TEXT), rows)
    identity = {"unit.code": "330599-003", "unit.name": data.draw(TEXT.filter(bool)),
                "year": 2022}
    opts = issue_options(LAYOUT, identity, ctx.key, ctx.office, values=values, marks=marks,
                         before=lambda wb, fmt: issues_sheet(wb, fmt, issues))
    patched = writer_for(LAYOUT, ctx.key, ctx.office).workbook(opts, issues)
    try:
        full = render(LAYOUT, opts)
    except Exception:  # what render cannot write, the patcher must not write either
        assert patched is None
        return
    try:
        b = load(full)
    except Exception:  # xlsxwriter wrote XML no reader takes: nothing to match
        return
    if patched is not None:
        a = load(patched)
        for name in b.sheetnames:
            assert _sheet(a[name]) == _sheet(b[name]), name


def _opts(ctx: Context, **changes: Any) -> tuple[RenderOptions, IssueList]:
    issues = IssueList("摘要", (IssueRow(1, "错误", None, "整个文件", "规则", "问题", "", 30),))
    identity = {"unit.code": "330599-003", "unit.name": "青溪区教育局", "year": 2022,
                **changes.pop("identity", {})}
    opts = issue_options(LAYOUT, identity, ctx.key, ctx.office,
                         before=lambda wb, fmt: issues_sheet(wb, fmt, issues), **changes)
    return opts, issues


@pytest.mark.parametrize("changes", [
    {"identity": {"unit.name": ""}},                     # left to fill in: another style
    {"values": {"t2.licensing": True}},                   # a boolean
    {"values": {"t2.licensing": Decimal("1e400")}},        # no float can hold it
    {"values": {"t2.licensing": "长" * 20_000}},           # xlsxwriter would cut it
    {"values": {"t2.licensing": "<r>rich</r>"}},          # xlsxwriter takes it as rich text
    {"password": "x"},                                    # not what was prepared
])
def test_what_the_patcher_does_not_write_is_rendered(setting, changes) -> None:
    _, ctx = setting
    opts, issues = _opts(ctx, **changes)
    assert writer_for(LAYOUT, ctx.key, ctx.office).workbook(opts, issues) is None


def test_too_many_findings_fall_back_to_the_full_render(setting, monkeypatch) -> None:
    result, verdict = checked(setting, complete_values(t2__penalty=-1))
    monkeypatch.setattr(feedback_package, "MAX_ISSUES", 0)
    _, ctx = setting
    opts, _ = feedback_options(FORM, result, verdict, ctx)
    assert feedback_bytes(FORM, result, verdict, ctx) == render(LAYOUT, opts)


def test_a_writer_that_would_be_wrong_disables_itself(setting, monkeypatch) -> None:
    _, ctx = setting
    real = feedback_package.formula_cell

    def off_by_one(ref: str, xf: Any, formula: str, value: Any, array: bool) -> str:
        return real(ref, xf, formula, value + 1 if isinstance(value, int) else value, array)

    monkeypatch.setattr(feedback_package, "formula_cell", off_by_one)
    writer = FeedbackWriter(LAYOUT, ctx.key, ctx.office)
    assert not writer.ok and "differs" in (writer.problem or "")
    opts, issues = _opts(ctx)
    assert writer.workbook(opts, issues) is None


@pytest.mark.libreoffice
def test_libreoffice_recalculates_what_the_patched_workbook_caches(
        setting, libreoffice: LibreOffice, tmp_path: Path) -> None:
    values = complete_values(t3__new__natural_person=11, t2__penalty="十二",
                             t3__new__business=None, t2__regulations__issued="/")
    result, verdict = checked(setting, values)
    patched, _ = both(setting, result, verdict)
    path = tmp_path / "反馈.xlsx"
    path.write_bytes(patched)
    cached = load(patched, data_only=True)
    cells = [(f.area.sheet, f.area.a1) for f in LAYOUT.formulas if f.area.sheet != META_SHEET]
    views = libreoffice.read(path, cells, recalc=True)
    for sheet, ref in cells:
        want, view = cached[sheet][ref].value, views[(sheet, ref)]
        if isinstance(want, str):
            assert view.string == want, (sheet, ref)
        else:
            assert view.value == pytest.approx(float(want or 0)), (sheet, ref)
