"""Forged returns: each one is refused by `collect` with a clear finding, and never counts.

A unit may try to pass off its file as another unit's, reuse another unit's or another
office's template, strip or copy a signature, send a file of another year, or send an old
file again after a newer one. Every case goes through `collect` into a workspace and the
exact verdict is asserted: outcome, status "rejected" (or "duplicate" for a replay), reason
and finding codes with their cells, the signature check, the Chinese message; and the
collection's state afterwards: the forged file never becomes the unit's counting record and
never reaches the export.

Files are changed the way a person or a program would change them: identity and `_meta`
cells rewritten in the XML (inline strings, the way a script would), or edited with
LibreOffice, which writes into the hidden `_meta` sheet and locked cells without complaint.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from nianbao.collect.distribute import issue_options
from nianbao.collect.intake import collect
from nianbao.collect.judging import CHINA
from nianbao.collect.ledger import Ledger
from nianbao.collect.records import records
from nianbao.collect.signing import key_id, sign
from nianbao.collect.status import unit_status
from nianbao.collect.workspace import Workspace
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import META_KEYS, META_SHEET
from nianbao.testing.libreoffice import Edit, LibreOffice
from tests.collect_helpers import (
    LAYOUT,
    NAMES,
    OFFICE,
    YEAR,
    complete_values,
    identity,
    make_workspace,
    put,
    sha,
)
from tests.test_fuzz import Base, Book, inline_cell, number_cell

KEY = bytes.fromhex("5a" * 32)        # this office's key (written into every workspace here)
OTHER_KEY = bytes.fromhex("a5" * 32)  # another office's
A, B = "330599-002", "330599-003"     # two units of the roster
RECEIVED = "2023-01-15T10:00:00+08:00"
AS_OF = datetime(2023, 1, 31, tzinfo=CHINA)
COVER = {f: LAYOUT.places[f].a1 for f in ("unit.code", "unit.name", "year")}
COVER_SHEET = LAYOUT.places["unit.code"].sheet


def meta_cell(key: str) -> str:
    """Where `_meta` keeps `key`'s value (column B of its row)."""
    return f"B{META_KEYS.index(key) + 1}"


def issued_copy(code: str, values: dict[str, Any] | None = None, *, key: bytes = KEY,
                office: str = OFFICE, year: int = YEAR) -> bytes:
    """The copy this office (or another) issued to one unit, returned with values."""
    return render(LAYOUT, issue_options(LAYOUT, identity(code, year=year), key, office,
                                        values=complete_values() if values is None else values))


def meta_of(data: bytes) -> dict[str, str]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return {str(k): "" if v is None else str(v)
            for k, v in wb[META_SHEET].iter_rows(values_only=True)}


def edit(data: bytes, cells: dict[tuple[str, str], str | int]) -> bytes:
    """`data` with cells rewritten in the XML: text as inline strings, ints as numbers."""
    book = Book(Base("forged", data))
    for (sheet, ref), value in cells.items():
        body = number_cell(ref, str(value)) if isinstance(value, int) else inline_cell(ref, value)
        book.set(sheet, ref, body)
    return book.bytes()


def edit_meta(data: bytes, **values: str) -> bytes:
    return edit(data, {(META_SHEET, meta_cell(k)): v for k, v in values.items()})


# --- the collection -----------------------------------------------------------------------------


@pytest.fixture
def wsl(tmp_path: Path):
    ws, ledger = make_workspace(tmp_path / "ws")
    (ws.root / ".nianbao" / "secret.key").write_text(KEY.hex() + "\n", encoding="ascii")
    assert ws.key == KEY
    yield ws, ledger
    ledger.close()


def collect_one(ws: Workspace, ledger: Ledger, folder: Path, name: str, data: bytes,
                at: str = RECEIVED) -> dict[str, Any]:
    report = collect(ws, ledger, [put(folder, name, data)], received_at=at)
    assert report.files == 1 and sum(report.outcomes.values()) == 1
    (item,) = report.items
    return item


def refused(ws: Workspace, ledger: Ledger, tmp_path: Path, data: bytes, reason: str,
            name: str = "forged.xlsx") -> dict[str, Any]:
    """Collect one forged file; it must be refused for `reason`. Returns its ledger record."""
    item = collect_one(ws, ledger, tmp_path / "inbox", name, data)
    assert (item["outcome"], item["status"], item["reason"]) == ("rejected", "rejected", reason)
    row = next(r for r in ledger.rows() if r.sha256 == sha(data))
    v = row.verdict
    assert (v.status, v.reason) == ("rejected", reason)
    assert reason in [f["code"] for f in v.findings]
    assert "feedback" not in item  # a refused file gets a receipt, no feedback workbook
    receipt = Path(item["receipt"]).read_text(encoding="utf-8")
    assert "未受理" in receipt
    assert_never_counts(ws, ledger, row.id)
    return {"unit": v.unit_code, "year": v.year, "signature": v.signature,
            "findings": [(f["code"], f["sheet"], f["cell"]) for f in v.findings],
            "messages": [f["message"] for f in v.findings], "item": item}


def assert_never_counts(ws: Workspace, ledger: Ledger, submission: int) -> None:
    """A refused submission is no unit's counting record and is not exported."""
    for u in unit_status(ledger, ws.config, AS_OF).units:
        assert (u.counting or {}).get("submission") != submission or u.state == "rejected", u
    assert submission not in {r.submission for r in records(ledger, LAYOUT.form)}


def state(ws: Workspace, ledger: Ledger, code: str) -> tuple[str, int | None]:
    u = next(u for u in unit_status(ledger, ws.config, AS_OF).units if u.code == code)
    return u.state, (u.counting or {}).get("submission")


# --- another unit claimed -------------------------------------------------------------------------


@pytest.mark.parametrize("fields", [("unit.name",), ("unit.code",), ("unit.code", "unit.name")])
def test_cover_edited_to_claim_another_unit(wsl, tmp_path: Path, fields: tuple[str, ...]) -> None:
    """A's issued copy with B's name and/or code typed over the locked cover cells."""
    ws, ledger = wsl
    claim = {"unit.code": B, "unit.name": NAMES[B]}
    data = edit(issued_copy(A), {(COVER_SHEET, COVER[f]): claim[f] for f in fields})
    got = refused(ws, ledger, tmp_path, data, "IDENTITY_EDITED")
    assert (got["unit"], got["year"], got["signature"]) == (A, YEAR, "ok")  # _meta wins
    assert got["findings"] == [("IDENTITY_EDITED", COVER_SHEET, COVER[f]) for f in
                               ("unit.code", "unit.name") if f in fields]
    words = {"unit.code": ("单位代码", B, A), "unit.name": ("单位名称", NAMES[B], NAMES[A])}
    assert got["messages"] == [
        f"{COVER_SHEET}!{COVER[f]}：{words[f][0]}被改为「{words[f][1]}」，下发时为「{words[f][2]}」，"
        "请勿修改预填的单位信息" for f in ("unit.code", "unit.name") if f in fields]
    assert state(ws, ledger, B) == ("missing", None)  # B is not touched by A's claim
    assert state(ws, ledger, A)[0] == "rejected"


def test_meta_unit_code_changed(wsl, tmp_path: Path) -> None:
    """Only `_meta` says B: the signature no longer matches, and the cover disagrees."""
    ws, ledger = wsl
    got = refused(ws, ledger, tmp_path, edit_meta(issued_copy(A), unit_code=B),
                  "SIGNATURE_INVALID")
    assert (got["unit"], got["signature"]) == (B, "forged")
    assert got["findings"] == [("IDENTITY_EDITED", COVER_SHEET, COVER["unit.code"]),
                               ("SIGNATURE_INVALID", None, None)]
    assert got["messages"][1] == (
        "模板中的下发信息（单位、年度或模板版本）与下发时的签名不符，文件被改动过，"
        "请使用本办下发的原始模板重新填报")


def test_meta_and_cover_both_changed_to_another_unit(wsl, tmp_path: Path) -> None:
    """A consistent claim on B everywhere a person can see or edit: only the signature
    (made for A) tells, and B's own valid return still counts."""
    ws, ledger = wsl
    b_return = collect_one(ws, ledger, tmp_path / "b", "b.xlsx", issued_copy(B))
    assert (b_return["outcome"], b_return["status"]) == ("stored", "valid")
    forged = edit(issued_copy(A, complete_values(t2__licensing=999)), {
        (META_SHEET, meta_cell("unit_code")): B, (META_SHEET, meta_cell("unit_name")): NAMES[B],
        (COVER_SHEET, COVER["unit.code"]): B, (COVER_SHEET, COVER["unit.name"]): NAMES[B]})
    got = refused(ws, ledger, tmp_path, forged, "SIGNATURE_INVALID")
    assert (got["unit"], got["signature"]) == (B, "forged")
    assert got["findings"] == [("SIGNATURE_INVALID", None, None)]
    assert state(ws, ledger, B) == ("valid", b_return["submission"])
    (rec,) = records(ledger, LAYOUT.form)
    assert (rec.unit_code, rec.values["t2.licensing"]) == (B, 120)


def test_meta_claims_a_unit_not_on_the_roster(wsl, tmp_path: Path) -> None:
    """`_meta` names a unit the roster does not know: forged, and listed as unattributed."""
    ws, ledger = wsl
    got = refused(ws, ledger, tmp_path, edit_meta(issued_copy(A), unit_code="330599-999"),
                  "SIGNATURE_INVALID")
    assert (got["unit"], got["signature"]) == ("330599-999", "forged")
    assert got["findings"] == [("IDENTITY_EDITED", COVER_SHEET, COVER["unit.code"]),
                               ("SIGNATURE_INVALID", None, None), ("UNIT_UNKNOWN", None, None)]
    assert got["messages"][2] == (
        f"单位代码「330599-999」（{NAMES[A]}）不在本次报送名单中，请与收集单位联系")
    report = unit_status(ledger, ws.config, AS_OF)
    assert [u["unit"] for u in report.unattributed] == ["330599-999"]


def test_meta_copied_from_another_units_file(wsl, tmp_path: Path) -> None:
    """A fills its own copy, then pastes B's whole identity sheet (genuinely signed for B)
    into it: the signature is B's and valid, but the locked cover still names A."""
    ws, ledger = wsl
    b_meta = meta_of(issued_copy(B))
    assert b_meta["signature"] and b_meta["unit_code"] == B
    forged = edit_meta(issued_copy(A, complete_values(t2__licensing=999)), **b_meta)
    assert meta_of(forged) == b_meta
    got = refused(ws, ledger, tmp_path, forged, "IDENTITY_EDITED")
    assert (got["unit"], got["signature"]) == (B, "ok")
    assert got["findings"] == [("IDENTITY_EDITED", COVER_SHEET, COVER["unit.code"]),
                               ("IDENTITY_EDITED", COVER_SHEET, COVER["unit.name"])]
    assert state(ws, ledger, B) == ("rejected", got["item"]["submission"])
    assert records(ledger, LAYOUT.form) == []


@pytest.mark.libreoffice
def test_meta_copied_in_libreoffice(wsl, tmp_path: Path, libreoffice: LibreOffice) -> None:
    """The same paste done in a spreadsheet program: A's copy filled in LibreOffice, and B's
    `_meta` values typed over A's in the hidden sheet. (Had the locked cover been changed
    to B as well, the file would be B's genuine issued copy filled by someone else, which no
    signature can tell apart from B filling it: the signature proves what was issued to
    whom, not who typed the figures.)"""
    ws, ledger = wsl
    src = tmp_path / "a.xlsx"
    src.write_bytes(issued_copy(A, {}))
    b_meta = meta_of(issued_copy(B, {}))
    places = LAYOUT.places
    fill = [Edit(places[f].sheet, places[f].a1, v) for f, v in complete_values().items()]
    meta_edits = [Edit(META_SHEET, meta_cell(k), v) for k, v in b_meta.items() if v]
    out = tmp_path / "lo.xlsx"
    libreoffice.fill(src, out, [*fill, *meta_edits])
    got = refused(ws, ledger, tmp_path, out.read_bytes(), "IDENTITY_EDITED", name="lo.xlsx")
    assert (got["unit"], got["signature"]) == (B, "ok")
    assert [c for c, _, _ in got["findings"]] == ["IDENTITY_EDITED", "IDENTITY_EDITED"]


# --- not this office's signature ----------------------------------------------------------------


def test_signed_by_another_office(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    data = issued_copy(A, key=OTHER_KEY, office="青溪市人民政府办公室")
    got = refused(ws, ledger, tmp_path, data, "SIGNED_BY_OTHER_OFFICE")
    assert (got["unit"], got["signature"]) == (A, "other-office")
    assert got["findings"] == [("SIGNED_BY_OTHER_OFFICE", None, None)]
    assert got["messages"] == [(
        f"这是「青溪市人民政府办公室」下发的模板，不是「{OFFICE}」下发的，"
        "请使用本办下发给贵单位的模板重新填报")]


def test_another_key_under_our_office_name(wsl, tmp_path: Path) -> None:
    """Same office name, other key (e.g. a workspace made again): the key id tells."""
    ws, ledger = wsl
    got = refused(ws, ledger, tmp_path, issued_copy(A, key=OTHER_KEY), "SIGNED_BY_OTHER_OFFICE")
    assert got["signature"] == "other-office"
    assert got["messages"] == [f"这是「{OFFICE}」下发的模板，不是「{OFFICE}」下发的，"
                               "请使用本办下发给贵单位的模板重新填报"]


def test_our_key_id_claimed_with_another_key(wsl, tmp_path: Path) -> None:
    """The office tag names our key, the signature was made with another: forged."""
    ws, ledger = wsl
    data = issued_copy(A, key=OTHER_KEY)
    meta = meta_of(data)
    meta["office"] = f"{OFFICE}#{key_id(KEY)}"
    forged = edit_meta(data, office=meta["office"], signature=sign(OTHER_KEY, meta))
    got = refused(ws, ledger, tmp_path, forged, "SIGNATURE_INVALID")
    assert (got["unit"], got["signature"]) == (A, "forged")


# --- no signature -------------------------------------------------------------------------------


def test_unsigned_template_filled_for_a_roster_unit(wsl, tmp_path: Path) -> None:
    """A template downloaded (not issued), with A's identity typed in."""
    ws, ledger = wsl
    data = render(LAYOUT, RenderOptions(identity=identity(A), values=complete_values()))
    got = refused(ws, ledger, tmp_path, data, "SIGNATURE_MISSING")
    assert (got["unit"], got["signature"]) == (A, "unsigned")
    assert got["findings"] == [("SIGNATURE_MISSING", None, None)]


def test_signature_removed(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    got = refused(ws, ledger, tmp_path, edit_meta(issued_copy(A), signature=""),
                  "SIGNATURE_MISSING")
    assert (got["unit"], got["signature"]) == (A, "unsigned")


def test_office_tag_removed(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    got = refused(ws, ledger, tmp_path, edit_meta(issued_copy(A), office=""),
                  "SIGNED_BY_OTHER_OFFICE")
    assert got["signature"] == "other-office"
    assert got["messages"][0].startswith("这是「未知」下发的模板")


def test_unsigned_blank_template(wsl, tmp_path: Path) -> None:
    """A template nobody issued, with no identity at all, filled in."""
    ws, ledger = wsl
    data = render(LAYOUT, RenderOptions(values=complete_values()))
    got = refused(ws, ledger, tmp_path, data, "SIGNATURE_MISSING")
    assert (got["unit"], got["year"], got["signature"]) == (None, None, "unsigned")
    assert got["findings"] == [
        ("IDENTITY_MISSING", COVER_SHEET, COVER["unit.code"]),
        ("IDENTITY_MISSING", COVER_SHEET, COVER["unit.name"]),
        ("IDENTITY_MISSING", COVER_SHEET, COVER["year"]),
        ("SIGNATURE_MISSING", None, None), ("UNIT_UNKNOWN", None, None),
        ("YEAR_MISMATCH", None, None)]


# --- a signature copied -----------------------------------------------------------------------


def test_signature_copied_from_another_units_file(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    b_sig = meta_of(issued_copy(B))["signature"]
    forged = edit_meta(issued_copy(A), signature=b_sig)
    got = refused(ws, ledger, tmp_path, forged, "SIGNATURE_INVALID")
    assert (got["unit"], got["signature"]) == (A, "forged")
    assert got["findings"] == [("SIGNATURE_INVALID", None, None)]


def test_signature_copied_into_a_downloaded_template(wsl, tmp_path: Path) -> None:
    """Office tag and signature of A's issued copy pasted into a downloaded template that A
    filled in: the signed identity (unit, year in `_meta`) is missing, so it does not match."""
    ws, ledger = wsl
    genuine = meta_of(issued_copy(A))
    downloaded = render(LAYOUT, RenderOptions(identity=identity(A), values=complete_values()))
    forged = edit_meta(downloaded, office=genuine["office"], signature=genuine["signature"])
    got = refused(ws, ledger, tmp_path, forged, "SIGNATURE_INVALID")
    assert (got["unit"], got["signature"]) == (A, "forged")


@pytest.mark.libreoffice
def test_signature_copied_in_libreoffice(wsl, tmp_path: Path, libreoffice: LibreOffice) -> None:
    ws, ledger = wsl
    src = tmp_path / "a.xlsx"
    src.write_bytes(issued_copy(A, {}))
    b_sig = meta_of(issued_copy(B))["signature"]
    places = LAYOUT.places
    out = tmp_path / "lo.xlsx"
    libreoffice.fill(src, out, [
        *(Edit(places[f].sheet, places[f].a1, v) for f, v in complete_values().items()),
        Edit(META_SHEET, meta_cell("signature"), b_sig)])
    got = refused(ws, ledger, tmp_path, out.read_bytes(), "SIGNATURE_INVALID", name="lo.xlsx")
    assert (got["unit"], got["signature"], got["findings"]) == (
        A, "forged", [("SIGNATURE_INVALID", None, None)])


# --- another year ------------------------------------------------------------------------------


def test_file_issued_for_another_year(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    got = refused(ws, ledger, tmp_path, issued_copy(A, year=YEAR - 1), "YEAR_MISMATCH")
    assert (got["unit"], got["year"], got["signature"]) == (A, YEAR - 1, "ok")
    assert got["findings"] == [("YEAR_MISMATCH", None, None)]
    assert got["messages"] == [
        f"报告年度为 {YEAR - 1}，本次收集的是 {YEAR} 年度的报告，请使用本年度下发的模板"]


def test_year_edited_on_the_cover(wsl, tmp_path: Path) -> None:
    ws, ledger = wsl
    data = edit(issued_copy(A), {(COVER_SHEET, COVER["year"]): YEAR + 1})
    got = refused(ws, ledger, tmp_path, data, "IDENTITY_EDITED")
    assert (got["year"], got["findings"]) == (
        YEAR, [("IDENTITY_EDITED", COVER_SHEET, COVER["year"])])


def test_year_edited_in_meta(wsl, tmp_path: Path) -> None:
    """Last year's copy made to look like this year's in `_meta` and on the cover."""
    ws, ledger = wsl
    data = edit(issued_copy(A, year=YEAR - 1), {(META_SHEET, meta_cell("year")): str(YEAR),
                                                (COVER_SHEET, COVER["year"]): YEAR})
    got = refused(ws, ledger, tmp_path, data, "SIGNATURE_INVALID")
    assert (got["year"], got["signature"], got["findings"]) == (
        YEAR, "forged", [("SIGNATURE_INVALID", None, None)])


# --- an old file sent again ----------------------------------------------------------------------


@pytest.mark.parametrize("old_values", [complete_values(),
                                        complete_values(t2__penalty=-1)],
                         ids=["old-valid", "old-invalid"])
def test_replayed_older_file(wsl, tmp_path: Path, old_values: dict[str, Any]) -> None:
    ws, ledger = wsl
    old = issued_copy(A, old_values)
    new = issued_copy(A, complete_values(t2__licensing=121))
    first = collect_one(ws, ledger, tmp_path / "1", "年报.xlsx", old, "2023-01-10T09:00:00+08:00")
    second = collect_one(ws, ledger, tmp_path / "2", "年报（修改）.xlsx", new,
                         "2023-01-12T09:00:00+08:00")
    assert (first["outcome"], second["outcome"], second["status"]) == ("stored", "stored", "valid")
    replay = collect_one(ws, ledger, tmp_path / "3", "年报（最终版）.xlsx", old,
                         "2023-01-25T09:00:00+08:00")
    assert (replay["outcome"], replay["status"], replay["submission"], replay["unit"],
            replay["reason"]) == ("duplicate", None, first["submission"], A, "REPLAYED_FILE")
    finding = replay["finding"]
    assert (finding["code"], finding["severity"], finding["values"]) == (
        "REPLAYED_FILE", "warning",
        {"submission": first["submission"], "received_at": "2023-01-10T09:00:00+08:00",
         "latest": second["submission"], "latest_received_at": "2023-01-12T09:00:00+08:00"})
    assert "旧文件再次报送" in finding["message"] and "仍以最新的为准" in finding["message"]
    assert ledger.counts() == {"stored": 2, "duplicate": 1}
    assert len(list(ledger.rows())) == 2
    assert state(ws, ledger, A) == ("valid", second["submission"])
    (rec,) = records(ledger, LAYOUT.form)
    assert (rec.submission, rec.values["t2.licensing"]) == (second["submission"], 121)


def test_same_file_again_is_a_plain_duplicate(wsl, tmp_path: Path) -> None:
    """Not a replay: no newer submission from the unit exists."""
    ws, ledger = wsl
    data = issued_copy(A)
    first = collect_one(ws, ledger, tmp_path / "1", "a.xlsx", data, "2023-01-10T09:00:00+08:00")
    again = collect_one(ws, ledger, tmp_path / "2", "a.xlsx", data, "2023-01-11T09:00:00+08:00")
    assert (again["outcome"], again["reason"], again["submission"]) == (
        "duplicate", "DUPLICATE_FILE", first["submission"])
    assert state(ws, ledger, A) == ("valid", first["submission"])
