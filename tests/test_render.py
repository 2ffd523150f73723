"""The rendered workbook, read back with openpyxl: locking, protection, validation, merged
headers, page setup, the hidden identity sheet and the cached formula results."""

from __future__ import annotations

import io
import random
import re
import warnings

import openpyxl
import pytest
from openpyxl.workbook.workbook import Workbook

from nianbao.cells import a1, parse_a1
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import META_KEYS, layout_for, status_text
from nianbao.spec.load import load_spec, spec_path
from tests.conftest import issued

IDENTITY = {"unit.code": "330503-017", "unit.name": "某区文化和广电旅游体育局", "year": 2022}
CJK = re.compile(r"[\u4e00-\u9fff]")
APPLICANTS = ["natural_person", "business", "research", "nonprofit", "legal_service",
              "other_org"]


def load(data: bytes, data_only: bool = False) -> Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(io.BytesIO(data), data_only=data_only)


@pytest.fixture(scope="module")
def book(template_bytes) -> Workbook:
    return load(template_bytes)


@pytest.fixture(scope="module")
def cached(template_bytes) -> Workbook:
    return load(template_bytes, data_only=True)


@pytest.fixture(scope="module")
def issued_book(layout) -> Workbook:
    return load(issued(layout))


def cell(wb: Workbook, area):
    return wb[area.sheet].cell(area.row + 1, area.col + 1)


def zero_record(layout) -> dict:
    return {fid: 0 for fid, c in layout.inputs.items() if c.kind in ("count", "amount")}


# --- determinism ------------------------------------------------------------------------------


def test_same_inputs_give_the_same_bytes(layout, template_bytes):
    assert render(layout) == template_bytes
    assert issued(layout) == issued(layout)
    values = {"t3.new.natural_person": 3, "t2.fees_wan_yuan": 96171.6}
    assert render(layout, RenderOptions(values=values)) == render(
        layout, RenderOptions(values=dict(values)))


def test_same_bytes_from_a_freshly_loaded_spec(template_bytes):
    assert render(layout_for(load_spec(spec_path()))) == template_bytes


@pytest.mark.parametrize("change", [{"unit_code": "330503-018"}, {"unit_name": "另一个局"},
                                    {"year": 2023}])
def test_different_identity_gives_different_bytes(layout, change):
    assert issued(layout, **change) != issued(layout)


def test_issued_differs_from_blank_and_values_change_bytes(layout, template_bytes):
    assert issued(layout) != template_bytes
    assert render(layout, RenderOptions(values={"t3.new.business": 1})) != template_bytes


def test_password_changes_bytes(layout, template_bytes):
    assert render(layout, RenderOptions(password="x")) != template_bytes


# --- sheets, protection, locking --------------------------------------------------------------


def test_sheets_and_protection(book, layout):
    assert book.sheetnames == [s.name for s in layout.sheets] + ["_meta"]
    for ws in book.worksheets:
        assert ws.protection.sheet is True, ws.title
        assert ws.protection.password is None, ws.title
    assert book.active.title == "封面"


def test_password_sets_a_sheet_password(layout):
    wb = load(render(layout, RenderOptions(password="secret")))
    passwords = {ws.title: ws.protection.password for ws in wb.worksheets}
    assert set(passwords) == {s.name for s in layout.sheets} | {"_meta"}
    assert all(p for p in passwords.values()), passwords
    assert len(set(passwords.values())) == 1
    other = load(render(layout, RenderOptions(password="other")))
    assert other["封面"].protection.password != passwords["封面"]


def test_inputs_are_unlocked(book, layout):
    for fid, c in layout.inputs.items():
        assert cell(book, c.area).protection.locked is False, fid


def test_labels_are_locked_and_hold_their_text(book, layout):
    for label in layout.labels:
        found = cell(book, label.area)
        assert found.protection.locked is True, label.text
        assert found.value == label.text


def test_formulas_are_locked_and_written(book, layout):
    for f in layout.formulas:
        found = cell(book, f.area)
        assert found.protection.locked is True, f.area
        written = found.value.text if f.array else found.value  # an ArrayFormula object
        assert written == "=" + f.excel, f.area


def test_identity_is_unlocked_and_blank_in_a_blank_template(book):
    for ref in ("B4", "B5", "B6"):
        assert book["封面"][ref].value is None
        assert book["封面"][ref].protection.locked is False


def test_issued_identity_is_prefilled_and_locked(issued_book, layout):
    ws = issued_book["封面"]
    for fid, value in IDENTITY.items():
        c = cell(issued_book, layout.places[fid])
        assert c.value == value, fid
        assert c.protection.locked is True, fid
    assert ws["B6"].value == 2022 and ws["B6"].number_format == "0"
    validated = {str(dv.sqref) for dv in ws.data_validations.dataValidation}
    assert not validated & {"B4:D4", "B5:D5", "B6:D6"}
    # the rest of the form stays fillable
    assert issued_book["依申请公开"]["D7"].protection.locked is False


def test_identity_given_without_issuing_is_prefilled_but_editable(layout):
    wb = load(render(layout, RenderOptions(identity=IDENTITY)))
    assert wb["封面"]["B4"].value == IDENTITY["unit.name"]
    assert wb["封面"]["B4"].protection.locked is False
    meta = {r[0].value: r[1].value for r in wb["_meta"].iter_rows()}
    assert (meta["unit_code"], meta["unit_name"], meta["year"]) == ("", "", "")


# --- _meta ------------------------------------------------------------------------------------


def meta_of(wb: Workbook) -> dict:
    return {r[0].value: r[1].value for r in wb["_meta"].iter_rows()}


def test_meta_sheet_is_very_hidden_and_holds_the_form(book, layout):
    ws = book["_meta"]
    assert ws.sheet_state == "veryHidden"
    assert [s.title for s in book.worksheets if s.sheet_state != "visible"] == ["_meta"]
    meta = meta_of(book)
    assert list(meta) == list(META_KEYS)
    assert meta["form_id"] == "ogi-annual-2021"
    assert meta["form_version"] == layout.form.version
    assert meta["fingerprint"] == layout.fingerprint
    assert (meta["unit_code"], meta["unit_name"], meta["year"]) == ("", "", "")
    assert meta["generator"].startswith("nianbao ")
    assert all(isinstance(v, str) for v in meta.values())


def test_meta_holds_the_issued_identity(issued_book, layout):
    meta = meta_of(issued_book)
    assert (meta["unit_code"], meta["unit_name"], meta["year"]) == (
        "330503-017", "某区文化和广电旅游体育局", "2022")
    assert meta["fingerprint"] == layout.fingerprint


def test_extra_meta_entries(layout):
    wb = load(render(layout, RenderOptions(meta={"office": "某区政务公开办"})))
    assert meta_of(wb)["office"] == "某区政务公开办"


def test_document_properties(book, layout):
    assert book.properties.subject == f"ogi-annual-2021 {layout.form.version}"
    assert book.properties.description == layout.fingerprint


# --- data validation --------------------------------------------------------------------------


def validations(wb: Workbook) -> dict[tuple[str, str], object]:
    """(sheet, cell) -> the validation covering it; a cell is covered at most once."""
    out = {}
    for ws in wb.worksheets:
        for dv in ws.data_validations.dataValidation:
            for rng in str(dv.sqref).split():
                first, _, last = rng.partition(":")
                (r0, c0), (r1, c1) = parse_a1(first), parse_a1(last or first)
                for r in range(r0, r1 + 1):
                    for c in range(c0, c1 + 1):
                        key = (ws.title, a1(r, c))
                        assert key not in out
                        out[key] = dv
    return out


def test_numeric_inputs_are_validated_with_chinese_prompts(book, layout):
    dvs = validations(book)
    for fid, c in layout.inputs.items():
        dv = dvs.get((c.area.sheet, c.area.a1))
        if c.kind in ("text",):
            assert dv is None, fid
            continue
        assert dv is not None, fid
        assert dv.showInputMessage and dv.showErrorMessage, fid
        assert CJK.search(dv.promptTitle) and CJK.search(dv.prompt), fid
        assert CJK.search(dv.errorTitle) and CJK.search(dv.error), fid
    # validations cover input cells only (one rule may cover a whole block of inputs)
    input_cells = {(c.area.sheet, a1(r, col)) for c in layout.inputs.values()
                   for r in range(c.area.row, c.area.last_row + 1)
                   for col in range(c.area.col, c.area.last_col + 1)}
    assert set(dvs) <= input_cells


def test_count_validation(book):
    dv = validations(book)[("依申请公开", "D7")]
    assert (dv.type, dv.operator, dv.formula1) == ("whole", "greaterThanOrEqual", "0")
    assert (dv.promptTitle, dv.prompt) == ("请填写件数", "填写不小于 0 的整数，没有的填 0。")
    assert ("复议诉讼", "O7") not in validations(book)  # a total is a formula, not an input
    assert ("依申请公开", "J7") not in validations(book)


def test_table_two_validation_allows_not_applicable(book):
    dv = validations(book)[("主动公开", "B6")]
    assert dv.type == "custom"
    assert dv.formula1 == 'OR(AND(ISNUMBER(B6),B6>=0,B6=INT(B6)),B6="/",B6="—",B6="无")'
    assert "“/”" in dv.prompt
    fees = validations(book)[("主动公开", "B17")]
    assert fees.formula1 == 'OR(AND(ISNUMBER(B17),B17>=0),B17="/",B17="—",B17="无")'
    assert "万元" in fees.prompt


def test_year_and_code_validation(book):
    dvs = validations(book)
    year = dvs[("封面", "B6")]
    # "between" is the default operator: openpyxl reads it back as None
    assert (year.type, year.operator or "between", year.formula1, year.formula2) == (
        "whole", "between", "2000", "2100")
    code = dvs[("封面", "B5")]
    assert (code.type, code.operator or "between", code.formula1, code.formula2) == (
        "textLength", "between", "1", "64")


# --- merged ranges and page setup -------------------------------------------------------------


def merged(wb: Workbook, sheet: str) -> set[str]:
    return {str(r) for r in wb[sheet].merged_cells.ranges}


def test_table_three_header_is_merged(book):
    ranges = merged(book, "依申请公开")
    ws = book["依申请公开"]
    expected = {"D4:J4": "申请人情况", "E5:I5": "法人或其他组织", "D5:D6": "自然人",
                "J5:J6": "总计",
                "A4:C6": "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）",
                "A9:A30": "三、本年度办理结果", "B11:B18": "（三）不予公开",
                "B19:B21": "（四）无法提供", "B22:B26": "（五）不予处理",
                "B27:B29": "（六）其他处理", "A7:C7": "一、本年新收政府信息公开申请数量",
                "A1:K1": "三、收到和处理政府信息公开申请情况"}
    for rng, text in expected.items():
        assert rng in ranges, rng
        assert ws[rng.split(":")[0]].value == text
    for leaf, text in (("E6", "商业企业"), ("I6", "其他")):
        assert ws[leaf].value == text
        assert not any(r.startswith(leaf + ":") for r in ranges)


def test_table_four_header_is_merged(book):
    ranges = merged(book, "复议诉讼")
    assert {"A4:E4", "F4:O4", "F5:J5", "K5:O5", "A5:A6", "E5:E6"} <= ranges
    assert book["复议诉讼"]["F4"].value == "行政诉讼"


def test_merged_ranges_are_the_layout_areas(book, layout):
    expected: dict[str, set[str]] = {}
    areas = ([c.area for c in layout.labels] + [c.area for c in layout.inputs.values()]
             + [c.area for c in layout.formulas])
    for a in areas:
        if a.merged:
            expected.setdefault(a.sheet, set()).add(a.ref)
    for s in layout.sheets:
        assert merged(book, s.name) == expected.get(s.name, set()), s.name


def test_a4_paper_and_orientation(book, layout):
    for s in layout.sheets:
        ws = book[s.name]
        assert int(ws.page_setup.paperSize) == 9, s.name
        assert ws.page_setup.orientation == ("landscape" if s.landscape else "portrait")
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert book["依申请公开"].print_title_rows == "$4:$6"


# --- cached formula values --------------------------------------------------------------------


def test_blank_template_shows_blank_count(cached, layout):
    blanks = sum(1 for c in layout.inputs.values() if c.kind in ("count", "amount"))
    assert blanks == 166
    # nothing green, nor "校验通过", before the form is complete (template 1.1.0)
    assert cached["封面"]["B8"].value == "尚有 166 个单元格未填写（没有的请填 0）"
    assert cached["封面"]["B8"].value == status_text(0, 0, blanks, "",
                                                     layout.form.cover.incomplete)
    assert cached["依申请公开"]["D2"].value == "本表尚有 144 个单元格未填写（没有的请填 0）"
    assert cached["主动公开"]["B2"].value == "本表尚有 10 个单元格未填写（没有的请填 0）"
    assert cached["复议诉讼"]["B2"].value == "本表尚有 12 个单元格未填写（没有的请填 0）"
    assert [cached["封面"][f"D{r}"].value for r in (10, 11, 12)] == [10, 144, 12]


def test_every_formula_has_a_cached_value(cached, layout):
    for f in layout.formulas:
        assert cell(cached, f.area).value is not None, f.area


def test_blank_template_totals_and_checks_are_zero(cached, layout):
    for f in layout.formulas:
        if f.role in ("computed", "check", "values", "unbalanced", "invalid"):
            assert cell(cached, f.area).value == 0, f.area


def random_balanced(rng: random.Random) -> dict:
    """Table 三 with 一+二 = 三（七）+四 in every column, table 四 and 二 at random."""
    values: dict = {}
    outcomes = ["granted", "partial", "denied.state_secret", "denied.inquiry",
                "unable.not_held", "not_processed.petition", "other.other"]
    for col in APPLICANTS:
        out = 0
        for row in outcomes:
            values[f"t3.{row}.{col}"] = v = rng.randint(0, 50)
            out += v
        values[f"t3.carry_forward.{col}"] = cf = rng.randint(0, 9)
        values[f"t3.carried_over.{col}"] = co = rng.randint(0, out + cf)
        values[f"t3.new.{col}"] = out + cf - co
    for block in ("review", "suit_direct", "suit_after_review"):
        for col in ("upheld", "corrected", "other", "pending"):
            values[f"t4.{block}.{col}"] = rng.randint(0, 5)
    values["t2.penalty"] = 3985758
    return values


def test_rendered_values_have_correct_cached_totals(layout):
    rng = random.Random(20220131)
    record = {**zero_record(layout), **random_balanced(rng)}
    wb = load(render(layout, RenderOptions(values=record)), data_only=True)
    ws = wb["依申请公开"]
    for r in range(7, 32):
        row = [ws.cell(r, c).value for c in range(4, 10)]
        assert ws.cell(r, 10).value == sum(row), r
        assert ws.cell(r, 11).value == 0, r
    for c in range(4, 11):
        assert ws.cell(30, c).value == sum(ws.cell(r, c).value for r in range(9, 30)), c
        assert ws.cell(32, c).value == 0 and ws.cell(33, c).value == 0
    assert ws["J30"].value == sum(record[f"t3.{r}.{c}"] for r in (
        "granted", "partial", "denied.state_secret", "denied.inquiry", "unable.not_held",
        "not_processed.petition", "other.other") for c in APPLICANTS)
    t4 = wb["复议诉讼"]
    for first, total in ((1, 5), (6, 10), (11, 15)):
        assert t4.cell(7, total).value == sum(t4.cell(7, c).value for c in range(first, total))
    assert wb["封面"]["B8"].value == "校验通过"
    assert wb["主动公开"]["B13"].value == 3985758


def test_rendered_unbalanced_values_show_the_difference(layout):
    record = {**zero_record(layout), "t3.new.natural_person": 5, "t3.new.business": "abc",
              "t4.review.upheld": -1}
    wb = load(render(layout, RenderOptions(values=record)), data_only=True)
    ws = wb["依申请公开"]
    assert ws["D32"].value == 5       # R1:natural_person, lhs - rhs
    assert ws["J32"].value == 5       # R1:total
    assert ws["E32"].value == 0       # text counts as 0, as SUM() does
    assert ws["J7"].value == 5
    assert ws["D34"].value == 1       # R8: one text
    assert wb["复议诉讼"]["A11"].value == 1  # R8: one negative
    assert wb["封面"]["B11"].value == 2
    assert wb["封面"]["B8"].value == "有 2 处不平衡，有 2 处填写有误，请查看标红单元格"
    assert ws["D2"].value == "本表有 2 处不平衡，有 1 处填写有误，请查看标红单元格"


def test_rendered_amount_is_written_as_a_number(layout):
    from decimal import Decimal

    wb = load(render(layout, RenderOptions(values={"t2.fees_wan_yuan": Decimal("96171.6")})))
    assert wb["主动公开"]["B17"].value == pytest.approx(96171.6)
    assert isinstance(wb["主动公开"]["B17"].value, float)


def test_not_applicable_marker_is_not_an_error(layout):
    record = {**zero_record(layout), "t2.regulations.issued": "/"}
    wb = load(render(layout, RenderOptions(values=record)), data_only=True)
    assert wb["主动公开"]["B6"].value == "/"
    assert wb["主动公开"]["B18"].value == 0
    assert wb["封面"]["B8"].value == "校验通过"


def test_marks_become_comments(layout):
    wb = load(render(layout, RenderOptions(marks={"t3.new.natural_person": "请核对"})))
    c = wb["依申请公开"]["D7"]
    assert c.comment is not None and "请核对" in c.comment.text
    assert c.protection.locked is False
