"""The layout: where every field, label and formula goes. Addresses are a contract (returned
files are read by them), so a dozen of them are frozen here as observed."""

from __future__ import annotations

import copy
import json
import re
import tomllib

import pytest
from typer.testing import CliRunner

from nianbao.cells import parse_a1
from nianbao.check import check_bytes
from nianbao.cli import app
from nianbao.spec.layout import Area, layout_for
from nianbao.spec.load import build_form, load_spec, spec_path

SPEC_DATA = tomllib.loads(spec_path().read_text(encoding="utf-8"))

# field id -> (sheet, area) as the layout of ogi-annual-2021 1.0.0 places them.
KNOWN_PLACES = {
    "unit.name": ("封面", "B4:D4"),
    "unit.code": ("封面", "B5:D5"),
    "year": ("封面", "B6:D6"),
    "t2.regulations.issued": ("主动公开", "B6"),
    "t2.normative_docs.in_force": ("主动公开", "D7"),
    "t2.licensing": ("主动公开", "B10:D10"),
    "t2.penalty": ("主动公开", "B13:D13"),
    "t2.enforcement": ("主动公开", "B14:D14"),
    "t2.fees_wan_yuan": ("主动公开", "B17:D17"),
    "note.t2": ("主动公开", "A21:D23"),
    "t3.new.natural_person": ("依申请公开", "D7"),
    "t3.new.other_org": ("依申请公开", "I7"),
    "t3.new.total": ("依申请公开", "J7"),
    "t3.carried_over.business": ("依申请公开", "E8"),
    "t3.granted.research": ("依申请公开", "F9"),
    "t3.denied.state_secret.natural_person": ("依申请公开", "D11"),
    "t3.unable.not_held.nonprofit": ("依申请公开", "G19"),
    "t3.not_processed.confirmation.legal_service": ("依申请公开", "H26"),
    "t3.other.other.total": ("依申请公开", "J29"),
    "t3.outcome_total.natural_person": ("依申请公开", "D30"),
    "t3.outcome_total.total": ("依申请公开", "J30"),
    "t3.carry_forward.other_org": ("依申请公开", "I31"),
    "note.t3": ("依申请公开", "A37:K39"),
    "t4.review.upheld": ("复议诉讼", "A7"),
    "t4.review.total": ("复议诉讼", "E7"),
    "t4.suit_direct.upheld": ("复议诉讼", "F7"),
    "t4.suit_after_review.total": ("复议诉讼", "O7"),
    "note.t4": ("复议诉讼", "A14:O16"),
    "text.overview": ("文字部分", "A5:H5"),
    "text.problems": ("文字部分", "A8:H8"),
    "text.other": ("文字部分", "A12:H12"),
}

# rule instance -> (sheet, cell) of its live check cell.
KNOWN_CHECKS = {
    "R1:natural_person": ("依申请公开", "D32"),
    "R1:total": ("依申请公开", "J32"),
    "R5:new": ("依申请公开", "K7"),
    "R5:carry_forward": ("依申请公开", "K31"),
    "R6:business": ("依申请公开", "E33"),
    "R6:total": ("依申请公开", "J33"),
    "R7:review": ("复议诉讼", "E9"),
    "R7:suit_direct": ("复议诉讼", "J9"),
    "R7:suit_after_review": ("复议诉讼", "O9"),
}

KNOWN_FORMULAS = {
    ("依申请公开", "J7"): "SUM(D7:I7)",
    ("依申请公开", "D30"): "SUM(D9:D29)",
    ("依申请公开", "J30"): "SUM(D30:I30)",
    ("依申请公开", "K7"): "SUM(J7)-SUM(D7:I7)",
    ("依申请公开", "D32"): "SUM(D7:D8)-SUM(D30:D31)",
    ("依申请公开", "J33"): "SUM(J30)-SUM(J9:J29)",
    ("复议诉讼", "E7"): "SUM(A7:D7)",
    ("复议诉讼", "O9"): "SUM(O7)-SUM(K7:N7)",
    ("封面", "C11"): "依申请公开!D34",
    ("封面", "B11"): 'COUNTIF(依申请公开!K7:K31,"<>0")+COUNTIF(依申请公开!D32:J33,"<>0")',
    ("封面", "D11"): "COUNTBLANK(依申请公开!D7:I29)+COUNTBLANK(依申请公开!D31:I31)",
}


def cells_of(area: Area) -> list[tuple[str, int, int]]:
    return [(area.sheet, r, c) for r in range(area.row, area.last_row + 1)
            for c in range(area.col, area.last_col + 1)]


# --- addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize("field_id", sorted(KNOWN_PLACES))
def test_known_places(layout, field_id):
    area = layout.places[field_id]
    assert (area.sheet, area.ref) == KNOWN_PLACES[field_id]


@pytest.mark.parametrize("instance", sorted(KNOWN_CHECKS))
def test_known_check_cells(layout, instance):
    cell = layout.checks[instance]
    assert (cell.area.sheet, cell.area.ref, cell.role) == (*KNOWN_CHECKS[instance], "check")


def test_known_formulas(layout):
    by_cell = {(c.area.sheet, c.area.a1): c.excel for c in layout.formulas}
    for where, excel in KNOWN_FORMULAS.items():
        assert by_cell[where] == excel, where


def test_known_status_and_value_cells(layout):
    assert (layout.status.area.sheet, layout.status.area.ref) == ("封面", "B8:D8")
    assert {t: (c.area.sheet, c.area.ref) for t, c in layout.values.items()} == {
        "t2": ("主动公开", "B18:D18"), "t3": ("依申请公开", "D34:J34"),
        "t4": ("复议诉讼", "A11:O11")}
    assert {t: c.area.ref for t, c in layout.table_status.items()} == {
        "t2": "B2:D2", "t3": "D2:K2", "t4": "B2:O2"}


def test_sheets_in_order(layout):
    assert [(s.name, s.role) for s in layout.sheets] == [
        ("封面", "cover"), ("主动公开", "table"), ("依申请公开", "table"), ("复议诉讼", "table"),
        ("文字部分", "prose"), ("填报说明", "instructions")]
    assert [s.name for s in layout.sheets if s.landscape] == ["依申请公开", "复议诉讼"]


def test_t3_grid_is_rows_by_columns(layout):
    """Table 三's 175 fields fill D7:J31 row by row in the documented order."""
    t3 = [fid for fid in layout.form.fields if fid.startswith("t3.")]
    grid = [layout.places[fid].key for fid in t3]
    assert grid == [("依申请公开", r, c) for r in range(6, 31) for c in range(3, 10)]


def test_t4_is_one_row_of_fifteen(layout):
    t4 = [fid for fid in layout.form.fields if fid.startswith("t4.")]
    assert [layout.places[fid].a1 for fid in t4] == [f"{chr(65 + i)}7" for i in range(15)]


# --- completeness and consistency --------------------------------------------------------------


def test_every_field_has_a_place(form, layout):
    assert set(layout.places) == set(form.fields)
    computed = {fid for fid, f in form.fields.items() if f.computed}
    assert set(layout.inputs) == set(form.fields) - computed
    formula_fields = {c.field: c for c in layout.formulas if c.role == "computed"}
    assert set(formula_fields) == computed
    for fid, cell in formula_fields.items():
        assert cell.area == layout.places[fid]


def test_input_kinds_match_fields(form, layout):
    for fid, cell in layout.inputs.items():
        f = form.fields[fid]
        assert (cell.kind, cell.not_applicable, cell.area.sheet) == (
            f.kind, f.not_applicable, layout.places[fid].sheet)


def test_every_instance_without_prev_has_one_check_cell(form, layout):
    expected = {i.id for i in form.instances if not i.rule.cross_year}
    assert set(layout.checks) == expected
    assert len(expected) == 7 + 25 + 7 + 3


def test_no_two_areas_overlap(layout):
    owner: dict[tuple[str, int, int], str] = {}
    items = ([(c.area, f"label {c.text[:10]}") for c in layout.labels]
             + [(c.area, f"input {c.field}") for c in layout.inputs.values()]
             + [(c.area, f"formula {c.role} {c.field or c.instance or c.table}")
                for c in layout.formulas])
    for area, what in items:
        for cell in cells_of(area):
            assert cell not in owner, f"{what} overlaps {owner[cell]} at {cell}"
            owner[cell] = what
    assert len(owner) > 500


def test_areas_are_inside_their_sheets(layout):
    sheets = {s.name: s for s in layout.sheets}
    for area in ([c.area for c in layout.labels] + [c.area for c in layout.inputs.values()]
                 + [c.area for c in layout.formulas]):
        spec = sheets[area.sheet]
        assert 0 <= area.row <= area.last_row <= spec.last_row, area
        assert 0 <= area.col <= area.last_col <= spec.last_col, area


_STRING = re.compile(r'"(?:[^"]|"")*"')
_REF = re.compile(
    r"(?<![A-Za-z0-9_.])(?:(?P<sheet>'(?:[^']|'')+'|[^\W\d][\w]*)!)?"
    r"\$?(?P<c1>[A-Z]{1,3})\$?(?P<r1>\d+)(?::\$?(?P<c2>[A-Z]{1,3})\$?(?P<r2>\d+))?"
    r"(?![\w(])")


def references(sheet: str, excel: str) -> list[tuple[str, int, int]]:
    """Every cell a formula reads, ranges expanded."""
    code = _STRING.sub('""', excel)
    out = []
    for m in _REF.finditer(code):
        target = (m.group("sheet") or sheet).strip("'").replace("''", "'")
        r0, c0 = parse_a1(m.group("c1") + m.group("r1"))
        r1, c1 = (parse_a1(m.group("c2") + m.group("r2")) if m.group("c2") else (r0, c0))
        out += [(target, r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
    return out


def test_reference_parser():
    assert references("S", 'SUM(D7:E8)-COUNTIF(封面!B10,"A1<>0")+\'x y\'!C3') == [
        ("S", 6, 3), ("S", 6, 4), ("S", 7, 3), ("S", 7, 4), ("封面", 9, 1), ("x y", 2, 2)]


def test_every_formula_references_only_existing_cells(layout):
    """Inputs' and formulas' top-left cells are what a formula may read; never a label, an
    empty cell, a cell inside a merged range, or itself."""
    readable = {c.area.key for c in layout.inputs.values()}
    readable |= {c.area.key for c in layout.formulas}
    sheets = {s.name for s in layout.sheets}
    total = 0
    for cell in layout.formulas:
        refs = references(cell.area.sheet, cell.excel)
        assert refs or cell.excel == "0", cell
        for ref in refs:
            assert ref[0] in sheets, (cell, ref)
            assert ref in readable, (cell.area.sheet, cell.area.a1, cell.excel, ref)
            assert ref != cell.area.key, cell
        total += len(refs)
    assert total > 1000


def test_formulas_have_no_cycles(layout):
    graph = {c.area.key: set(references(c.area.sheet, c.excel)) for c in layout.formulas}
    state: dict[tuple[str, int, int], int] = {}

    def visit(node) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, f"cycle through {node} -> {nxt}"
            if nxt not in state:
                visit(nxt)
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)


def test_check_cells_compare_the_rule_sides(layout):
    """A check cell is lhs - rhs of its instance: referenced cells are exactly its fields."""
    by_id = {i.id: i for i in layout.form.instances}
    for inst_id, cell in layout.checks.items():
        fields = {layout.places[r.field].key for r in by_id[inst_id].comparison.refs}
        assert set(references(cell.area.sheet, cell.excel)) == fields, inst_id


# --- fingerprint ------------------------------------------------------------------------------


def fresh(mutate=None):
    data = copy.deepcopy(SPEC_DATA)
    if mutate:
        mutate(data)
    return layout_for(build_form(data, "x.toml"))


def test_fingerprint_is_stable_across_builds(layout):
    a = layout_for(load_spec(spec_path()))
    b = layout_for(load_spec(spec_path()))
    assert a is not b and a.form is not b.form
    assert a.fingerprint == b.fingerprint == layout.fingerprint == fresh().fingerprint
    assert re.fullmatch(r"[0-9a-f]{16}", a.fingerprint)


@pytest.mark.parametrize(("what", "mutate"), [
    ("row label", lambda d: d["tables"][1]["blocks"][0]["rows"][0].__setitem__(
        "path", ["一、本年新收申请数量"])),
    ("column label", lambda d: d["tables"][2]["blocks"][0]["columns"][0].__setitem__(
        "path", ["行政复议", "维持"])),
    ("corner", lambda d: d["tables"][1]["blocks"][0].__setitem__("corner", "（勾稽关系）")),
    ("sheet name", lambda d: d["tables"][0].__setitem__("sheet", "主动公开情况")),
    ("rule", lambda d: d["rules"][0].__setitem__(
        "check", "t3.new.{column} == t3.outcome_total.{column} + t3.carry_forward.{column}")),
    ("cover label", lambda d: d["cover"]["fields"][0].__setitem__("label", "单位全称")),
])
def test_fingerprint_changes_with_the_structure(layout, what, mutate):
    assert fresh(mutate).fingerprint != layout.fingerprint, what




@pytest.mark.parametrize(("what", "mutate"), [
    ("version", lambda d: d["form"].__setitem__("version", "1.0.1")),
    ("cover hint", lambda d: d["cover"].__setitem__("hint", "另一段提示")),
    ("instructions", lambda d: d["instructions"]["lines"].append("9. 补充说明")),
    ("rule text", lambda d: d["rules"][0].__setitem__("text", "另一种说法")),
])
def test_fingerprint_ignores_what_is_not_structure(layout, what, mutate):
    assert fresh(mutate).fingerprint == layout.fingerprint, what


# --- `nianbao fields --json` ------------------------------------------------------------------


def test_cli_fields_json_lists_every_field(form, layout):
    result = CliRunner().invoke(app, ["fields", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["form"] == {"id": form.id, "version": form.version,
                            "fingerprint": layout.fingerprint}
    rows = data["fields"]
    assert [r["id"] for r in rows] == list(form.fields)
    for r in rows:
        f, place = form.fields[r["id"]], layout.places[r["id"]]
        assert set(r) == {"id", "label", "sheet", "cell", "kind", "role"}
        assert (r["label"], r["sheet"], r["cell"], r["kind"]) == (
            f.label, place.sheet, place.a1, f.kind)
        assert r["role"] == ("formula" if f.computed else "input")
    by_id = {r["id"]: r for r in rows}
    assert by_id["t3.new.natural_person"] == {
        "id": "t3.new.natural_person", "label": "一、本年新收政府信息公开申请数量 / 自然人",
        "sheet": "依申请公开", "cell": "D7", "kind": "count", "role": "input"}
    assert by_id["t4.review.total"]["role"] == "formula"
    assert by_id["t2.fees_wan_yuan"]["kind"] == "amount"
    assert sum(r["role"] == "formula" for r in rows) == 34


def test_cli_fields_table(form):
    result = CliRunner().invoke(app, ["fields"])
    assert result.exit_code == 0
    assert f"字段表（{len(form.fields)} 个）" in result.output


def test_file_of_an_older_version_with_the_same_structure_is_compatible(template_bytes):
    newer = build_form({**copy.deepcopy(SPEC_DATA),
                        "form": {**SPEC_DATA["form"], "version": "1.0.1"}}, "x.toml")
    result = check_bytes(template_bytes, "old.xlsx", forms=lambda form_id: newer)
    assert [f.code for f in result.findings if f.code.startswith("FORM_")] == [
        "FORM_VERSION_COMPATIBLE"]
    assert result.status != "unusable"
