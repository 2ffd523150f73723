"""Where the collection stands: a scripted January of nine units, asserted exactly (library,
chase list, CSV export, and the `nianbao status` command), plus deadline edge cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from nianbao.cli import app
from nianbao.collect.intake import collect
from nianbao.collect.judging import CHINA
from nianbao.collect.status import unit_status
from tests.collect_helpers import complete_values, issue, make_workspace, put, sha

ROSTER = """单位代码,单位名称,上级单位代码,联系人,截止日期
330599,青溪区人民政府办公室,,办公室 张敏 0572-1000001,
330599-002,青溪区发展和改革局,330599,办公室 蒋琳 0572-1000002,
330599-003,青溪区教育局,330599,办公室 李明 0572-1000003,
330599-007,青溪区民政局,330599,办公室 王强 0572-1000007,
330599-008,青溪区司法局,330599,办公室 冯丽 0572-1000008,
330599-012,青溪区文化和广电旅游体育局,330599,办公室 沈洁 0572-1000012,
330599-014,青溪区交通运输局,330599,办公室 褚敏 0572-1000014,
330599-101,青溪区城关街道办事处,330599,党政办 吴芳 0572-1000101,2023-01-13
330599-102,青溪区城南街道办事处,330599,党政办 朱红 0572-1000102,2023-01-13
"""
NAMES = {line.split(",")[0]: line.split(",")[1] for line in ROSTER.splitlines()[1:]}
CONTACTS = {line.split(",")[0]: line.split(",")[3] for line in ROSTER.splitlines()[1:]}

JAN10 = "2023-01-10T09:00:00+08:00"
JAN12 = "2023-01-12T16:00:00+08:00"
JAN15 = "2023-01-15T11:00:00+08:00"
JAN25 = "2023-01-25T10:00:00+08:00"
AS_OF = datetime(2023, 1, 31, tzinfo=CHINA)

NEGATIVE = "负数（主动公开!B10）"     # the first blocking problem, in a few words, located
WRONG_YEAR = "报告年度不符"
NEWER_INVALID = "之后又报送的文件有错误，仍以此前通过的文件为准"

# run by run: (received_at, [(file, unit, values or None for clean, year)])
SCRIPT = [
    (JAN10, [
        ("政府办.xlsx", "330599", None, 2022),                                    # 1 valid
        ("教育局.xlsx", "330599-003", {"t3__new__natural_person": 11}, 2022),    # 2 invalid
        ("民政局.xlsx", "330599-007", {"t2__licensing": -3}, 2022),              # 3 invalid
        ("司法局.xlsx", "330599-008", None, 2021),                               # 4 rejected
        ("交通局.xlsx", "330599-014",                                            # 5 valid, a
         {"t3__granted__business": None, "t3__new__business": 0}, 2022),        #   warning
        ("年报.xlsx", None, None, 2022),                                         # 6 corrupt
    ]),
    (JAN12, [("交通局（补充）.xlsx", "330599-014", {"t2__penalty": "十二"}, 2022)]),  # 7 invalid
    (JAN15, [("城关街道.xlsx", "330599-101", None, 2022)]),                      # 8 valid, late
    (JAN25, [("发改局.xlsx", "330599-002", None, 2022),                          # 9 valid, late
             ("教育局（改）.xlsx", "330599-003", None, 2022)]),                  # 10 corrected
]


def play(tmp_path: Path, script=SCRIPT):
    ws, ledger = make_workspace(tmp_path / "ws", ROSTER)
    sent: dict[str, bytes] = {}
    for at, files in script:
        paths = []
        for name, unit, changes, year in files:
            if unit is None:
                data = issue(ws, "330599")[:3000]
            else:
                data = issue(ws, unit, complete_values(**(changes or {})), name=NAMES.get(unit),
                             year=year)
            sent[name] = data
            paths.append(put(tmp_path / "inbox" / at[:10], name, data))
        collect(ws, ledger, paths, received_at=at)
    return ws, ledger, sent


@pytest.fixture(scope="module")
def january(tmp_path_factory: pytest.TempPathFactory):
    ws, ledger, sent = play(tmp_path_factory.mktemp("january"))
    yield ws, ledger, sent
    ledger.close()


def unit(code: str, state: str, timeliness: str, *, submissions: int = 0,
         first: str | None = None, counting: tuple[int, str, str] | None = None,
         sent: dict[str, bytes] | None = None, errors: int = 0, warnings: int = 0,
         unexplained: int = 0, why: str = "", newer_invalid: bool = False,
         deadline: str = "2023-01-20") -> dict:
    count = None
    if counting is not None:
        sid, file, at = counting
        count = {"submission": sid, "file": file, "sha256": sha(sent[file]), "received_at": at}
    return {"code": code, "name": NAMES[code], "parent": "" if code == "330599" else "330599",
            "contact": CONTACTS[code], "deadline": deadline, "state": state,
            "timeliness": timeliness, "submissions": submissions, "first_received_at": first,
            "counting": count, "errors": errors, "warnings": warnings,
            "unexplained": unexplained, "why": why, "newer_invalid": newer_invalid,
            "conflict": None,
            "warning_groups": 1 if warnings else 0, "unexplained_groups": 1 if unexplained else 0,
            "filled_by": {}}


def expected_january(sent: dict[str, bytes]) -> dict:
    units = [
        unit("330599", "valid", "on_time", submissions=1, first=JAN10,
             counting=(1, "政府办.xlsx", JAN10), sent=sent),
        unit("330599-002", "valid", "late", submissions=1, first=JAN25,
             counting=(9, "发改局.xlsx", JAN25), sent=sent),
        unit("330599-003", "valid", "on_time", submissions=2, first=JAN10,
             counting=(10, "教育局（改）.xlsx", JAN25), sent=sent),
        unit("330599-007", "invalid", "on_time", submissions=1, first=JAN10,
             counting=(3, "民政局.xlsx", JAN10), sent=sent, errors=1, why=NEGATIVE),
        # a refused file is not a report: the unit is overdue, not on time
        unit("330599-008", "rejected", "overdue", submissions=1, first=None,
             counting=(4, "司法局.xlsx", JAN10), sent=sent, errors=1, why=WRONG_YEAR),
        unit("330599-012", "missing", "overdue", why="尚未报送"),
        unit("330599-014", "valid", "on_time", submissions=2, first=JAN10,
             counting=(5, "交通局.xlsx", JAN10), sent=sent, warnings=1, unexplained=1,
             why=NEWER_INVALID, newer_invalid=True),
        unit("330599-101", "valid", "late", submissions=1, first=JAN15,
             counting=(8, "城关街道.xlsx", JAN15), sent=sent, deadline="2023-01-13"),
        unit("330599-102", "missing", "overdue", why="尚未报送", deadline="2023-01-13"),
    ]
    chase = [{k: u[k] for k in ("code", "name", "contact", "state", "timeliness", "why",
                                "filled_by")}
             for u in units if u["state"] != "valid"]
    return {
        "year": 2022, "as_of": "2023-01-31T00:00:00+08:00",
        "totals": {"units": 9, "valid": 5, "invalid": 1, "rejected": 1, "missing": 2,
                   "on_time": 4, "late": 2, "pending": 0, "overdue": 3,
                   "valid_with_unexplained_warnings": 1, "unattributed_files": 1,
                   "conflicts": 0},
        "units": units,
        "chase": chase,
        "unattributed": [{"submission": 6, "file": "年报.xlsx", "received_at": JAN10,
                          "status": "rejected", "reason": "FILE_CORRUPT", "unit": None}],
    }


CHASE_CSV = (
    "\ufeff单位代码,单位名称,上级单位,联系人,状态,时限,截止日期,原因,填报人,联系电话,审核人,"
    "填报日期\r\n"
    "330599-007,青溪区民政局,330599,办公室 王强 0572-1000007,有错误,按时,2023-01-20,"
    f"{NEGATIVE},,,,\r\n"
    "330599-008,青溪区司法局,330599,办公室 冯丽 0572-1000008,未受理,已逾期未报送,2023-01-20,"
    f"{WRONG_YEAR},,,,\r\n"
    "330599-012,青溪区文化和广电旅游体育局,330599,办公室 沈洁 0572-1000012,未报送,已逾期未报送,"
    "2023-01-20,尚未报送,,,,\r\n"
    "330599-102,青溪区城南街道办事处,330599,党政办 朱红 0572-1000102,未报送,已逾期未报送,"
    "2023-01-13,尚未报送,,,,\r\n"
)


def test_a_scripted_january(january) -> None:
    ws, ledger, sent = january
    assert unit_status(ledger, ws.config, AS_OF).to_dict() == expected_january(sent)


def test_chase_list_and_csv(january) -> None:
    ws, ledger, _ = january
    report = unit_status(ledger, ws.config, AS_OF)
    assert [(u.code, u.state, u.timeliness) for u in report.chase] == [
        ("330599-007", "invalid", "on_time"), ("330599-008", "rejected", "overdue"),
        ("330599-012", "missing", "overdue"), ("330599-102", "missing", "overdue")]
    assert report.chase_csv() == CHASE_CSV


def test_status_command_gives_the_same_json_and_csv(january, tmp_path: Path) -> None:
    ws, _, sent = january
    out = tmp_path / "催报名单.csv"
    result = CliRunner().invoke(app, ["status", "--json", "-w", str(ws.root), "--as-of",
                                      "2023-01-31", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected_january(sent)
    assert out.read_bytes() == CHASE_CSV.encode("utf-8")


def test_status_command_table(january) -> None:
    ws, _, _ = january
    result = CliRunner().invoke(app, ["status", "-w", str(ws.root), "--as-of", "2023-01-31"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "共 9 个单位：通过 5，有错误 1，未受理 1，未报送 2；逾期报送 2，逾期未报 3。" \
        in result.stdout
    # the unattributed files are named, not only counted
    assert "名单外或无法识别的文件 1 个：\n  #6 年报.xlsx（FILE_CORRUPT）" in result.stdout
    lines = result.stdout.splitlines()
    units = [line for line in lines if "330599" in line]
    assert len(units) == 9  # one line per unit on a wide terminal, within its width
    assert max(cell_len(line) for line in lines) <= 200
    assert units[0].split()[:3] == ["330599-007", "青溪区民政局", "有错误"]  # problems first


@pytest.mark.parametrize("width", [120, 110])
def test_status_table_fits_a_wide_terminal(january, width: int) -> None:
    ws, _, _ = january
    result = CliRunner().invoke(app, ["status", "-w", str(ws.root), "--as-of", "2023-01-31"],
                                env={"COLUMNS": str(width)})
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    assert sum("330599" in line for line in lines) == 9  # one line per unit


@pytest.mark.parametrize("width", [80, 60])
def test_status_command_fits_a_narrow_terminal(january, width: int) -> None:
    ws, _, _ = january
    result = CliRunner().invoke(app, ["status", "-w", str(ws.root), "--as-of", "2023-01-31"],
                                env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    # each unit on two lines at most: its name line, then one line of detail
    for code, name in NAMES.items():
        if code == "330599-999":
            continue
        at = next(i for i, line in enumerate(lines) if f"（{code}）" in line)
        assert name[:4] in lines[at]
        assert lines[at + 1].startswith("    ") and "（33059" not in lines[at + 1]
    first = next(i for i, line in enumerate(lines) if "（330599-007）" in line)
    assert lines[first].startswith("有错误") and first == 1  # problems first
    assert lines[first + 1].strip().startswith("按时；错误 1 处；负数")


def test_status_before_any_deadline_is_pending(january) -> None:
    ws, ledger, _ = january
    early = unit_status(ledger, ws.config, datetime(2023, 1, 12, 12, tzinfo=CHINA))
    assert [(u.code, u.timeliness) for u in early.units if u.state == "missing"] == [
        ("330599-012", "pending"), ("330599-102", "pending")]
    mid = unit_status(ledger, ws.config, datetime(2023, 1, 14, tzinfo=CHINA))
    assert [(u.code, u.timeliness) for u in mid.units if u.state == "missing"] == [
        ("330599-012", "pending"), ("330599-102", "overdue")]
    # the unit whose only file was refused counts as not reported yet
    assert (early.totals["pending"], mid.totals["pending"], mid.totals["overdue"]) == (3, 2, 1)


# -- deadlines: inclusive, in China time -------------------------------------------------------

EDGE_ROSTER = """单位代码,单位名称,截止日期
A,甲,
B,乙,
C,丙,
D,丁,2023-01-10
E,戊,
"""


def test_deadline_is_inclusive_in_china_time(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws", EDGE_ROSTER)
    for code, at in (("A", "2023-01-20T23:59:59+08:00"),   # the last second of the day
                     ("B", "2023-01-20T16:00:00+00:00"),   # 2023-01-21 00:00 in China
                     ("C", "2023-01-20T15:59:59+00:00"),   # 2023-01-20 23:59:59 in China
                     ("D", "2023-01-11T08:00:00+08:00")):  # after its own earlier deadline
        name = {"A": "甲", "B": "乙", "C": "丙", "D": "丁"}[code]
        path = put(tmp_path / code, f"{code}.xlsx", issue(ws, code, name=name))
        collect(ws, ledger, [path], received_at=at)
    last_minute = datetime(2023, 1, 20, 23, 59, tzinfo=CHINA)
    after = datetime(2023, 1, 20, 16, 0, tzinfo=UTC)  # 2023-01-21 00:00 in China
    for as_of, pending in ((last_minute, "pending"), (after, "overdue")):
        report = unit_status(ledger, ws.config, as_of)
        assert [(u.code, u.state, u.timeliness, u.deadline) for u in report.units] == [
            ("A", "valid", "on_time", "2023-01-20"), ("B", "valid", "late", "2023-01-20"),
            ("C", "valid", "on_time", "2023-01-20"), ("D", "valid", "late", "2023-01-10"),
            ("E", "missing", pending, "2023-01-20")]
    ledger.close()


def test_without_any_deadline_nothing_is_late(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws", "单位代码,单位名称\nA,甲\nB,乙\n", deadline=None)
    collect(ws, ledger, [put(tmp_path, "a.xlsx", issue(ws, "A", name="甲"))],
            received_at="2024-06-01T10:00:00+08:00")
    report = unit_status(ledger, ws.config, datetime(2030, 1, 1, tzinfo=CHINA))
    assert [(u.code, u.state, u.timeliness, u.deadline) for u in report.units] == [
        ("A", "valid", "on_time", None), ("B", "missing", "pending", None)]
    ledger.close()


def test_file_from_an_unknown_unit_is_unattributed(tmp_path: Path) -> None:
    script = [*SCRIPT, ("2023-01-26T10:00:00+08:00",
                        [("不在名单.xlsx", "330599-999", None, 2022)])]
    NAMES["330599-999"] = "青溪区不在名单局"
    try:
        ws, ledger, sent = play(tmp_path, script)
    finally:
        del NAMES["330599-999"]
    expected = expected_january(sent)
    expected["totals"]["unattributed_files"] = 2
    expected["unattributed"].append({"submission": 11, "file": "不在名单.xlsx",
                                     "received_at": "2023-01-26T10:00:00+08:00",
                                     "status": "rejected", "reason": "UNIT_UNKNOWN",
                                     "unit": "330599-999"})
    assert unit_status(ledger, ws.config, AS_OF).to_dict() == expected
    ledger.close()


def test_timeliness_uses_the_earliest_received_file(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws", "单位代码,单位名称\nA,甲\n")
    late = put(tmp_path, "更正.xlsx", issue(ws, "A", name="甲"))
    early = put(tmp_path, "邮件补录.xlsx",
                issue(ws, "A", complete_values(t2__licensing=-1), name="甲"))
    collect(ws, ledger, [late], received_at="2023-01-25T10:00:00+08:00")
    collect(ws, ledger, [early], received_at="2023-01-18T10:00:00+08:00")  # back-filled
    (a,) = unit_status(ledger, ws.config, AS_OF).units
    assert (a.state, a.first_received_at, a.timeliness) == (
        "valid", "2023-01-18T10:00:00+08:00", "on_time")
    ledger.close()

