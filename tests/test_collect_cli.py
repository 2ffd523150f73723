"""The collection commands through the CLI: init, distribute, collect (exit codes, --json),
status --csv, revalidate --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from nianbao.cli import app
from nianbao.collect.ledger import Ledger
from nianbao.collect.roster import load_roster
from nianbao.collect.workspace import CONFIG_NAME, open_workspace
from tests.collect_helpers import (
    NAMES,
    ROSTER_CSV,
    complete_values,
    issue,
    put,
    rows,
    write_roster,
)

SUFFIX = "-2022年政府信息公开工作年度报告.xlsx"
ITEM_KEYS = {"path", "outcome", "submission", "status", "unit", "reason", "errors", "warnings",
             "first", "warning_groups"}


def run(*args: str) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture
def ws_dir(tmp_path: Path) -> Path:
    roster = write_roster(tmp_path / "input")
    folder = tmp_path / "2022年报"
    result = run("init", folder, "--year", "2022", "--office", "青溪区人民政府办公室",
                 "--deadline", "2023-01-20", "--roster", roster)
    assert result.exit_code == 0, result.output
    return folder


# -- init ------------------------------------------------------------------------------------

def test_init_makes_a_workspace(ws_dir: Path) -> None:
    ws = open_workspace(ws_dir)
    assert (ws.config.year, ws.config.office, ws.config.deadline.isoformat(), ws.config.roster,
            ws.config.block_unexplained_warnings) == (
        2022, "青溪区人民政府办公室", "2023-01-20", "roster.csv", False)
    assert ws.roster_path.read_text(encoding="utf-8") == ROSTER_CSV
    assert len(ws.key) == 32
    assert (ws_dir / ".nianbao" / "secret.key").stat().st_mode & 0o077 == 0
    for sub in ("store", "outbox", "feedback", "inbox"):
        assert (ws_dir / sub).is_dir()
    with Ledger(ws.ledger_path) as ledger:
        assert list(ledger.rows()) == [] and ledger.counts() == {}


def test_init_refuses_an_existing_workspace(ws_dir: Path) -> None:
    key = (ws_dir / ".nianbao" / "secret.key").read_bytes()
    config = (ws_dir / CONFIG_NAME).read_bytes()
    result = run("init", ws_dir, "--year", "2023")
    assert result.exit_code == 2
    assert f"{ws_dir / CONFIG_NAME} 已存在：这里已经是一个收集工作区" in result.output
    assert (ws_dir / ".nianbao" / "secret.key").read_bytes() == key
    assert (ws_dir / CONFIG_NAME).read_bytes() == config


def test_init_with_a_bad_roster_lists_every_row_problem(tmp_path: Path) -> None:
    roster = write_roster(tmp_path / "input", "单位代码,单位名称,上级单位代码\n"
                          "330599,青溪区人民政府办公室,\n330599-002,,330599\n"
                          "330599-002,青溪区教育局,330598\n")
    folder = tmp_path / "ws"
    result = run("init", folder, "--year", "2022", "--roster", roster)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for problem in ("第 3 行：单位名称为空（单位代码 330599-002）",
                    "第 4 行：单位代码“330599-002”重复（第 3 行已有）"):
        assert problem in result.output
    assert f"名单 {roster} 有 2 处问题" in result.output
    assert not (folder / CONFIG_NAME).exists()
    assert not (folder / ".nianbao" / "secret.key").exists()


def test_init_with_a_bad_deadline(tmp_path: Path) -> None:
    result = run("init", tmp_path / "ws", "--deadline", "1月20日")
    assert result.exit_code == 2
    assert "截止日期“1月20日”应写作 2023-01-20 的形式" in result.output
    assert not (tmp_path / "ws").exists()


def test_commands_outside_a_workspace(tmp_path: Path) -> None:
    for args in (("status",), ("revalidate",), ("distribute",), ("collect", tmp_path)):
        result = run(*args, "-w", tmp_path)
        assert result.exit_code == 2, args
        assert "不是收集工作区" in result.output and "nianbao init" in result.output


# -- distribute ------------------------------------------------------------------------------

def outbox_files(ws_dir: Path) -> list[str]:
    return sorted(p.name for p in (ws_dir / "outbox").glob("*.xlsx"))


def test_distribute_to_everyone(ws_dir: Path) -> None:
    result = run("distribute", "-w", ws_dir)
    assert result.exit_code == 0, result.output
    assert "已为 5 个单位生成模板" in result.output
    assert outbox_files(ws_dir) == sorted(n + SUFFIX for n in NAMES.values())
    manifest = json.loads((ws_dir / "outbox" / "manifest.json").read_text(encoding="utf-8"))
    assert [f["unit_code"] for f in manifest["files"]] == list(NAMES)


def test_distribute_to_some_units(ws_dir: Path, tmp_path: Path) -> None:
    result = run("distribute", "-w", ws_dir, "--unit", "330599-003", "--unit", "330599-101")
    assert result.exit_code == 0, result.output
    assert outbox_files(ws_dir) == sorted(
        [NAMES["330599-003"] + SUFFIX, NAMES["330599-101"] + SUFFIX])
    out = tmp_path / "只发街道"
    result = run("distribute", "-w", ws_dir, "--under", "330599-101", "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.csv", "manifest.json", NAMES["330599-101"] + SUFFIX]
    out = tmp_path / "全部"
    result = run("distribute", "-w", ws_dir, "--under", "330599", "--out", out)
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.xlsx"))) == 5


def test_distribute_to_an_unknown_unit(ws_dir: Path) -> None:
    result = run("distribute", "-w", ws_dir, "--unit", "330599-002", "--unit", "330599-999",
                 "--unit", "330599-998")
    assert result.exit_code == 2
    assert "名单中没有这些单位代码：330599-998、330599-999" in result.output
    assert outbox_files(ws_dir) == []


def test_distribute_under_an_unknown_unit(ws_dir: Path) -> None:
    assert run("distribute", "-w", ws_dir).exit_code == 0
    manifest = (ws_dir / "outbox" / "manifest.json").read_bytes()
    result = run("distribute", "-w", ws_dir, "--under", "330599-999")
    assert result.exit_code == 2
    assert "330599-999" in result.output
    assert (ws_dir / "outbox" / "manifest.json").read_bytes() == manifest


# -- collect ---------------------------------------------------------------------------------

def returns(ws_dir: Path, folder: Path, **files: tuple[str, dict | None, int]) -> list[Path]:
    ws = open_workspace(ws_dir)
    return [put(folder, f"{name}.xlsx", issue(ws, code, complete_values(**(changes or {})),
                                              year=year))
            for name, (code, changes, year) in files.items()]


def collect_json(ws_dir: Path, *paths: Path, at: str = "2023-01-15T10:00") -> tuple[int, dict]:
    result = run("collect", *paths, "-w", ws_dir, "-j", "1", "--json", "--received-at", at)
    return result.exit_code, json.loads(result.stdout)


def test_collect_exit_codes(ws_dir: Path, tmp_path: Path) -> None:
    good = returns(ws_dir, tmp_path / "a", 发改=("330599-002", None, 2022),
                   教育=("330599-003", None, 2022))
    code, report = collect_json(ws_dir, *good)
    assert (code, report["statuses"]) == (0, {"valid": 2})

    invalid = returns(ws_dir, tmp_path / "b", 民政=("330599-007", {"t2__licensing": -1}, 2022),
                      街道=("330599-101", None, 2022))
    code, report = collect_json(ws_dir, *invalid)
    assert (code, report["statuses"]) == (1, {"invalid": 1, "valid": 1})

    rejected = returns(ws_dir, tmp_path / "c", 政府办=("330599", None, 2021),
                       民政2=("330599-007", {"t2__penalty": -1}, 2022))
    code, report = collect_json(ws_dir, *rejected)
    assert (code, report["statuses"]) == (2, {"rejected": 1, "invalid": 1})

    code, report = collect_json(ws_dir, tmp_path / "a", tmp_path / "b")  # all seen before
    assert (code, report["outcomes"], report["statuses"]) == (0, {"duplicate": 4}, {})

    # a mistyped path is a usage error before any batch is opened: nothing is recorded
    result = run("collect", "-w", str(ws_dir), str(tmp_path / "nope.xlsx"), "--json")
    assert result.exit_code == 2 and "找不到 " in result.output
    with Ledger(ws_dir / "ledger.sqlite") as ledger:
        assert ledger.counts() == {"stored": 5, "rejected": 1, "duplicate": 4}


def test_collect_json_schema(ws_dir: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    valid, _, _ = returns(ws_dir, inbox, a=("330599-002", None, 2022),
                                  b=("330599-003", {"t3__new__natural_person": 11}, 2022),
                                  c=("330599-007", None, 2021))
    put(inbox / "sub", "a-副本.xlsx", valid.read_bytes())
    code, report = collect_json(ws_dir, inbox)
    assert code == 2
    assert set(report) == {"run", "files", "outcomes", "statuses", "items", "skipped",
                           "conflicts", "interrupted"}
    assert (report["skipped"], report["conflicts"], report["interrupted"]) == ([], [], [])
    assert (report["run"], report["files"]) == (1, 4)
    assert report["outcomes"] == {"stored": 2, "rejected": 1, "duplicate": 1}
    assert report["statuses"] == {"valid": 1, "invalid": 1, "rejected": 1}
    items = {Path(it["path"]).name: it for it in report["items"]}
    assert set(items) == {"a.xlsx", "b.xlsx", "c.xlsx", "a-副本.xlsx"}
    assert set(items["a.xlsx"]) == ITEM_KEYS | {"receipt"}
    assert set(items["b.xlsx"]) == ITEM_KEYS | {"receipt", "feedback"}
    assert set(items["c.xlsx"]) == ITEM_KEYS | {"receipt"}
    # a copy in the same batch: the receipt is the stored submission's, not the copy's
    assert set(items["a-副本.xlsx"]) == ITEM_KEYS | {"finding"}
    assert {n: (it["outcome"], it["status"], it["unit"], it["reason"], it["errors"],
                it["submission"]) for n, it in items.items()} == {
        "a.xlsx": ("stored", "valid", "330599-002", None, 0, 1),
        "b.xlsx": ("stored", "invalid", "330599-003", None, 1, 2),  # one slip: R1 of 总计 follows
        "c.xlsx": ("rejected", "rejected", "330599-007", "YEAR_MISMATCH", 1, 3),
        "a-副本.xlsx": ("duplicate", None, "330599-002", "DUPLICATE_FILE", 0, 1),
    }
    assert Path(items["b.xlsx"]["feedback"]).is_file()
    with Ledger(ws_dir / "ledger.sqlite") as ledger:
        assert {r.received_at for r in ledger.rows()} == {"2023-01-15T10:00:00+08:00"}


def test_collect_table_and_no_feedback(ws_dir: Path, tmp_path: Path) -> None:
    (bad,) = returns(ws_dir, tmp_path, 教育局年报=("330599-003", {"t2__licensing": -1}, 2022))
    result = run("collect", bad, "-w", ws_dir, "--no-feedback")
    assert result.exit_code == 1, result.output
    assert "教育局年报.xlsx" in result.output and "有错误" in result.output
    assert "共 1 个文件：新入账 1 个，未受理 0 个，重复 0 个。" in result.output
    assert list((ws_dir / "feedback").rglob("*.*")) == []


def test_collect_with_a_bad_time(ws_dir: Path, tmp_path: Path) -> None:
    result = run("collect", tmp_path, "-w", ws_dir, "--received-at", "上周五")
    assert result.exit_code == 2
    assert "时间“上周五”应写作 2023-01-15 或 2023-01-15T10:00 的形式" in result.output
    with Ledger(ws_dir / "ledger.sqlite") as ledger:
        assert ledger.counts() == {}


# -- status and revalidate -------------------------------------------------------------------

def test_status_csv(ws_dir: Path, tmp_path: Path) -> None:
    paths = returns(ws_dir, tmp_path / "in", a=("330599-002", None, 2022),
                    b=("330599-003", {"t2__licensing": -1}, 2022))
    assert collect_json(ws_dir, *paths)[0] == 1
    out = tmp_path / "催报名单.csv"
    result = run("status", "-w", ws_dir, "--csv", out, "--as-of", "2023-01-25")
    assert result.exit_code == 0, result.output
    assert f"催报名单已导出：{out}" in result.output
    assert out.read_text(encoding="utf-8-sig").splitlines() == [
        "单位代码,单位名称,上级单位,联系人,状态,时限,截止日期,原因,填报人,联系电话,审核人,填报日期",
        "330599,青溪区人民政府办公室,,办公室 张敏 0572-1000001,未报送,已逾期未报送,2023-01-20,"
        "尚未报送,,,,",
        "330599-003,青溪区教育局,330599,办公室 李明 0572-1000003,有错误,按时,2023-01-20,"
        "负数（主动公开!B10）,,,,",
        "330599-007,青溪区民政局,330599,办公室 王强 0572-1000007,未报送,已逾期未报送,2023-01-20,"
        "尚未报送,,,,",
        "330599-101,青溪区城关街道办事处,330599,党政办 吴芳 0572-1000101,未报送,已逾期未报送,"
        "2023-01-13,尚未报送,,,,",
    ]


def test_revalidate_json(ws_dir: Path, tmp_path: Path) -> None:
    blank = {"t3__granted__business": None, "t3__new__business": 0}
    paths = returns(ws_dir, tmp_path / "in", a=("330599-002", None, 2022),
                    b=("330599-003", blank, 2022))
    assert collect_json(ws_dir, *paths)[0] == 0
    result = run("revalidate", "-w", ws_dir, "--json", "-j", "1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"run": 2, "checked": 2, "reread": 0, "changed": 0,
                                         "changes": []}

    config = ws_dir / CONFIG_NAME
    text = config.read_text(encoding="utf-8")
    assert "block_unexplained_warnings = false" in text
    config.write_text(text.replace("block_unexplained_warnings = false",
                                   "block_unexplained_warnings = true"), encoding="utf-8")
    result = run("revalidate", "-w", ws_dir, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"run": 3, "checked": 2, "reread": 0, "changed": 1,
                                         "changes": [
        {"submission": 2, "file": "b.xlsx", "unit": "330599-003", "status_before": "valid",
         "status_after": "invalid", "added": [], "removed": [], "values_changed": False}]}
    result = run("revalidate", "-w", ws_dir)
    assert result.exit_code == 0, result.output
    assert "重新校验 2 份提交（其中重新读取文件 0 份），结论有变化的 0 份。" in result.output
    with Ledger(ws_dir / "ledger.sqlite") as ledger:
        assert rows(ledger) == [("a.xlsx", "valid", None, "330599-002", 2022),
                                ("b.xlsx", "invalid", None, "330599-003", 2022)]
        assert [len(ledger.history(r.id)) for r in ledger.rows()] == [1, 2]
        assert [u.code for u in ledger.units()] == [u.code for u in load_roster(
            ws_dir / "roster.csv")]
