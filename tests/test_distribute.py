"""Distribution: one signed, personalised template per unit, with a manifest, written only
inside the outbox and never carrying the workspace's secret key."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest

from nianbao.check import check_bytes
from nianbao.collect.distribute import Personaliser, distribute, issue_options, template_name
from nianbao.collect.intake import collect
from nianbao.collect.roster import Unit, load_roster
from nianbao.collect.signing import key_id, verify
from nianbao.render.workbook import render
from tests.collect_helpers import LAYOUT, NAMES, OFFICE, RECEIVED, YEAR, make_workspace

SUFFIX = f"-{YEAR}年政府信息公开工作年度报告.xlsx"


def meta_of(data: bytes) -> dict[str, str]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    sheet = wb["_meta"]
    assert sheet.sheet_state == "veryHidden"
    return {str(k): "" if v is None else str(v) for k, v in sheet.iter_rows(values_only=True)}


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


@pytest.fixture
def outbox(tmp_path: Path):
    ws, ledger = make_workspace(tmp_path / "ws")
    units = load_roster(ws.roster_path)
    issued = distribute(LAYOUT, units, YEAR, ws.key, ws.config.office, ws.outbox)
    yield ws, ledger, units, issued
    ledger.close()


def test_one_file_per_unit_named_for_the_unit(outbox) -> None:
    ws, _, units, issued = outbox
    assert [i.unit for i in issued] == units
    assert [i.path for i in issued] == [ws.outbox / (NAMES[u.code] + SUFFIX) for u in units]
    assert sorted(p.name for p in ws.outbox.iterdir()) == sorted(
        [NAMES[u.code] + SUFFIX for u in units] + ["manifest.csv", "manifest.json"])
    assert template_name(units[1], YEAR) == "青溪区发展和改革局-2022年政府信息公开工作年度报告.xlsx"


def test_identity_is_prefilled_and_locked(outbox) -> None:
    issued = outbox[3]
    for i in issued:
        wb = openpyxl.load_workbook(i.path)
        cover = wb["封面"]
        assert cover.protection.sheet is True
        assert [cover[a].value for a in ("B4", "B5", "B6")] == [i.unit.name, i.unit.code, YEAR]
        assert [cover[a].protection.locked for a in ("B4", "B5", "B6")] == [True, True, True]
        for fid in ("t3.new.natural_person", "t2.licensing", "text.overview", "note.t3"):
            place = LAYOUT.places[fid]
            cell = wb[place.sheet][place.a1]
            assert cell.value is None and cell.protection.locked is False, fid
        assert wb.sheetnames[0] == "封面"


def test_meta_is_signed_for_the_unit(outbox, tmp_path: Path) -> None:
    ws, _, _, issued = outbox
    other, other_ledger = make_workspace(tmp_path / "other", office="别的办公室")
    other_ledger.close()
    for i in issued:
        meta = meta_of(i.path.read_bytes())
        assert verify(ws.key, meta) == "ok"
        assert {k: meta[k] for k in ("form_id", "form_version", "fingerprint", "unit_code",
                                     "unit_name", "year", "office")} == {
            "form_id": LAYOUT.form.id, "form_version": LAYOUT.form.version,
            "fingerprint": LAYOUT.fingerprint, "unit_code": i.unit.code,
            "unit_name": i.unit.name, "year": str(YEAR),
            "office": f"{OFFICE}#{key_id(ws.key)}"}
        assert verify(other.key, meta) == "other-office"
        for field, value in (("unit_code", "330599-999"), ("unit_name", "改名"),
                             ("year", "2021"), ("form_version", "0.9.0")):
            assert verify(ws.key, {**meta, field: value}) == "forged", field
        assert verify(ws.key, {**meta, "signature": ""}) == "unsigned"


def test_manifest_lists_every_file_with_its_hash(outbox) -> None:
    ws, _, units, issued = outbox
    manifest = json.loads((ws.outbox / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == {
        "form": LAYOUT.form.id, "version": LAYOUT.form.version, "year": YEAR,
        "fingerprint": LAYOUT.fingerprint,
        "files": [{"unit_code": u.code, "unit_name": u.name, "file": u.name + SUFFIX,
                   "sha256": i.sha256} for u, i in zip(units, issued, strict=True)]}
    for entry in manifest["files"]:
        data = (ws.outbox / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    raw = (ws.outbox / "manifest.csv").read_bytes()
    assert raw.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table == [["单位代码", "单位名称", "文件", "SHA-256"]] + [
        [e["unit_code"], e["unit_name"], e["file"], e["sha256"]] for e in manifest["files"]]


def test_secret_key_is_in_no_distributed_file(outbox) -> None:
    ws, _, _, issued = outbox
    hexkey = ws.key.hex()
    secrets = [hexkey.encode(), hexkey.upper().encode(), ws.key]
    assert (ws.root / ".nianbao" / "secret.key").read_text().strip() == hexkey
    files = sorted(ws.outbox.rglob("*"))
    assert len(files) == len(issued) + 2
    for path in files:
        data = path.read_bytes()
        blobs = [data, *members(data).values()] if path.suffix == ".xlsx" else [data]
        for blob in blobs:
            for secret in secrets:
                assert secret not in blob, path


def test_distributed_copies_are_accepted_as_from_their_units(outbox, tmp_path: Path) -> None:
    """Each copy is recognised as ours and its unit's (signature and identity hold); sent
    back unfilled, it is the issued template itself: 未受理「未填写的下发模板」 (the unit is
    still chased)."""
    ws, ledger, units, issued = outbox
    inbox = tmp_path / "inbox"  # as units send them back (the outbox is never taken in)
    inbox.mkdir()
    for i in issued:
        shutil.copy(i.path, inbox / i.path.name)
    report = collect(ws, ledger, [inbox], received_at=RECEIVED)
    assert report.outcomes == {"rejected": len(units)}
    assert sorted((r.file_name, r.verdict.reason, r.verdict.unit_code, r.verdict.year,
                   r.verdict.signature, r.verdict.record["identity"]) for r in ledger.rows()) == \
        sorted((u.name + SUFFIX, "TEMPLATE_BLANK", u.code, YEAR, "ok",
                {"unit.code": u.code, "unit.name": u.name, "year": YEAR}) for u in units)


HOSTILE = [
    Unit("U1", "../../../../tmp/escaped"),
    Unit("U2", "..\\..\\windows\\局"),
    Unit("U3", ".."),
    Unit("U4", "/etc/passwd"),
    Unit("U5", "控制\x00字符\x07\x1b[31m局"),
    Unit("U6", "CON"),
    Unit("U7", "a:b*c?d\"e<f>g|h"),
    Unit("U8", "换行\r\n局"),
]


def test_hostile_names_stay_inside_the_outbox(tmp_path: Path) -> None:
    key = bytes(range(32))
    out = tmp_path / "box" / "outbox"
    issued = distribute(LAYOUT, HOSTILE, YEAR, key, OFFICE, out)
    root = out.resolve()
    assert len({i.path for i in issued}) == len(HOSTILE)
    for i in issued:
        assert i.path.resolve().parent == root, i.path
        assert i.path.is_file()
        assert not any(ch in i.path.name for ch in "/\\\x00\x07\x1b\r\n:*?\"<>|"), i.path.name
        assert not i.path.name.startswith("."), i.path.name
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        [i.path.name for i in issued] + ["manifest.csv", "manifest.json"])
    assert [i.path.name for i in issued][:4] == [
        "_.._.._.._tmp_escaped" + SUFFIX, "_.._windows_局" + SUFFIX,
        "-2022年政府信息公开工作年度报告.xlsx", "_etc_passwd" + SUFFIX]
    assert issued[5].path.name == "CON" + SUFFIX  # "CON-…" is no reserved name


def test_two_units_with_one_name_get_two_files(tmp_path: Path) -> None:
    key = bytes(range(32))
    units = [Unit("A", "城关街道"), Unit("B", "城关街道"), Unit("C", "城关街道")]
    issued = distribute(LAYOUT, units, YEAR, key, OFFICE, tmp_path)
    assert [i.path.name for i in issued] == [
        "城关街道" + SUFFIX, f"城关街道-{YEAR}年政府信息公开工作年度报告 (2).xlsx",
        f"城关街道-{YEAR}年政府信息公开工作年度报告 (3).xlsx"]
    assert [meta_of(i.path.read_bytes())["unit_code"] for i in issued] == ["A", "B", "C"]
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert [(f["unit_code"], f["file"]) for f in manifest["files"]] == [
        (i.unit.code, i.path.name) for i in issued]


def direct(unit: Unit, key: bytes, password: str | None = None) -> bytes:
    ident = {"unit.code": unit.code, "unit.name": unit.name, "year": YEAR}
    return render(LAYOUT, issue_options(LAYOUT, ident, key, OFFICE, password=password))


NAME_CASES = [
    Unit("330599-002", "青溪区发展和改革局"),
    Unit("330599-003", "A&B<局>\"'"),
    Unit("X/1", "x/../y"),
    Unit("330599-101", "青溪区城关街道办事处（便民服务中心）"),
    Unit("330599-009", "坏\x01名"),
    Unit("330599", "330599"),
    Unit("330599-010", "单位名称"),
]


@pytest.mark.parametrize("unit", NAME_CASES, ids=lambda u: u.code)
def test_personalised_copy_equals_direct_render(unit: Unit) -> None:
    key = bytes(range(32))
    assert Personaliser(LAYOUT, YEAR, key, OFFICE).copy_for(unit) == direct(unit, key)


def test_personalised_copy_with_password_equals_direct_render(tmp_path: Path) -> None:
    key = bytes(range(32))
    units = [Unit("330599-002", "青溪区发展和改革局"), Unit("330599-003", "青溪区教育局")]
    issued = distribute(LAYOUT, units, YEAR, key, OFFICE, tmp_path, password="只防误改")
    for i in issued:
        assert i.path.read_bytes() == direct(i.unit, key, "只防误改")


def test_copy_for_a_name_with_a_control_character_is_readable(tmp_path: Path) -> None:
    key = bytes(range(32))
    (issued,) = distribute(LAYOUT, [Unit("330599-009", "坏\x01名")], YEAR, key, OFFICE, tmp_path)
    result = check_bytes(issued.path.read_bytes(), issued.path.name)
    assert result.status != "unusable", [f.code for f in result.findings]
    # a control character is stored escaped (_x0001_), as Excel itself writes it
    assert result.identity["unit.name"] in ("坏\x01名", "坏_x0001_名")


def test_long_unit_name_keeps_the_extension(tmp_path: Path) -> None:
    name = ("中共青溪区委机构编制委员会办公室（青溪区人民政府机构编制委员会办公室）"
            "暨青溪区事业单位登记管理局和青溪区机关事务管理中心（合署）")
    assert len(name) == 64
    (issued,) = distribute(LAYOUT, [Unit("330599-050", name)], YEAR, bytes(32), OFFICE, tmp_path)
    assert issued.path.suffix == ".xlsx"
    assert issued.path.name.startswith(name[:20])
