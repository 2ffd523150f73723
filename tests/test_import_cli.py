"""`nianbao import` of a folder at once (summary, exit codes as `check`), and published
reports compared with what the units submitted (`--workspace`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nianbao.collect.ledger import Ledger
from nianbao.testing.documents import balanced_values, pasted
from tests import test_publish_cli
from tests.collect_helpers import NAMES, make_workspace, put
from tests.test_merge import with_totals
from tests.test_publish_cli import (
    DRC,
    EDU,
    FORM,
    V_DRC,
    V_EDU,
    Collected,
    published,
    r7_broken,
    run,
)

collected = test_publish_cli.collected   # the module's workspace with collected returns


def import_json(*args: Any) -> tuple[int, dict[str, Any]]:
    result = run("import", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "已发布"
    put(folder, "发改局.docx", published(with_totals(V_DRC)))
    put(folder, "教育局.html", published(r7_broken(), name=NAMES[EDU], fmt="html"))
    text = pasted(FORM, balanced_values(FORM, 31), "spaces",
                  lambda s: "8.其它情形" if s == "8.属于行政查询事项" else s)
    put(folder / "粘贴", "民政局.txt", text)
    put(folder, "扫描.pdf", b"%PDF-1.4\n% not really a PDF\n")
    put(folder, "封面.png", b"\x89PNG\r\n\x1a\n")        # not a report: left alone
    return folder


def test_import_of_a_folder_summarises_and_exits_as_check(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    code, out = import_json(folder)
    assert code == 2
    outcomes = {Path(f["file"]).name: f["outcome"] for f in out["files"]}
    assert outcomes == {"发改局.docx": "read", "教育局.html": "read", "民政局.txt": "unread",
                        "扫描.pdf": "failed"}
    assert out["summary"] == {"files": 4, "read": 2, "unread": 1, "failed": 1, "differing": 0,
                              "exit_code": 2}
    result = run("import", folder)
    assert result.exit_code == 2
    assert "共 4 份：完整读出 2 份，有未读出的行 1 份，无法读取 1 份。" in result.output
    assert "有未读出的行" in result.output and "8.其它情形" in result.output
    # without the unreadable file: the worst is the R7 error of 教育局
    (folder / "扫描.pdf").unlink()
    assert import_json(folder)[0] == 1
    empty = tmp_path / "空"
    empty.mkdir()
    code, out = import_json(empty)
    assert code == 2 and out["files"][0]["outcome"] == "failed"
    assert "文件夹中没有" in out["files"][0]["findings"][0]["message"]


def test_published_against_submitted(collected: Collected, tmp_path: Path) -> None:
    """发改局 published another 行政许可 than it reported (40, reported 38) and left a
    cell blank; 教育局 published what it reported; 民政局 submitted nothing."""
    drc = with_totals(V_DRC)
    drc.update({"t2.licensing": 40, "t2.penalty": None})
    folder = tmp_path / "已发布"
    put(folder, "发改局.docx", published(drc))
    put(folder, "教育局.docx", published(with_totals(V_EDU), name=NAMES[EDU]))
    put(folder, "民政局.docx", published(with_totals(V_EDU), name="青溪区民政局"))
    put(folder, "某局.docx", published(with_totals(V_EDU), name="某某局"))
    code, out = import_json(folder, "-w", collected.ws_dir)
    by_name = {Path(f["file"]).name: f for f in out["files"]}
    diffs = by_name["发改局.docx"]["comparison"]["differences"]
    assert [(d["field"], d["published"], d["submitted"]) for d in diffs] == [
        ("t2.licensing", "40", "38"), ("t2.penalty", "", "23")]
    found = [f for f in by_name["发改局.docx"]["findings"] if f["code"] == "PUBLISHED_DIFFERS"]
    assert [f["field"] for f in found] == ["t2.licensing", "t2.penalty"]
    assert "公布为 40" in found[0]["message"] and "为 38" in found[0]["message"]
    assert "公布为 空白" in found[1]["message"]
    assert by_name["教育局.docx"]["comparison"]["differences"] == []
    assert by_name["教育局.docx"]["comparison"]["unit_code"] == EDU
    assert [f["code"] for f in by_name["民政局.docx"]["findings"]] == ["PUBLISHED_NOT_SUBMITTED"]
    assert [f["code"] for f in by_name["某局.docx"]["findings"]] == ["PUBLISHED_UNIT_UNKNOWN"]
    assert out["summary"]["differing"] == 1
    assert code == 0   # differences are warnings: the published reports themselves balance
    text = run("import", folder, "-w", collected.ws_dir).output
    assert "与报送数据不一致的 1 份" in text


def test_unit_and_year_given_when_the_title_has_none(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    ledger.close()
    data = published(with_totals(V_EDU), name="", year=2022)  # no unit name in the title
    path = put(tmp_path, "无名.docx", data)
    _, out = import_json(path)
    assert [f["field"] for f in out["files"][0]["findings"]
            if f["code"] == "IMPORT_IDENTITY_MISSING"] == ["unit.name"]
    _, out = import_json(path, "--unit", EDU, "-w", ws.root)
    (f,) = out["files"]
    assert f["identity"]["unit.code"] == EDU and f["comparison"]["unit_code"] == EDU
    assert [x["code"] for x in f["findings"]] == ["IMPORT_IDENTITY_MISSING",
                                                  "PUBLISHED_NOT_SUBMITTED"]


def test_store_of_a_folder_keeps_what_it_can_attribute(tmp_path: Path) -> None:
    """One report names no unit of the roster: refused with its reason, the others stored."""
    ws, ledger = make_workspace(tmp_path / "ws")
    ledger.close()
    folder = tmp_path / "往年"
    put(folder, "教育局.docx", published(with_totals(V_EDU), name=NAMES[EDU], year=2021))
    put(folder, "发改局.html", published(with_totals(V_DRC), year=2021, fmt="html"))
    put(folder, "某局.docx", published(with_totals(V_EDU), name="某某局", year=2021))
    result = run("import", folder, "--store", "-w", ws.root)
    assert result.exit_code == 2
    assert "某局.docx：请用 --unit 指定名单中的单位代码" in result.output
    assert "已存入台账 2 份（重复 0 份）。" in result.output
    with Ledger(ws.ledger_path) as ledger:
        assert sorted(r.verdict.unit_code for r in ledger.rows()) == [DRC, EDU]
