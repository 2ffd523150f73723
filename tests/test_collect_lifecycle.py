"""A submission's life in the ledger: received, judged, kept; superseded, duplicated, refused;
re-judged when the rules change. Each case asserts the exact ledger state it leaves."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from datetime import datetime
from pathlib import Path

import pytest

from nianbao.collect.distribute import distribute, issue_options
from nianbao.collect.intake import collect
from nianbao.collect.judging import CHINA
from nianbao.collect.ledger import EncodedVerdict, Ledger, Verdict, open_ledger
from nianbao.collect.revalidate import revalidate
from nianbao.collect.roster import load_roster
from nianbao.collect.status import unit_status
from nianbao.collect.workspace import CONFIG_NAME, Workspace, config_text, open_workspace
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import META_KEYS
from nianbao.testing.libreoffice import Edit, LibreOffice
from tests.badfiles import EXPECTED as BAD_EXPECTED
from tests.badfiles import build_corpus
from tests.collect_helpers import (
    LAYOUT,
    NAMES,
    RECEIVED,
    ROSTER_CSV,
    complete_values,
    copy_workspace,
    identity,
    issue,
    ledger_state,
    lo_fill,
    make_workspace,
    put,
    rows,
    sha,
    sightings,
    unsigned,
)

AS_OF = datetime(2023, 1, 31, tzinfo=CHINA)


@pytest.fixture
def wsl(tmp_path: Path, ledger_backend: str):
    ws, ledger = make_workspace(tmp_path / "ws")
    yield ws, ledger
    ledger.close()


def history(ledger: Ledger, unit: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Per unit: each submission's file with the (status, reason) of every verdict on it."""
    return [(r.file_name, [(h["status"], h["reason"]) for h in ledger.history(r.id)])
            for r in ledger.rows(unit_code=unit)]


def finding_codes(ledger: Ledger) -> list[list[str]]:
    return [[f["code"] for f in r.verdict.findings] for r in ledger.rows()]


def state_of(ledger: Ledger, ws: Workspace, code: str) -> dict:
    report = unit_status(ledger, ws.config, AS_OF).to_dict()
    return next(u for u in report["units"] if u["code"] == code)


# -- accepted ----------------------------------------------------------------------------------

def test_first_submission_is_valid(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    data = issue(ws, "330599-002")
    path = put(tmp_path / "inbox", "发改局年报.xlsx", data)
    report = collect(ws, ledger, [path], received_at=RECEIVED)
    assert (report.files, report.outcomes, report.statuses) == (1, {"stored": 1}, {"valid": 1})
    receipt = (ws.feedback_dir / "330599-002-青溪区发展和改革局"
               / f"青溪区发展和改革局-回执-{sha(data)[:8]}.txt")
    assert report.items == [{"path": str(path), "outcome": "stored", "submission": 1,
                             "status": "valid", "unit": "330599-002", "reason": None,
                             "errors": 0, "warnings": 0, "first": "", "warning_groups": 0,
                             "receipt": str(receipt)}]
    assert rows(ledger) == [("发改局年报.xlsx", "valid", None, "330599-002", 2022)]
    assert ledger.counts() == {"stored": 1}
    assert history(ledger, "330599-002") == [("发改局年报.xlsx", [("valid", None)])]
    (row,) = ledger.rows()
    assert (row.sha256, row.size, row.kind, row.source_path, row.received_at) == (
        sha(data), len(data), "workbook", str(path), RECEIVED)
    assert row.verdict.findings == [] and row.verdict.signature == "ok"
    assert row.verdict.record["identity"] == identity("330599-002")
    assert row.verdict.record["values"]["t3.new.total"] == 12
    assert (ws.store_dir / row.stored).read_bytes() == data
    assert sightings(ledger) == [(str(path), sha(data), "stored")]
    assert state_of(ledger, ws, "330599-002")["state"] == "valid"


def test_resubmission_supersedes_and_both_are_kept(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    first = put(tmp_path / "inbox", "v1.xlsx", issue(ws, "330599-002"))
    second = put(tmp_path / "inbox", "v2.xlsx",
                 issue(ws, "330599-002", complete_values(t2__licensing=121)))
    collect(ws, ledger, [first], received_at="2023-01-10T09:00:00+08:00")
    report = collect(ws, ledger, [second], received_at="2023-01-12T09:00:00+08:00")
    assert (report.outcomes, report.statuses) == ({"stored": 1}, {"valid": 1})
    assert rows(ledger) == [("v1.xlsx", "valid", None, "330599-002", 2022),
                            ("v2.xlsx", "valid", None, "330599-002", 2022)]
    assert ledger.counts() == {"stored": 2}
    assert history(ledger, "330599-002") == [("v1.xlsx", [("valid", None)]),
                                             ("v2.xlsx", [("valid", None)])]
    assert [r.verdict.record["values"]["t2.licensing"] for r in ledger.rows()] == [120, 121]
    unit = state_of(ledger, ws, "330599-002")
    assert (unit["state"], unit["submissions"], unit["counting"]["submission"],
            unit["counting"]["file"], unit["first_received_at"], unit["newer_invalid"]) == (
        "valid", 2, 2, "v2.xlsx", "2023-01-10T09:00:00+08:00", False)
    assert len(list(ws.store_dir.rglob("*/*"))) == 2


def test_identical_resubmission_is_a_duplicate(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    data = issue(ws, "330599-002")
    first = put(tmp_path / "inbox", "年报.xlsx", data)
    again = put(tmp_path / "mail" / "转发", "年报（再次发送）.xlsx", data)
    collect(ws, ledger, [first], received_at="2023-01-10T09:00:00+08:00")
    feedback_before = sorted(ws.feedback_dir.rglob("*"))
    report = collect(ws, ledger, [again], received_at="2023-01-25T09:00:00+08:00")
    assert (report.files, report.outcomes, report.statuses) == (1, {"duplicate": 1}, {})
    assert report.items == [{
        "path": str(again), "outcome": "duplicate", "submission": 1, "status": None,
        "unit": "330599-002", "reason": "DUPLICATE_FILE", "errors": 0, "warnings": 0,
        "first": "", "warning_groups": 0,
        "finding": {
            "code": "DUPLICATE_FILE", "severity": "info", "file": str(again), "sheet": None,
            "cell": None, "field": None, "rule": None,
            "values": {"submission": 1, "received_at": "2023-01-10T09:00:00+08:00",
                       "latest": None, "latest_received_at": None},
            "message": "与 2023-01-10T09:00:00+08:00 收到的第 1 号提交完全相同，不重复入账"}}]
    assert rows(ledger) == [("年报.xlsx", "valid", None, "330599-002", 2022)]
    assert ledger.counts() == {"stored": 1, "duplicate": 1}
    assert history(ledger, "330599-002") == [("年报.xlsx", [("valid", None)])]
    assert sightings(ledger) == [(str(first), sha(data), "stored"),
                                 (str(again), sha(data), "duplicate")]
    assert sorted(ws.feedback_dir.rglob("*")) == feedback_before
    assert len(list(ws.store_dir.rglob("*/*"))) == 1
    unit = state_of(ledger, ws, "330599-002")
    assert (unit["submissions"], unit["timeliness"]) == (1, "on_time")


def test_old_file_sent_again_is_a_replay(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    old = issue(ws, "330599-002", complete_values(t2__penalty=-1))
    new = issue(ws, "330599-002")
    collect(ws, ledger, [put(tmp_path, "旧.xlsx", old)], received_at="2023-01-10T09:00:00+08:00")
    collect(ws, ledger, [put(tmp_path, "新.xlsx", new)], received_at="2023-01-12T09:00:00+08:00")
    replay = put(tmp_path / "again", "旧.xlsx", old)
    report = collect(ws, ledger, [replay], received_at="2023-01-25T09:00:00+08:00")
    assert (report.outcomes, report.statuses) == ({"duplicate": 1}, {})
    (item,) = report.items
    assert (item["submission"], item["unit"], item["reason"], item["finding"]["severity"],
            item["finding"]["values"]) == (
        1, "330599-002", "REPLAYED_FILE", "warning",
        {"submission": 1, "received_at": "2023-01-10T09:00:00+08:00", "latest": 2,
         "latest_received_at": "2023-01-12T09:00:00+08:00"})
    assert rows(ledger) == [("旧.xlsx", "invalid", None, "330599-002", 2022),
                            ("新.xlsx", "valid", None, "330599-002", 2022)]
    assert ledger.counts() == {"stored": 2, "duplicate": 1}
    unit = state_of(ledger, ws, "330599-002")
    assert (unit["state"], unit["counting"]["submission"], unit["newer_invalid"]) == (
        "valid", 2, False)


def test_invalid_submission_is_stored_with_its_findings(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    path = put(tmp_path, "r1.xlsx", issue(ws, "330599-003", complete_values(
        t3__new__natural_person=11, t2__licensing=-3)))
    report = collect(ws, ledger, [path], received_at=RECEIVED)
    assert (report.outcomes, report.statuses) == ({"stored": 1}, {"invalid": 1})
    # two mistakes: R1 of the 总计 column follows from the 自然人 one (linked, not counted)
    assert (report.items[0]["errors"], report.items[0]["warnings"]) == (2, 0)
    assert report.items[0]["first"] == "负数（主动公开!B10）等 2 处"
    assert rows(ledger) == [("r1.xlsx", "invalid", None, "330599-003", 2022)]
    assert finding_codes(ledger) == [["VALUE_NEGATIVE", "UNBALANCED", "UNBALANCED"]]
    assert [(f["cell"], f["rule"]) for f in next(ledger.rows()).verdict.findings] == [
        ("B10", "R8"), ("D7", "R1"), ("J7", "R1")]
    assert ledger.counts() == {"stored": 1}
    assert history(ledger, "330599-003") == [("r1.xlsx", [("invalid", None)])]


# -- refused ---------------------------------------------------------------------------------

def refused(ws: Workspace, ledger: Ledger, path: Path) -> dict:
    """Collect one file that must be refused; return its report item."""
    report = collect(ws, ledger, [path], received_at=RECEIVED)
    assert (report.files, report.outcomes, report.statuses) == (
        1, {"rejected": 1}, {"rejected": 1})
    assert ledger.counts() == {"rejected": 1}
    (item,) = report.items
    assert "feedback" not in item
    return item


def test_unknown_unit(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    data = issue(ws, "330599-999", name="青溪区不存在局")
    item = refused(ws, ledger, put(tmp_path, "unknown.xlsx", data))
    assert (item["status"], item["unit"], item["reason"]) == ("rejected", "330599-999",
                                                              "UNIT_UNKNOWN")
    assert rows(ledger) == [("unknown.xlsx", "rejected", "UNIT_UNKNOWN", "330599-999", 2022)]
    assert finding_codes(ledger) == [["UNIT_UNKNOWN"]]
    assert "330599-999" in next(ledger.rows()).verdict.findings[0]["message"]
    assert Path(item["receipt"]).parent == ws.feedback_dir / "未受理"
    assert history(ledger, "330599-999") == [("unknown.xlsx", [("rejected", "UNIT_UNKNOWN")])]


def test_wrong_year(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    item = refused(ws, ledger, put(tmp_path, "2021.xlsx", issue(ws, "330599-002", year=2021)))
    assert (item["unit"], item["reason"]) == ("330599-002", "YEAR_MISMATCH")
    assert rows(ledger) == [("2021.xlsx", "rejected", "YEAR_MISMATCH", "330599-002", 2021)]
    assert finding_codes(ledger) == [["YEAR_MISMATCH"]]
    assert next(ledger.rows()).verdict.findings[0]["message"] == (
        "报告年度为 2021，本次收集的是 2022 年度的报告，请使用本年度下发的模板")
    assert history(ledger, "330599-002") == [("2021.xlsx", [("rejected", "YEAR_MISMATCH")])]
    assert rows(ledger, year=2022) == []


def test_another_offices_template(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    other, other_ledger = make_workspace(tmp_path / "city", office="青溪市政务公开办")
    other_ledger.close()
    data = issue(other, "330599-002")
    item = refused(ws, ledger, put(tmp_path, "市里的模板.xlsx", data))
    assert (item["unit"], item["reason"]) == ("330599-002", "SIGNED_BY_OTHER_OFFICE")
    assert rows(ledger) == [
        ("市里的模板.xlsx", "rejected", "SIGNED_BY_OTHER_OFFICE", "330599-002", 2022)]
    (row,) = ledger.rows()
    assert row.verdict.signature == "other-office"
    assert [f["code"] for f in row.verdict.findings] == ["SIGNED_BY_OTHER_OFFICE"]
    assert row.verdict.findings[0]["message"] == (
        "这是「青溪市政务公开办」下发的模板，不是「青溪区人民政府办公室」下发的，"
        "请使用本办下发给贵单位的模板重新填报")


def test_edited_cover_name(wsl, tmp_path: Path) -> None:
    """The cover says another name than the one signed into _meta."""
    ws, ledger = wsl
    opts = issue_options(LAYOUT, identity("330599-002", "青溪区发改局（改）"), ws.key,
                         ws.config.office, values=complete_values(),
                         meta={"unit_name": NAMES["330599-002"]})
    item = refused(ws, ledger, put(tmp_path, "改名.xlsx", render(LAYOUT, opts)))
    assert (item["unit"], item["reason"]) == ("330599-002", "IDENTITY_EDITED")
    assert rows(ledger) == [("改名.xlsx", "rejected", "IDENTITY_EDITED", "330599-002", 2022)]
    (row,) = ledger.rows()
    assert row.verdict.signature == "ok"
    (finding,) = row.verdict.findings
    assert (finding["code"], finding["sheet"], finding["cell"], finding["values"]) == (
        "IDENTITY_EDITED", "封面", "B4",
        {"found": "青溪区发改局（改）", "expected": "青溪区发展和改革局"})
    assert row.verdict.record["identity"]["unit.name"] == "青溪区发展和改革局"


def test_edited_meta_unit_code(wsl, tmp_path: Path) -> None:
    """_meta claims another unit than the one the signature was made for."""
    ws, ledger = wsl
    signed = issue_options(LAYOUT, identity("330599-002"), ws.key, ws.config.office)
    forged = RenderOptions(identity=identity("330599-002"), lock_identity=True,
                           values=complete_values(),
                           meta={**signed.meta, "unit_code": "330599-003"})
    item = refused(ws, ledger, put(tmp_path, "forged.xlsx", render(LAYOUT, forged)))
    assert (item["unit"], item["reason"]) == ("330599-003", "SIGNATURE_INVALID")
    assert rows(ledger) == [("forged.xlsx", "rejected", "SIGNATURE_INVALID", "330599-003", 2022)]
    (row,) = ledger.rows()
    assert row.verdict.signature == "forged"
    assert [(f["code"], f["cell"]) for f in row.verdict.findings] == [
        ("IDENTITY_EDITED", "B5"), ("SIGNATURE_INVALID", None)]


@pytest.mark.parametrize(("name", "make", "reason"), [
    ("truncated.xlsx", lambda good: good[: len(good) // 2], "FILE_CORRUPT"),
    ("表格.xlsx", lambda good: "单位,件数\r\n青溪区教育局,3\r\n".encode("gb18030"), "FILE_CSV"),
])
def test_corrupt_file_and_renamed_csv(wsl, tmp_path: Path, name: str, make, reason: str) -> None:
    ws, ledger = wsl
    data = make(issue(ws, "330599-002"))
    item = refused(ws, ledger, put(tmp_path, name, data))
    assert (item["unit"], item["reason"], item["errors"]) == (None, reason, 1)
    assert rows(ledger) == [(name, "rejected", reason, None, None)]
    assert finding_codes(ledger) == [[reason]]
    (row,) = ledger.rows()
    assert (row.sha256, ws.store_dir.joinpath(row.stored).read_bytes()) == (sha(data), data)
    assert Path(item["receipt"]) == (ws.feedback_dir / "未受理"
                                     / f"{Path(name).stem}-回执-{sha(data)[:8]}.txt")


def test_unsigned_blank_template(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    item = refused(ws, ledger, put(tmp_path, "blank.xlsx", render(LAYOUT)))
    assert (item["unit"], item["reason"]) == (None, "SIGNATURE_MISSING")
    assert rows(ledger) == [("blank.xlsx", "rejected", "SIGNATURE_MISSING", None, None)]
    assert next(ledger.rows()).verdict.signature == "unsigned"


def test_unsigned_template_filled_in_for_a_roster_unit(wsl, tmp_path: Path) -> None:
    """A downloaded template on which the unit typed its own identity."""
    ws, ledger = wsl
    data = unsigned(complete_values(), **identity("330599-002"))
    item = refused(ws, ledger, put(tmp_path, "自行下载.xlsx", data))
    assert (item["unit"], item["reason"]) == ("330599-002", "SIGNATURE_MISSING")
    assert rows(ledger) == [("自行下载.xlsx", "rejected", "SIGNATURE_MISSING", "330599-002", 2022)]
    (row,) = ledger.rows()
    assert row.verdict.signature == "unsigned"
    assert [f["code"] for f in row.verdict.findings] == ["SIGNATURE_MISSING"]


def test_unreadable_paths(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    missing = tmp_path / "不存在.xlsx"
    folder = tmp_path / "inbox"
    folder.mkdir()
    dangling = folder / "链接.xlsx"
    os.symlink(tmp_path / "gone.xlsx", dangling)
    report = collect(ws, ledger, [missing, folder], received_at=RECEIVED)
    assert (report.files, report.outcomes, report.statuses) == (
        2, {"rejected": 2}, {"rejected": 2})
    assert report.items == [
        {"path": str(p), "outcome": "rejected", "submission": None, "status": "rejected",
         "unit": None, "reason": "FILE_MISSING", "errors": 1, "warnings": 0,
         "first": "文件不存在或无法打开", "warning_groups": 0}
        for p in (missing, dangling)]
    assert rows(ledger) == []
    assert ledger.counts() == {"rejected": 2}
    assert sightings(ledger) == [(str(missing), None, "rejected"),
                                 (str(dangling), None, "rejected")]
    assert list(ws.store_dir.rglob("*/*")) == []


# -- with LibreOffice: templates as distributed, filled and saved by a spreadsheet program ------

@pytest.fixture
def distributed(wsl):
    ws, ledger = wsl
    units = load_roster(ws.roster_path)
    issued = {i.unit.code: i.path for i in
              distribute(LAYOUT, units, 2022, ws.key, ws.config.office, ws.outbox)}
    return ws, ledger, issued


@pytest.mark.libreoffice
def test_first_submission_and_resubmission_filled_in_libreoffice(
        distributed, libreoffice: LibreOffice, tmp_path: Path) -> None:
    ws, ledger, issued = distributed
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first = lo_fill(libreoffice, issued["330599-002"], inbox / "发改局.xlsx", complete_values())
    report = collect(ws, ledger, [first], received_at="2023-01-10T09:00:00+08:00")
    assert (report.outcomes, report.statuses) == ({"stored": 1}, {"valid": 1})
    assert rows(ledger) == [("发改局.xlsx", "valid", None, "330599-002", 2022)]
    assert finding_codes(ledger) == [[]]
    assert next(ledger.rows()).verdict.record["values"]["t3.outcome_total.total"] == 11

    second = lo_fill(libreoffice, issued["330599-002"], inbox / "发改局（修改）.xlsx",
                     complete_values(t2__licensing=121, t3__new__business=3,
                                     t3__partial__business=1))
    again = put(inbox / "再发一次", "发改局.xlsx", second.read_bytes())
    report = collect(ws, ledger, [second, again], received_at="2023-01-25T09:00:00+08:00")
    assert (report.outcomes, report.statuses) == ({"stored": 1, "duplicate": 1}, {"valid": 1})
    assert rows(ledger) == [("发改局.xlsx", "valid", None, "330599-002", 2022),
                            ("发改局（修改）.xlsx", "valid", None, "330599-002", 2022)]
    assert finding_codes(ledger) == [[], []]
    assert ledger.counts() == {"stored": 2, "duplicate": 1}
    assert history(ledger, "330599-002") == [("发改局.xlsx", [("valid", None)]),
                                             ("发改局（修改）.xlsx", [("valid", None)])]
    unit = state_of(ledger, ws, "330599-002")
    assert (unit["state"], unit["timeliness"], unit["submissions"],
            unit["counting"]["file"], unit["counting"]["sha256"]) == (
        "valid", "on_time", 2, "发改局（修改）.xlsx", sha(second.read_bytes()))
    assert [r.verdict.record["values"]["t3.new.total"] for r in ledger.rows()] == [12, 13]


@pytest.mark.libreoffice
def test_identity_edited_in_libreoffice(distributed, libreoffice: LibreOffice,
                                        tmp_path: Path) -> None:
    ws, ledger, issued = distributed
    src = issued["330599-003"]
    values = complete_values()
    name_edited = tmp_path / "改了封面.xlsx"
    libreoffice.fill(src, name_edited, [
        *(Edit(LAYOUT.places[f].sheet, LAYOUT.places[f].a1, v) for f, v in values.items()),
        Edit("封面", "B4", "青溪区教育体育局")])
    meta_row = META_KEYS.index("unit_code") + 1
    meta_edited = tmp_path / "改了下发信息.xlsx"
    libreoffice.fill(src, meta_edited, [
        *(Edit(LAYOUT.places[f].sheet, LAYOUT.places[f].a1, v) for f, v in values.items()),
        Edit("_meta", f"B{meta_row}", "330599-007"), Edit("封面", "B5", "330599-007")])
    report = collect(ws, ledger, [name_edited, meta_edited], received_at=RECEIVED)
    assert (report.outcomes, report.statuses) == ({"rejected": 2}, {"rejected": 2})
    assert rows(ledger) == [
        ("改了封面.xlsx", "rejected", "IDENTITY_EDITED", "330599-003", 2022),
        ("改了下发信息.xlsx", "rejected", "SIGNATURE_INVALID", "330599-007", 2022)]
    assert finding_codes(ledger) == [["IDENTITY_EDITED"], ["SIGNATURE_INVALID"]]


# -- nothing unaccounted for ---------------------------------------------------------------------

def mixed_inbox(ws: Workspace, folder: Path, other: Workspace) -> dict[str, Path]:
    good = issue(ws, "330599-002")
    bad = issue(ws, "330599-003", complete_values(t3__new__natural_person=11))
    files = {
        "good": put(folder, "a_发改局.xlsx", good),
        "invalid": put(folder, "b_教育局.xlsx", bad),
        "warned": put(folder, "c_民政局.xlsx",
                      issue(ws, "330599-007", complete_values(t3__granted__business=None,
                                                             t3__new__business=0))),
        "good copy": put(folder / "邮件" / "转发" / "再次", "发改局-副本.xlsx", good),
        "invalid copy": put(folder / "邮件", "教育局(1).xlsx", bad),
        "other office": put(folder / "邮件", "f_街道.xlsx", issue(other, "330599-101")),
        "wrong year": put(folder / "邮件", "g_街道2021.xlsx",
                          issue(ws, "330599-101", year=2021)),
    }
    put(folder, "~$a_发改局.xlsx", b"\x00lock")
    put(folder / "邮件", "~$lock.xlsx", b"owner")
    put(folder / ".git", "index", b"DIRC")
    put(folder, ".DS_Store", b"\x00\x00\x00\x01Bud1")
    corpus = build_corpus(folder / "z_退回的坏文件", issue(ws, "330599"))
    files.update({f"corpus {name}": path for name, (path, _, _) in corpus.items()})
    return files


# the corpus derives from a valid copy of unit 330599: these three are our form (the two
# latter with a warning); the rest is refused
CORPUS_STORED = {"good.xlsx", "external_links.xlsx", "embedded_object.xlsx"}


@pytest.fixture
def mixed(tmp_path: Path, ledger_backend: str):
    ws, ledger = make_workspace(tmp_path / "ws")
    other, other_ledger = make_workspace(tmp_path / "city", office="青溪市政务公开办")
    other_ledger.close()
    files = mixed_inbox(ws, tmp_path / "inbox", other)
    yield ws, ledger, files, tmp_path / "inbox"
    ledger.close()


def test_mixed_inbox_is_fully_accounted_for(mixed) -> None:
    ws, ledger, files, inbox = mixed
    report = collect(ws, ledger, [inbox], received_at=RECEIVED)
    n = len(files)
    assert n == 7 + len(BAD_EXPECTED) == 42
    assert report.files == n
    assert report.outcomes == {"stored": 6, "rejected": 34, "duplicate": 2}
    assert report.statuses == {"valid": 5, "invalid": 1, "rejected": 34}
    assert sum(report.outcomes.values()) == report.files
    assert ledger.counts() == dict(report.outcomes)
    seen = [p for p, _, _ in sightings(ledger)]
    assert sorted(seen) == sorted(str(p) for p in files.values())
    assert len(set(seen)) == len(seen)
    assert not any("~$" in p or "/." in p for p in seen)
    by_path = {it["path"]: it for it in report.items}
    assert len(by_path) == n
    expected = {
        "good": ("stored", "valid", None), "invalid": ("stored", "invalid", None),
        "warned": ("stored", "valid", None), "good copy": ("duplicate", None, "DUPLICATE_FILE"),
        "invalid copy": ("duplicate", None, "DUPLICATE_FILE"),
        "other office": ("rejected", "rejected", "SIGNED_BY_OTHER_OFFICE"),
        "wrong year": ("rejected", "rejected", "YEAR_MISMATCH"),
    }
    for name, (_, code) in BAD_EXPECTED.items():
        if name in CORPUS_STORED:
            expected[f"corpus {name}"] = ("stored", "valid", None)
        else:
            expected[f"corpus {name}"] = ("rejected", "rejected", code)
    assert {k: (by_path[str(p)]["outcome"], by_path[str(p)]["status"], by_path[str(p)]["reason"])
            for k, p in files.items()} == expected
    # every new file is one submission, kept once in the store
    assert len(list(ledger.rows())) == 40
    assert sorted(p.name for p in ws.store_dir.rglob("*/*")) == sorted(
        r.sha256 for r in ledger.rows())
    # and has a receipt
    assert len(list(ws.feedback_dir.rglob("*回执*.txt"))) == 40

    again = collect(ws, ledger, [inbox], received_at="2023-01-16T10:00:00+08:00")
    assert (again.files, again.outcomes, again.statuses) == (n, {"duplicate": n}, {})
    assert len(list(ledger.rows())) == 40
    assert ledger.counts() == {"stored": 6, "rejected": 34, "duplicate": 2 + n}


def test_parallel_collect_gives_the_same_ledger(mixed, tmp_path: Path) -> None:
    ws, ledger, _, inbox = mixed
    twin = copy_workspace(ws.root, tmp_path / "ws2")  # same key, config, roster; empty ledger
    with open_ledger(twin) as twin_ledger:
        one = collect(ws, ledger, [inbox], jobs=1, received_at=RECEIVED)
        two = collect(twin, twin_ledger, [inbox], jobs=2, received_at=RECEIVED)
        assert ledger_state(ledger, ws.root) == ledger_state(twin_ledger, twin.root)
        twin_items = [{k: v.replace(str(twin.root), str(ws.root)) if isinstance(v, str) else v
                       for k, v in it.items()} for it in two.items]
        assert (two.files, two.outcomes, two.statuses, twin_items) == (
            one.files, one.outcomes, one.statuses, one.items)
    assert (sorted(p.relative_to(ws.root) for p in ws.feedback_dir.rglob("*"))
            == sorted(p.relative_to(twin.root) for p in twin.feedback_dir.rglob("*")))



def test_a_verdict_crosses_processes_as_the_ledgers_text() -> None:
    """Workers send a verdict's record and findings as the JSON text the ledger stores
    (encoded once, in the worker); the parent decodes it only if it reads it."""
    v = Verdict("invalid", None, "330599-002", 2022, "ogi-annual-2021", "2021.1", "ok",
                {"identity": {"unit.name": "区\"A&B\""}, "values": {"t2.fees_wan_yuan": "1.50"}},
                [{"code": "UNBALANCED", "cell": "D7"}], 1, 0, 0, "nianbao")
    wire = pickle.loads(pickle.dumps(EncodedVerdict.of(v)))
    assert wire.texts() == v.texts()  # carried as text, not encoded again
    assert wire.status == "invalid" and wire.findings == v.findings
    assert wire.decode() == v
    assert pickle.loads(pickle.dumps(v)) == v  # a plain dataclass pickles plainly
    changed = wire.decode()
    changed.findings.append({"code": "VALUE_NEGATIVE"})
    assert json.loads(changed.texts()[1])[-1] == {"code": "VALUE_NEGATIVE"}


# -- revalidate ------------------------------------------------------------------------------------

def set_config(ws: Workspace, **changes) -> Workspace:
    config = dataclasses.replace(ws.config, **changes)
    (ws.root / CONFIG_NAME).write_text(config_text(config), encoding="utf-8")
    return open_workspace(ws.root)


@pytest.fixture
def judged(wsl, tmp_path: Path):
    ws, ledger = wsl
    inbox = tmp_path / "inbox"
    blank_cell = complete_values(t3__granted__business=None, t3__new__business=0)
    put(inbox, "1_clean.xlsx", issue(ws, "330599-002"))
    put(inbox, "2_unexplained.xlsx", issue(ws, "330599-003", blank_cell))
    put(inbox, "3_explained.xlsx", issue(ws, "330599-007", {
        **blank_cell, "note.t3": "商业企业申请已撤回，本格不填。"}))
    put(inbox, "4_negative.xlsx", issue(ws, "330599-101", complete_values(t2__penalty=-1)))
    collect(ws, ledger, [inbox], received_at=RECEIVED)
    assert rows(ledger) == [
        ("1_clean.xlsx", "valid", None, "330599-002", 2022),
        ("2_unexplained.xlsx", "valid", None, "330599-003", 2022),
        ("3_explained.xlsx", "valid", None, "330599-007", 2022),
        ("4_negative.xlsx", "invalid", None, "330599-101", 2022)]
    return ws, ledger


def test_revalidate_with_unexplained_warnings_blocking(judged) -> None:
    ws, ledger = judged
    assert revalidate(ws, ledger).to_dict()["changed"] == 0  # same rules: nothing changes
    assert [len(ledger.history(r.id)) for r in ledger.rows()] == [1, 1, 1, 1]

    strict = set_config(ws, block_unexplained_warnings=True)
    report = revalidate(strict, ledger).to_dict()
    assert report == {"run": report["run"], "checked": 4, "reread": 0, "changed": 1, "changes": [
        {"submission": 2, "file": "2_unexplained.xlsx", "unit": "330599-003",
         "status_before": "valid", "status_after": "invalid", "added": [], "removed": [],
         "values_changed": False}]}
    assert rows(ledger) == [
        ("1_clean.xlsx", "valid", None, "330599-002", 2022),
        ("2_unexplained.xlsx", "invalid", None, "330599-003", 2022),
        ("3_explained.xlsx", "valid", None, "330599-007", 2022),
        ("4_negative.xlsx", "invalid", None, "330599-101", 2022)]
    assert history(ledger, "330599-003") == [
        ("2_unexplained.xlsx", [("valid", None), ("invalid", None)])]
    assert [len(ledger.history(r.id)) for r in ledger.rows()] == [1, 2, 1, 1]
    assert state_of(ledger, strict, "330599-003")["state"] == "invalid"
    assert ledger.counts() == {"stored": 4}  # revalidation sees no file

    assert revalidate(strict, ledger).to_dict()["changes"] == []
    assert [len(ledger.history(r.id)) for r in ledger.rows()] == [1, 2, 1, 1]

    relaxed = set_config(strict, block_unexplained_warnings=False)
    report = revalidate(relaxed, ledger).to_dict()
    assert [(c["submission"], c["status_before"], c["status_after"])
            for c in report["changes"]] == [(2, "invalid", "valid")]
    assert history(ledger, "330599-003") == [
        ("2_unexplained.xlsx", [("valid", None), ("invalid", None), ("valid", None)])]


def test_revalidate_after_a_unit_left_the_roster(judged) -> None:
    ws, ledger = judged
    roster = "\n".join(line for line in ROSTER_CSV.splitlines()
                       if not line.startswith("330599-007,")) + "\n"
    ws.roster_path.write_text(roster, encoding="utf-8")
    ledger.sync_units(load_roster(ws.roster_path))
    report = revalidate(ws, ledger).to_dict()
    assert (report["checked"], report["changed"]) == (4, 1)
    assert report["changes"] == [
        {"submission": 3, "file": "3_explained.xlsx", "unit": "330599-007",
         "status_before": "valid", "status_after": "rejected",
         "added": [{"code": "UNIT_UNKNOWN", "cell": None, "rule": None}], "removed": [],
         "values_changed": False}]
    assert history(ledger, "330599-007") == [
        ("3_explained.xlsx", [("valid", None), ("rejected", "UNIT_UNKNOWN")])]
    assert revalidate(ws, ledger).to_dict()["changed"] == 0
