"""Merging the units' returns into area totals: the sums (exact, blank and "/" counted as 0
and tallied), who is in and who is left out and why, `--under` and `--include-invalid`, the
consolidated workbook (official layout, locked, provenance and detail, the same totals once
LibreOffice recalculates it) and the merge command's exit codes.

The expected totals come from an oracle written here from the documented structure of the
form (plain sums over rows and columns), not from the engine's rule instances.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from nianbao.cli import app
from nianbao.collect.intake import collect
from nianbao.merge.totals import merge
from nianbao.spec.model import AMOUNT
from nianbao.testing.libreoffice import LibreOffice
from tests.collect_helpers import (
    APPLICANTS,
    LAYOUT,
    NAMES,
    OUTCOMES,
    RECEIVED,
    complete_values,
    issue,
    make_workspace,
    put,
)

FORM = LAYOUT.form
NUMERIC = [fid for fid, f in FORM.fields.items() if f.numeric]

T3_ROWS = ("new", "carried_over", *OUTCOMES, "outcome_total", "carry_forward")
T4_BLOCKS = ("review", "suit_direct", "suit_after_review")
T4_PARTS = ("upheld", "corrected", "other", "pending")
T2_COUNTS = ("t2.regulations.issued", "t2.regulations.repealed", "t2.regulations.in_force",
             "t2.normative_docs.issued", "t2.normative_docs.repealed",
             "t2.normative_docs.in_force", "t2.licensing", "t2.penalty", "t2.enforcement")
FEES = "t2.fees_wan_yuan"
VERSION = f"{FORM.id} {FORM.version}"


# -- the oracle ------------------------------------------------------------------------------

def number(value: Any) -> Any:
    """What a value adds to a total: numbers as they are; blank, "/" and text 0."""
    return value if isinstance(value, int | Decimal) and not isinstance(value, bool) else 0


def with_totals(values: dict[str, Any]) -> dict[str, Any]:
    """A return's values plus the totals its formulas compute (blank and "/" as 0)."""
    v = dict(values)
    for col in APPLICANTS:
        v.setdefault(f"t3.outcome_total.{col}",
                     sum(number(v.get(f"t3.{row}.{col}")) for row in OUTCOMES))
    for row in T3_ROWS:
        v.setdefault(f"t3.{row}.total", sum(number(v.get(f"t3.{row}.{c}")) for c in APPLICANTS))
    for block in T4_BLOCKS:
        v.setdefault(f"t4.{block}.total",
                     sum(number(v.get(f"t4.{block}.{p}")) for p in T4_PARTS))
    return v


def expected_totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per numeric field: the sum over the records (int for counts, Decimal for amounts)."""
    out: dict[str, Any] = {fid: Decimal(0) if FORM.fields[fid].kind == AMOUNT else 0
                           for fid in NUMERIC}
    for values in records:
        full = with_totals(values)
        for fid in NUMERIC:
            out[fid] += number(full.get(fid))
    return out


def expected_tallies(records: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """(blanks, not applicable): per field, how many records left it blank / wrote "/"."""
    blanks: Counter[str] = Counter()
    na: Counter[str] = Counter()
    for values in records:
        full = with_totals(values)
        for fid in NUMERIC:
            value = full.get(fid)
            if isinstance(value, str) and value == "/":
                na[fid] += 1
            elif value is None:
                blanks[fid] += 1
    return dict(blanks), dict(na)


def totals_differ(got: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """Fields whose total is not exactly the expected one (value and type)."""
    return {fid: (got.get(fid), want[fid]) for fid in NUMERIC
            if got.get(fid) != want[fid] or type(got.get(fid)) is not type(want[fid])}


def json_totals_differ(got: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """The same for `merge --json`: counts as JSON integers, amounts as exact decimal strings."""
    wrong = {}
    for fid in NUMERIC:
        value = got.get(fid)
        if FORM.fields[fid].kind == AMOUNT:
            ok = isinstance(value, str) and Decimal(value) == want[fid]
        else:
            ok = type(value) is int and value == want[fid]
        if not ok:
            wrong[fid] = (value, want[fid])
    return wrong


def test_the_oracle_knows_every_computed_field() -> None:
    """The fields the oracle computes are exactly the template's formula fields."""
    computed = set(with_totals({})) & set(NUMERIC)
    assert computed == set(NUMERIC) - set(LAYOUT.inputs)
    assert len(NUMERIC) == 200 and len(computed) == 25 + 6 + 3


def run(*args: Any) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


# -- property: balanced returns give balanced, exact totals -----------------------------------

count = st.integers(0, 60)
count_or_blank = st.one_of(count, st.none())
t2_count = st.one_of(st.integers(0, 500), st.none(), st.just("/"))
fees = st.one_of(st.decimals(0, 10**6, places=2, allow_nan=False, allow_infinity=False),
                 st.none(), st.just("/"))


@st.composite
def balanced_return(draw: Any) -> dict[str, Any]:
    """The inputs of a return whose tables balance (a blank counts as 0)."""
    values: dict[str, Any] = {}
    for col in APPLICANTS:
        out = 0
        for row in OUTCOMES:
            values[f"t3.{row}.{col}"] = v = draw(count_or_blank)
            out += number(v)
        values[f"t3.carry_forward.{col}"] = cf = draw(count_or_blank)
        values[f"t3.carried_over.{col}"] = co = draw(st.integers(0, out + number(cf)))
        values[f"t3.new.{col}"] = out + number(cf) - co
    for block in T4_BLOCKS:
        for part in T4_PARTS:
            values[f"t4.{block}.{part}"] = draw(count_or_blank)
    for fid in T2_COUNTS:
        values[fid] = draw(t2_count)
    values[FEES] = draw(fees)
    return values


CODES = list(NAMES)  # the roster of tests.collect_helpers, in roster order


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(st.sampled_from(CODES), balanced_return()), min_size=1, max_size=3,
                unique_by=lambda t: t[0]))
def test_merging_balanced_returns_gives_balanced_exact_totals(
        returns: list[tuple[str, dict[str, Any]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws, ledger = make_workspace(root / "ws")
        with ledger:
            paths = [put(root / "inbox", f"{code}.xlsx", issue(ws, code, values))
                     for code, values in returns]
            report = collect(ws, ledger, paths, received_at=RECEIVED, feedback=False)
            assert dict(report.statuses) == {"valid": len(returns)}
            result = merge(ledger, FORM, 2022, ledger.units())
    sent = dict(returns)
    assert [(c.unit.code, c.status) for c in result.contributions] == [
        (code, "valid") for code in CODES if code in sent]
    assert [(u.code, why) for u, why in result.left_out] == [
        (code, "未报送") for code in CODES if code not in sent]
    assert result.findings == []                       # no UNBALANCED on the totals
    records = [sent[c.unit.code] for c in result.contributions]
    assert totals_differ(result.totals, expected_totals(records)) == {}
    blanks, na = expected_tallies(records)
    assert (dict(result.blanks), dict(result.not_applicable)) == (blanks, na)
    out = result.to_dict()
    assert json_totals_differ(out["totals"], expected_totals(records)) == {}
    assert (out["blanks"], out["not_applicable"], out["findings"]) == (blanks, na, [])


# -- an area with every kind of unit -----------------------------------------------------------

TREE_ROSTER = """单位代码,单位名称,上级单位代码,联系人,截止日期
330599,青溪区人民政府办公室,,,
330599-002,青溪区发展和改革局,330599,,
330599-003,青溪区教育局,330599,,
330599-007,青溪区民政局,330599,,
330599-101,青溪区城关街道办事处,330599,,
330599-101-01,城关街道东门社区居民委员会,330599-101,,
330599-101-02,城关街道西门社区居民委员会,330599-101,,
"""
TREE_NAMES = {
    "330599": "青溪区人民政府办公室",
    "330599-002": "青溪区发展和改革局",
    "330599-003": "青溪区教育局",
    "330599-007": "青溪区民政局",
    "330599-101": "青溪区城关街道办事处",
    "330599-101-01": "城关街道东门社区居民委员会",
    "330599-101-02": "城关街道西门社区居民委员会",
}
EARLIER = "2023-01-10T09:00:00+08:00"
NOTE_T3 = "本年有 2 件申请由上年结转。"

V_GOV = complete_values()
V_DRC_OLD = complete_values(t2__licensing=999)      # superseded by V_DRC
V_DRC = complete_values(t2__fees_wan_yuan=Decimal("1.25"), t2__regulations__issued="/",
                        t2__penalty=None, note__t3=NOTE_T3)
V_EDU = complete_values(t3__new__natural_person=11)  # breaks R1: invalid
V_STREET = complete_values(t2__fees_wan_yuan=Decimal("0.5"), t3__new__research=4,
                           t3__granted__research=3, t3__carry_forward__research=1,
                           t4__suit_direct__upheld=2)
V_EAST = complete_values(t2__licensing=7, t2__fees_wan_yuan=Decimal("10.05"))


@dataclass
class Area:
    root: Path
    ws_dir: Path
    sha: dict[str, str] = field(default_factory=dict)         # unit -> counting file's hash
    submission: dict[str, int] = field(default_factory=dict)  # unit -> counting submission


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory, module_ledger_backend: str) -> Area:
    """330599, -002 (resubmitted), -101, -101-01 valid; -003 with errors; -007 sent another
    office's template (rejected); -101-02 sent nothing."""
    root = tmp_path_factory.mktemp("area")
    ws, ledger = make_workspace(root / "ws", TREE_ROSTER)
    other, other_ledger = make_workspace(root / "other", TREE_ROSTER, office="青山区人民政府办公室")
    other_ledger.close()
    result = Area(root, ws.root)

    def send(code: str, values: dict[str, Any], by: Any, folder: str) -> tuple[Path, bytes]:
        data = issue(by, code, values, name=TREE_NAMES[code])
        return put(root / folder, f"{code}.xlsx", data), data

    with ledger:
        first, _ = send("330599-002", V_DRC_OLD, ws, "first")
        collect(ws, ledger, [first], received_at=EARLIER, feedback=False)
        sent = {code: send(code, values, by, "inbox") for code, values, by in (
            ("330599", V_GOV, ws), ("330599-002", V_DRC, ws), ("330599-003", V_EDU, ws),
            ("330599-007", V_GOV, other), ("330599-101", V_STREET, ws),
            ("330599-101-01", V_EAST, ws))}
        report = collect(ws, ledger, [p for p, _ in sent.values()], received_at=RECEIVED,
                         feedback=False)
    by_path = {item["path"]: item for item in report.items}
    assert {code: by_path[str(p)]["status"] for code, (p, _) in sent.items()} == {
        "330599": "valid", "330599-002": "valid", "330599-003": "invalid",
        "330599-007": "rejected", "330599-101": "valid", "330599-101-01": "valid"}
    for code, (path, data) in sent.items():
        result.sha[code] = hashlib.sha256(data).hexdigest()
        result.submission[code] = by_path[str(path)]["submission"]
    return result


def contributor(area: Area, code: str, status: str = "valid", errors: int = 0,
                warnings: int = 0, explained: int = 0) -> dict[str, Any]:
    return {"unit": code, "name": TREE_NAMES[code], "status": status,
            "submission": area.submission[code], "sha256": area.sha[code],
            "form_version": FORM.version, "received_at": RECEIVED, "errors": errors,
            "warnings": warnings, "explained": explained}


def left(code: str, why: str) -> dict[str, str]:
    return {"unit": code, "name": TREE_NAMES[code], "why": why}


INVALID = "报送的文件有错误（未通过审核）"
REJECTED = "报送的文件未受理"
MISSING = "未报送"
VALID_RECORDS = [V_GOV, V_DRC, V_STREET, V_EAST]


def merge_json(area: Area, *args: Any) -> tuple[int, dict[str, Any]]:
    result = run("merge", "-w", area.ws_dir, "--json", *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def test_default_merge_counts_valid_units_and_says_why_the_others_are_left_out(
        area: Area) -> None:
    code, out = merge_json(area)
    assert code == 0
    assert (out["form"], out["year"], out["scope"], out["identity"]) == (
        {"id": FORM.id, "version": FORM.version}, 2022, None,
        {"unit.code": "", "unit.name": "青溪区人民政府办公室（汇总）", "year": 2022})
    assert out["contributors"] == [
        contributor(area, "330599"),
        contributor(area, "330599-002", warnings=1),   # t2.penalty left blank
        contributor(area, "330599-101"),
        contributor(area, "330599-101-01"),
    ]
    assert out["left_out"] == [left("330599-003", INVALID), left("330599-007", REJECTED),
                               left("330599-101-02", MISSING)]
    assert json_totals_differ(out["totals"], expected_totals(VALID_RECORDS)) == {}
    # the resubmission counts, not the superseded file (licensing 999)
    assert out["totals"]["t2.licensing"] == 120 * 3 + 7
    assert out["totals"]["t2.fees_wan_yuan"] == "11.80"
    assert (out["totals"]["t3.new.total"], out["totals"]["t3.outcome_total.total"]) == (52, 47)
    assert (out["blanks"], out["not_applicable"]) == ({"t2.penalty": 1},
                                                      {"t2.regulations.issued": 1})
    assert out["findings"] == []


def test_merge_text_output(area: Area) -> None:
    result = run("merge", "-w", area.ws_dir)
    assert result.exit_code == 0, result.output
    assert "青溪区人民政府办公室（汇总）：纳入 4 个单位，未纳入 3 个。" in result.output
    for code, why in (("330599-003", INVALID), ("330599-007", REJECTED),
                      ("330599-101-02", MISSING)):
        assert code in result.output and why in result.output
    assert "汇总数据各项勾稽关系均平衡。" in result.output


def test_include_invalid_adds_units_with_errors_and_the_totals_then_fail_r1(area: Area) -> None:
    code, out = merge_json(area, "--include-invalid")
    assert code == 1
    assert [(c["unit"], c["status"], c["errors"]) for c in out["contributors"]] == [
        ("330599", "valid", 0), ("330599-002", "valid", 0), ("330599-003", "invalid", 1),
        ("330599-101", "valid", 0), ("330599-101-01", "valid", 0)]
    assert out["contributors"][2] == contributor(area, "330599-003", "invalid", errors=1)
    assert out["left_out"] == [left("330599-007", REJECTED), left("330599-101-02", MISSING)]
    records = [V_GOV, V_DRC, V_EDU, V_STREET, V_EAST]
    assert json_totals_differ(out["totals"], expected_totals(records)) == {}
    assert [(f["code"], f["severity"], f["file"], f["rule"], f["sheet"], f["cell"], f["field"],
             f["values"]["lhs"], f["values"]["rhs"], f["values"]["diff"])
            for f in out["findings"]] == [
        ("UNBALANCED", "error", "汇总", "R1", "依申请公开", "D7", "t3.new.natural_person",
         61, 60, 1),
        ("UNBALANCED", "error", "汇总", "R1", "依申请公开", "J7", "t3.new.total", 75, 74, 1),
    ]
    text = run("merge", "-w", area.ws_dir, "--include-invalid")
    assert text.exit_code == 1
    assert "汇总数据的校验问题" in text.output and "依申请公开!D7" in text.output


def test_under_restricts_the_merge_to_a_subtree(area: Area) -> None:
    code, out = merge_json(area, "--under", "330599-101")
    assert code == 0
    assert (out["scope"], out["identity"]) == (
        "330599-101",
        {"unit.code": "330599-101", "unit.name": "青溪区城关街道办事处（汇总）", "year": 2022})
    assert out["contributors"] == [contributor(area, "330599-101"),
                                   contributor(area, "330599-101-01")]
    assert out["left_out"] == [left("330599-101-02", MISSING)]
    assert json_totals_differ(out["totals"], expected_totals([V_STREET, V_EAST])) == {}
    assert (out["totals"]["t2.licensing"], out["totals"]["t2.fees_wan_yuan"],
            out["totals"]["t4.suit_direct.total"]) == (127, "10.55", 2)
    # a leaf: only itself
    code, out = merge_json(area, "--under", "330599-002")
    assert (code, [c["unit"] for c in out["contributors"]], out["left_out"]) == (
        0, ["330599-002"], [])
    assert json_totals_differ(out["totals"], expected_totals([V_DRC])) == {}


def test_under_an_unknown_unit_exits_2(area: Area, tmp_path: Path) -> None:
    out = tmp_path / "x.xlsx"
    result = run("merge", "-w", area.ws_dir, "--under", "330599-999", "-o", out)
    assert result.exit_code == 2
    assert "名单中没有单位代码“330599-999”" in result.output
    assert not out.exists()


def test_merge_outside_a_workspace_exits_2(tmp_path: Path) -> None:
    result = run("merge", "-w", tmp_path)
    assert result.exit_code == 2
    assert "不是收集工作区" in result.output


# -- the consolidated workbook -------------------------------------------------------------------

def load(path: Path, data_only: bool = False) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path, data_only=data_only)


@pytest.fixture(scope="module")
def merged(area: Area) -> tuple[Path, dict[str, Any]]:
    path = area.root / "out" / "汇总.xlsx"
    path.parent.mkdir(exist_ok=True)
    result = run("merge", "-w", area.ws_dir, "-o", path, "--json")
    assert result.exit_code == 0, result.output
    return path, json.loads(result.stdout)


def as_number(value: Any) -> Decimal:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def test_workbook_has_the_official_layout_with_every_input_locked(merged: Any) -> None:
    path, _ = merged
    wb = load(path)
    # the official layout without 填报说明 (nothing to fill in a merged copy)
    assert wb.sheetnames == [s.name for s in LAYOUT.sheets if s.role != "instructions"] + [
        "汇总来源", "明细", "_meta"]
    wrong = [(lab.area.sheet, lab.area.a1, lab.text) for lab in LAYOUT.labels
             if lab.area.sheet in wb.sheetnames and lab.text != FORM.cover.hint
             and wb[lab.area.sheet][lab.area.a1].value != lab.text]
    assert wrong == []
    hint = next(lab.area for lab in LAYOUT.labels if lab.text == FORM.cover.hint)
    assert wb[hint.sheet][hint.a1].value.startswith("汇总单位：青溪区人民政府办公室。汇总：纳入 ")
    for spec in LAYOUT.sheets:
        if spec.role != "instructions":
            assert wb[spec.name].protection.sheet is True, spec.name
    identity = {f.id for f in FORM.cover.fields}
    unlocked = [fid for fid, cell in LAYOUT.inputs.items() if fid not in identity
                and wb[cell.area.sheet][cell.area.a1].protection.locked is not True]
    assert unlocked == []
    cover = {fid: wb[LAYOUT.places[fid].sheet][LAYOUT.places[fid].a1].value
             for fid in ("unit.name", "unit.code", "year")}
    assert cover == {"unit.name": "青溪区人民政府办公室（汇总）", "unit.code": None, "year": 2022}
    # a unit's return, by contrast, leaves its inputs open to typing
    fid = "t3.new.natural_person"
    ret = openpyxl.load_workbook(io.BytesIO(issue_for_contrast()))
    assert ret[LAYOUT.places[fid].sheet][LAYOUT.places[fid].a1].protection.locked is False


def test_workbook_cover_identity_is_locked_too(merged: Any) -> None:
    path, _ = merged
    wb = load(path)
    cells = {f.id: wb[LAYOUT.places[f.id].sheet][LAYOUT.places[f.id].a1].protection.locked
             for f in FORM.cover.fields}
    assert cells == {"unit.name": True, "unit.code": True, "year": True,
                     "contact.filler": True, "contact.phone": True, "contact.reviewer": True,
                     "contact.date": True}


def test_workbook_of_a_subtree_has_its_identity_locked(area: Area, tmp_path: Path) -> None:
    path = tmp_path / "街道汇总.xlsx"
    result = run("merge", "-w", area.ws_dir, "--under", "330599-101", "-o", path)
    assert result.exit_code == 0, result.output
    wb = load(path)
    cells = {f.id: (wb[LAYOUT.places[f.id].sheet][LAYOUT.places[f.id].a1].value,
                    wb[LAYOUT.places[f.id].sheet][LAYOUT.places[f.id].a1].protection.locked)
             for f in FORM.cover.fields}
    assert cells == {"unit.name": ("青溪区城关街道办事处（汇总）", True),
                     "unit.code": ("330599-101", True), "year": (2022, True),
                     **dict.fromkeys(("contact.filler", "contact.phone", "contact.reviewer",
                                      "contact.date"), (None, True))}


def issue_for_contrast() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        ws, ledger = make_workspace(Path(tmp) / "ws")
        ledger.close()
        return issue(ws, "330599")


def test_workbook_holds_the_totals_as_written(merged: Any) -> None:
    path, out = merged
    wb = load(path, data_only=True)
    wrong = {}
    for fid in NUMERIC:
        place = LAYOUT.places[fid]
        if as_number(wb[place.sheet][place.a1].value) != Decimal(str(out["totals"][fid])):
            wrong[fid] = (wb[place.sheet][place.a1].value, out["totals"][fid])
    assert wrong == {}


def test_provenance_sheet_lists_contributors_and_the_units_left_out(
        area: Area, merged: Any) -> None:
    path, _ = merged
    ws = load(path)["汇总来源"]
    rows = [tuple(c for c in row) for row in ws.iter_rows(values_only=True)]
    assert rows[0][0] == "青溪区人民政府办公室（汇总） 2022 年度汇总来源"
    assert rows[2] == ("单位代码", "单位名称", "审核结果", "提交编号", "文件校验值（SHA-256）",
                       "模板版本", "收到时间", "错误", "提醒", "已说明", "填报单位说明")

    def unit_row(code: str, warnings: int = 0, note: str = "") -> tuple[Any, ...]:
        return (code, TREE_NAMES[code], "通过", area.submission[code], area.sha[code], VERSION,
                RECEIVED, 0, warnings, 0, note)

    assert rows[3:7] == [unit_row("330599"), unit_row("330599-002", 1, NOTE_T3),
                         unit_row("330599-101"), unit_row("330599-101-01")]
    assert rows[7] == (None,) * 11
    assert rows[8][0] == "未纳入汇总的单位（3 个）"
    assert rows[9][:3] == ("单位代码", "单位名称", "原因")
    assert [r[:3] for r in rows[10:]] == [
        ("330599-003", "青溪区教育局", INVALID), ("330599-007", "青溪区民政局", REJECTED),
        ("330599-101-02", "城关街道西门社区居民委员会", MISSING)]
    assert ws.protection.sheet is True


def test_detail_sheet_has_one_row_per_unit_and_numeric_field(merged: Any) -> None:
    path, _ = merged
    rows = list(load(path)["明细"].iter_rows(values_only=True))
    assert rows[0] == ("单位代码", "单位名称", "字段标识", "标签路径", "数值")
    expected = []
    for code, values in (("330599", V_GOV), ("330599-002", V_DRC), ("330599-101", V_STREET),
                         ("330599-101-01", V_EAST)):
        full = with_totals(values)
        for fid in NUMERIC:
            value = full.get(fid)
            shown = float(value) if isinstance(value, Decimal) else value
            expected.append((code, TREE_NAMES[code], fid, FORM.fields[fid].label, shown))
    assert len(rows) == 1 + 4 * 200
    assert rows[1:] == expected
    drc = {r[2]: r[4] for r in rows if r[0] == "330599-002"}
    assert (drc["t2.regulations.issued"], drc["t2.penalty"], drc["t2.fees_wan_yuan"],
            drc["t2.enforcement"]) == ("/", None, 1.25, 2)


def test_provenance_marks_units_included_with_errors(area: Area, tmp_path: Path) -> None:
    path = tmp_path / "汇总.xlsx"
    result = run("merge", "-w", area.ws_dir, "-o", path, "--include-invalid")
    assert result.exit_code == 1
    rows = list(load(path)["汇总来源"].iter_rows(values_only=True))
    assert [r[:3] for r in rows[3:8]] == [
        ("330599", TREE_NAMES["330599"], "通过"),
        ("330599-002", TREE_NAMES["330599-002"], "通过"),
        ("330599-003", TREE_NAMES["330599-003"], "有错误（按要求纳入）"),
        ("330599-101", TREE_NAMES["330599-101"], "通过"),
        ("330599-101-01", TREE_NAMES["330599-101-01"], "通过")]
    assert rows[5][3:8] == (area.submission["330599-003"], area.sha["330599-003"], VERSION,
                            RECEIVED, 1)  # one slip: 总计's R1 follows from it
    assert rows[9][0] == "未纳入汇总的单位（2 个）"
    detail = list(load(path)["明细"].iter_rows(values_only=True))
    assert len(detail) == 1 + 5 * 200
    edu = {r[2]: r[4] for r in detail if r[0] == "330599-003"}
    assert (edu["t3.new.natural_person"], edu["t3.new.total"]) == (11, 13)


def test_no_detail_leaves_the_detail_sheet_out(area: Area, tmp_path: Path) -> None:
    path = tmp_path / "汇总.xlsx"
    result = run("merge", "-w", area.ws_dir, "-o", path, "--no-detail")
    assert result.exit_code == 0, result.output
    assert f"汇总工作簿：{path}" in result.output
    assert load(path).sheetnames == [s.name for s in LAYOUT.sheets
                                     if s.role != "instructions"] + ["汇总来源", "_meta"]


@pytest.mark.libreoffice
def test_recalculated_workbook_shows_the_merge_totals_and_passes(
        merged: Any, libreoffice: LibreOffice, tmp_path: Path) -> None:
    path, out = merged
    recalculated = tmp_path / "recalc.xlsx"
    libreoffice.recalc_save(path, recalculated)
    wb = load(recalculated, data_only=True)
    wrong = {}
    for fid in NUMERIC:
        place = LAYOUT.places[fid]
        value = wb[place.sheet][place.a1].value
        if as_number(value) != Decimal(str(out["totals"][fid])):
            wrong[fid] = (value, out["totals"][fid])
    assert wrong == {}
    status = LAYOUT.status.area
    assert wb[status.sheet][status.a1].value == "校验通过"


@pytest.mark.libreoffice
def test_recalculated_workbook_of_unbalanced_totals_says_where(
        area: Area, libreoffice: LibreOffice, tmp_path: Path) -> None:
    path = tmp_path / "汇总.xlsx"
    result = run("merge", "-w", area.ws_dir, "-o", path, "--include-invalid", "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    libreoffice.recalc_save(path, tmp_path / "recalc.xlsx")
    wb = load(tmp_path / "recalc.xlsx", data_only=True)
    status = LAYOUT.status.area
    assert wb[status.sheet][status.a1].value == "有 2 处不平衡，请查看标红单元格"
    for inst in ("R1:natural_person", "R1:total"):
        check = LAYOUT.checks[inst].area
        assert wb[check.sheet][check.a1].value == 1, inst
    place = LAYOUT.places["t3.new.natural_person"]
    assert wb[place.sheet][place.a1].value == out["totals"]["t3.new.natural_person"] == 51


# -- a unit whose only file was refused for the wrong year ----------------------------------------

def test_a_unit_whose_file_was_refused_for_the_wrong_year_is_rejected_not_missing(
        tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    with ledger:
        path = put(tmp_path / "inbox", "街道.xlsx", issue(ws, "330599-101", year=2021))
        report = collect(ws, ledger, [path], received_at=RECEIVED, feedback=False)
        assert [(i["status"], i["reason"]) for i in report.items] == [
            ("rejected", "YEAR_MISMATCH")]
        result = merge(ledger, FORM, 2022, ledger.units())
    assert [(u.code, why) for u, why in result.left_out if u.code == "330599-101"] == [
        ("330599-101", REJECTED)]
