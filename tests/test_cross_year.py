"""Cross-year rules in a collection: X1 (本年“上年结转” = 上年“结转下年度”) and X2 (现行有效件数 =
上年现行有效 + 本年制发 - 本年废止) run when the same unit's record of the previous year is in
the ledger, collected there (a workspace moved on to the next year) or imported from the
published report; `revalidate` picks up a previous year imported late; a 说明 in note.t3
explains the X1 warnings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from nianbao.cli import app
from nianbao.collect.intake import collect
from nianbao.collect.ledger import Ledger, Row
from nianbao.collect.revalidate import revalidate
from nianbao.collect.workspace import CONFIG_NAME, Workspace, config_text, open_workspace
from nianbao.findings import Severity
from nianbao.publish.record import Record
from nianbao.publish.report import render_report
from nianbao.validate.rules import check_rules
from tests.collect_helpers import (
    LAYOUT,
    NAMES,
    RECEIVED,
    complete_values,
    issue,
    make_workspace,
    put,
)
from tests.test_merge import with_totals

FORM = LAYOUT.form
UNIT = "330599-002"
LAST_YEAR = "2022-01-14T10:00:00+08:00"

# This year (complete_values): 上年结转 自然人 2; 规章 制发 1 废止 0 现行有效 5; 规范性文件 制发 3
# 废止 1 现行有效 12. A previous year that agrees: 结转下年度 自然人 2, 现行有效 4 and 10.
PREV_MATCH = complete_values(t3__new__natural_person=9, t3__carry_forward__natural_person=2,
                             t2__regulations__in_force=4, t2__normative_docs__in_force=10)
# 结转下年度 自然人 3 (X1 breaks on 自然人 and 总计)
PREV_X1 = complete_values(t2__regulations__in_force=4, t2__normative_docs__in_force=10)
# 规章 现行有效 5 (X2 breaks on 规章: 5 != 5 + 1 - 0)
PREV_X2 = {**PREV_MATCH, "t2.regulations.in_force": 5}

X1 = [("UNBALANCED", "warning", "X1", "依申请公开", "D8", "t3.carried_over.natural_person",
       2, 3, -1),
      ("UNBALANCED", "warning", "X1", "依申请公开", "J8", "t3.carried_over.total", 2, 3, -1)]
X2 = [("UNBALANCED", "warning", "X2", "主动公开", "D6", "t2.regulations.in_force", 5, 6, -1)]


def run(*args: Any) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def cross_year(findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The X findings of a verdict, located."""
    return sorted(((f["code"], f["severity"], f["rule"], f["sheet"], f["cell"], f["field"],
                    f["values"]["lhs"], f["values"]["rhs"], f["values"]["diff"])
                   for f in findings if (f.get("rule") or "").startswith("X")),
                  key=lambda t: (t[2], t[4]))


def latest(ledger: Ledger, code: str = UNIT, year: int = 2022) -> Row:
    return [r for r in ledger.rows(unit_code=code, year=year) if r.kind == "workbook"][-1]


def test_the_fixture_records_balance_on_their_own() -> None:
    for values in (PREV_MATCH, PREV_X1, PREV_X2, complete_values()):
        assert check_rules(FORM, values) == []


# -- previous year collected in the same ledger (the workspace moved on a year) -----------------

def move_on(ws: Workspace, year: int) -> Workspace:
    (ws.root / CONFIG_NAME).write_text(config_text(dataclasses.replace(ws.config, year=year)),
                                       encoding="utf-8")
    return open_workspace(ws.root)


def collect_both_years(tmp_path: Path, previous: dict[str, Any] | None,
                       current: dict[str, Any], prev_unit: str = UNIT
                       ) -> tuple[Workspace, Ledger]:
    ws, ledger = make_workspace(tmp_path / "ws", year=2021)
    if previous is not None:
        last = put(tmp_path / "2021", "上年.xlsx", issue(ws, prev_unit, previous, year=2021))
        report = collect(ws, ledger, [last], received_at=LAST_YEAR, feedback=False)
        assert [(i["status"], i["unit"]) for i in report.items] == [("valid", prev_unit)]
    ws = move_on(ws, 2022)
    this = put(tmp_path / "2022", "本年.xlsx", issue(ws, UNIT, current))
    report = collect(ws, ledger, [this], received_at=RECEIVED, feedback=False)
    assert [(i["status"], i["unit"]) for i in report.items] == [("valid", UNIT)]
    return ws, ledger


# warnings counted: X1 of the 总计 column (J8) follows from X1 of 自然人 (D8), linked to it
@pytest.mark.parametrize(("previous", "expected", "counted"), [
    (PREV_MATCH, [], 0),
    (PREV_X1, X1, 1),
    (PREV_X2, X2, 1),
    ({**PREV_X1, "t2.regulations.in_force": 5}, X1 + X2, 2),
], ids=["matching", "x1", "x2", "both"])
def test_collected_previous_year(tmp_path: Path, previous: dict[str, Any],
                                 expected: list[tuple[Any, ...]], counted: int) -> None:
    _, ledger = collect_both_years(tmp_path, previous, complete_values())
    with ledger:
        row = latest(ledger)
        assert cross_year(row.verdict.findings) == expected
        assert (row.verdict.status, row.verdict.warnings, row.verdict.explained) == (
            "valid", counted, 0)
        j8 = [f for f in row.verdict.findings if f["cell"] == "J8"]
        assert all(f["values"]["caused_by"]["cell"] == "D8" for f in j8)
        assert row.verdict.findings == [f for f in row.verdict.findings
                                        if f["rule"] in ("X1", "X2")]
        # last year's return is kept as it was judged
        (prev,) = ledger.rows(year=2021)
        assert (prev.verdict.status, prev.verdict.findings) == ("valid", [])


def test_no_previous_year_in_the_ledger_no_cross_year_rule(tmp_path: Path) -> None:
    values = complete_values()
    # compared with an empty previous record X1 and X2 would fire ...
    assert {f.rule for f in check_rules(FORM, values, previous={}, cross_year_only=True)} == {
        "X1", "X2"}
    # ... but with no record of the previous year they do not run at all
    _, ledger = collect_both_years(tmp_path, None, values)
    with ledger:
        row = latest(ledger)
        assert (row.verdict.findings, row.verdict.warnings) == ([], 0)


def test_another_units_previous_year_does_not_count(tmp_path: Path) -> None:
    _, ledger = collect_both_years(tmp_path, PREV_X1, complete_values(), prev_unit="330599-003")
    with ledger:
        assert latest(ledger).verdict.findings == []


def test_an_explanation_in_the_t3_note_explains_the_x1_warnings(tmp_path: Path) -> None:
    note = "机构调整，上年结转数按新口径统计。"
    both = {**PREV_X1, "t2.regulations.in_force": 5}
    _, ledger = collect_both_years(tmp_path, both, complete_values(note__t3=note))
    with ledger:
        v = latest(ledger).verdict
    assert cross_year(v.findings) == X1 + X2
    assert (v.status, v.warnings, v.explained) == ("valid", 2, 1)  # (J8 follows from D8)
    explained = {f["cell"]: f["values"].get("explanation") for f in v.findings}
    assert explained == {"D8": note, "J8": note, "D6": None}   # note.t3 says nothing on 表二
    x1 = next(f for f in v.findings if f["cell"] == "D8")
    assert f"（填报单位说明：{note}）" in x1["message"]
    assert x1["message"].endswith("「总计」列（X1）随之不平衡")
    assert "上年 D31" in x1["message"]


def test_revalidate_keeps_last_years_collected_returns(tmp_path: Path) -> None:
    ws, ledger = collect_both_years(tmp_path, PREV_X2, complete_values())
    with ledger:
        assert cross_year(latest(ledger).verdict.findings) == X2
        revalidate(ws, ledger)
        revalidate(ws, ledger)
        (prev,) = ledger.rows(year=2021)
        assert (prev.verdict.status, prev.verdict.reason) == ("valid", None)
        assert cross_year(latest(ledger).verdict.findings) == X2


# -- previous year imported from its published report -------------------------------------------

def published(tmp_path: Path, values: dict[str, Any], name: str = "上年报告.docx") -> Path:
    record = Record({"unit.name": NAMES[UNIT], "year": 2021}, with_totals(values))
    return put(tmp_path / "published", name, render_report(FORM, record, "docx"))


def import_previous(ws: Workspace, path: Path) -> None:
    result = run("import", path, "--store", "--unit", UNIT, "--year", "2021", "-w", ws.root)
    assert result.exit_code == 0, result.output
    assert "已存入台账 1 份（重复 0 份）。" in result.output


def test_imported_previous_year_gives_the_x1_warning_at_collect(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    ledger.close()
    import_previous(ws, published(tmp_path, PREV_X1))
    with Ledger(ws.ledger_path) as ledger:
        (prev,) = ledger.rows(year=2021)
        assert (prev.kind, prev.verdict.status, prev.verdict.unit_code, prev.verdict.findings
                ) == ("published", "valid", UNIT, [])
        path = put(tmp_path / "2022", "本年.xlsx", issue(ws, UNIT, complete_values()))
        report = collect(ws, ledger, [path], received_at=RECEIVED, feedback=False)
        assert [(i["status"], i["warnings"]) for i in report.items] == [("valid", 1)]
        assert cross_year(latest(ledger).verdict.findings) == X1


def test_imported_matching_previous_year_stays_quiet(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    ledger.close()
    import_previous(ws, published(tmp_path, PREV_MATCH))
    with Ledger(ws.ledger_path) as ledger:
        path = put(tmp_path / "2022", "本年.xlsx", issue(ws, UNIT, complete_values()))
        collect(ws, ledger, [path], received_at=RECEIVED, feedback=False)
        assert latest(ledger).verdict.findings == []


def test_revalidate_picks_up_a_previous_year_imported_after_collect(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    with ledger:
        path = put(tmp_path / "2022", "本年.xlsx", issue(ws, UNIT, complete_values()))
        report = collect(ws, ledger, [path], received_at=RECEIVED, feedback=False)
        sid = report.items[0]["submission"]
        assert latest(ledger).verdict.findings == []
    import_previous(ws, published(tmp_path, {**PREV_X1, "t2.regulations.in_force": 5}))
    result = run("revalidate", "-w", ws.root, "--json", "-j", "1")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["checked"], out["changed"]) == (1, 1)
    assert out["changes"] == [{
        "submission": sid, "file": "本年.xlsx", "unit": UNIT, "status_before": "valid",
        "status_after": "valid",
        "added": [{"code": "UNBALANCED", "cell": "D6", "rule": "X2"},
                  {"code": "UNBALANCED", "cell": "D8", "rule": "X1"},
                  {"code": "UNBALANCED", "cell": "J8", "rule": "X1"}],
        "removed": [], "values_changed": False}]
    with Ledger(ws.ledger_path) as ledger:
        v = latest(ledger).verdict
        assert cross_year(v.findings) == X1 + X2
        assert (v.status, v.warnings, v.explained) == ("valid", 2, 0)
        assert [h["status"] for h in ledger.history(sid)] == ["valid", "valid"]
    # once more: nothing changes
    again = json.loads(run("revalidate", "-w", ws.root, "--json", "-j", "1").stdout)
    assert (again["checked"], again["changed"]) == (1, 0)


def test_x_findings_are_warnings_in_the_rule_engine_too() -> None:
    found = check_rules(FORM, complete_values(), previous=with_totals(PREV_X1),
                        cross_year_only=True)
    assert [(f.rule, f.cell, f.severity) for f in found] == [
        ("X1", "D8", Severity.WARNING), ("X1", "J8", Severity.WARNING)]
