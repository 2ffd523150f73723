"""A returned workbook whose structure is not the template's: edited labels, moved tables,
missing sheets, other form versions, edited identity, formulas and pictures in input cells,
tampered cached results. Every case gives exact findings at exact cells, never a crash.

LibreOffice makes the files where the application matters (an edit saved by a real
spreadsheet program, with its recalculated results); openpyxl is used for edits that no
application makes on its own (inserting rows without fixing formulas, deleting a hidden sheet).
"""

from __future__ import annotations

import copy
import io
import random
import re
import tomllib
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest

from nianbao.check import check_bytes, check_file
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import META_KEYS, META_SHEET, Layout, layout_for
from nianbao.spec.load import build_form, spec_path
from nianbao.testing.libreoffice import Edit, LibreOffice
from tests.conftest import issued
from tests.test_roundtrip_libreoffice import (
    edits_for,
    expected_totals,
    full_record,
    openpyxl_fill,
    summary,
)

T2, T3, T4, COVER = "主动公开", "依申请公开", "复议诉讼", "封面"
ISSUED = {"unit.code": "330503-017", "unit.name": "某区文化和广电旅游体育局", "year": 2022}


def meta_cell(key: str) -> str:
    """The A1 address of a _meta value (column B, one key a row)."""
    return f"B{META_KEYS.index(key) + 1}"


@pytest.fixture(scope="module")
def values(layout: Layout) -> dict:
    return full_record(layout.form, random.Random(5), min_new=1)


@pytest.fixture
def lo_fill(libreoffice: LibreOffice, layout: Layout, values: dict, tmp_path: Path):
    """Fill an issued template with the valid `values` plus extra edits, in LibreOffice."""

    def run(extra: list[Edit], name: str = "filled.xlsx", skip: tuple[str, ...] = ()) -> Path:
        src = tmp_path / "issued.xlsx"
        src.write_bytes(issued(layout))
        edits = edits_for(layout, {k: v for k, v in values.items() if k not in skip})
        dst = tmp_path / name
        libreoffice.fill(src, dst, edits + extra)
        return dst

    return run


def codes(result) -> list[str]:
    return [f.code for f in result.findings]


# -- the base case: nothing changed ---------------------------------------------------------

@pytest.mark.libreoffice
def test_untouched_structure_has_no_finding(lo_fill) -> None:
    result = check_file(lo_fill([]))
    assert result.findings == [] and result.status == "valid"


# -- labels and layout ------------------------------------------------------------------------

@pytest.mark.libreoffice
def test_edited_label_is_reported_at_its_cell(lo_fill, layout: Layout) -> None:
    label = next(lb for lb in layout.labels if lb.area.sheet == T3 and lb.text == "自然人")
    path = lo_fill([Edit(T3, label.area.a1, "自然人（个人）", "string")])
    result = check_file(path)
    assert summary(result.findings) == {("LABEL_CHANGED", None, T3, "D5", None, None)}
    finding = result.findings[0]
    assert finding.values["expected"] == "自然人"
    assert finding.values["found"] == "自然人（个人）"
    assert result.status == "invalid"


@pytest.mark.libreoffice
def test_row_inserted_above_table_three(lo_fill, layout: Layout, tmp_path: Path) -> None:
    """openpyxl inserts a row and fixes nothing: table 三 moves down one row."""
    book = openpyxl.load_workbook(lo_fill([]))
    book[T3].insert_rows(4)
    path = tmp_path / "moved.xlsx"
    book.save(path)

    result = check_file(path)  # never raises
    assert result.status == "invalid"
    located = [f for f in result.findings if f.code != "CACHED_MISSING"]
    assert codes(result).count("CACHED_MISSING") == 1  # openpyxl keeps no results
    assert located and all(f.sheet == T3 and f.cell for f in located)
    got = summary(result.findings)
    # the row labels moved one row down...
    assert ("LABEL_CHANGED", None, T3, "A8", None, None) in got
    a8 = next(f for f in result.findings if f.code == "LABEL_CHANGED" and f.cell == "A8")
    assert a8.values == {"expected": "二、上年结转政府信息公开申请数量",
                         "found": "一、本年新收政府信息公开申请数量"}
    # ...so did the totals (found one row too low) and the inputs
    j8 = next(f for f in result.findings if f.code == "FORMULA_CHANGED" and f.cell == "J8")
    assert (j8.field, j8.values["found"]) == ("t3.carried_over.total", "=SUM(D7:I7)")
    assert ("VALUE_BLANK", None, T3, "D7", "t3.new.natural_person", None) in got
    # the header 商业企业 now sits in the input row of 一、本年新收
    assert ("VALUE_TEXT", "R8", T3, "E7", "t3.new.business", None) in got
    assert {f.sheet for f in result.findings} == {T3, None}


@pytest.mark.libreoffice
def test_deleted_sheet(lo_fill, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(lo_fill([]))
    del book[T4]
    path = tmp_path / "no-t4.xlsx"
    book.save(path)
    result = check_file(path)
    assert summary(result.findings) == {("SHEET_MISSING", None, T4, None, None, None),
                                        ("CACHED_MISSING", None, None, None, None, None)}
    assert result.status == "invalid"
    assert all(result.values[f"t4.review.{p}"] is None
               for p in ("upheld", "corrected", "other", "pending"))


def test_meta_sheet_removed_is_form_unknown(layout: Layout, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(io.BytesIO(issued(layout)))
    assert book[META_SHEET].sheet_state == "veryHidden"
    del book[META_SHEET]
    path = tmp_path / "no-meta.xlsx"
    book.save(path)
    result = check_file(path)
    assert codes(result) == ["FORM_UNKNOWN"]
    assert result.findings[0].severity.value == "fatal"
    assert result.status == "unusable"
    assert result.values == {}


# -- form versions ---------------------------------------------------------------------------

@pytest.mark.libreoffice
def test_other_version_with_other_structure_is_unusable(lo_fill) -> None:
    path = lo_fill([Edit(META_SHEET, meta_cell("form_version"), "0.9.0", "string"),
                    Edit(META_SHEET, meta_cell("fingerprint"), "0123456789abcdef", "string")])
    result = check_file(path)
    assert codes(result) == ["FORM_VERSION_MISMATCH"]
    assert result.findings[0].values == {"found": "0.9.0", "expected": layout_version()}
    assert result.status == "unusable"


def layout_version() -> str:
    return tomllib.loads(spec_path().read_text(encoding="utf-8"))["form"]["version"]


def spec_data() -> dict:
    return copy.deepcopy(tomllib.loads(spec_path().read_text(encoding="utf-8")))


def test_older_template_with_other_structure_is_unusable(layout: Layout) -> None:
    """A template rendered from an older spec (0.9.0, a row label worded differently)."""
    data = spec_data()
    data["form"]["version"] = "0.9.0"
    data["tables"][0]["blocks"][0]["rows"][1]["path"] = ["规范性文件"]
    old = layout_for(build_form(data))
    assert old.fingerprint != layout.fingerprint
    result = check_bytes(render(old, RenderOptions(identity=ISSUED, lock_identity=True)),
                         "old.xlsx")
    assert codes(result) == ["FORM_VERSION_MISMATCH"]
    assert result.status == "unusable"


@pytest.mark.libreoffice
def test_other_version_same_fingerprint_is_compatible(lo_fill) -> None:
    path = lo_fill([Edit(META_SHEET, meta_cell("form_version"), "0.9.0", "string")])
    result = check_file(path)
    assert [(f.code, f.severity.value) for f in result.findings] == [
        ("FORM_VERSION_COMPATIBLE", "info")]
    assert result.findings[0].values == {"found": "0.9.0", "expected": layout_version()}
    assert result.status == "valid"


def test_version_bump_without_layout_change_is_compatible(layout: Layout, values: dict
                                                          ) -> None:
    data = spec_data()
    data["form"]["version"] = "1.0.1"
    bumped = build_form(data)
    returned = render(layout, RenderOptions(identity=ISSUED, lock_identity=True,
                                            values=values))
    result = check_bytes(returned, "returned-1.0.0.xlsx", forms=lambda form_id: bumped)
    assert [(f.code, f.severity.value) for f in result.findings] == [
        ("FORM_VERSION_COMPATIBLE", "info")]
    assert result.status == "valid"


# -- identity -----------------------------------------------------------------------------

@pytest.mark.libreoffice
def test_issued_identity_edited(lo_fill, layout: Layout) -> None:
    name, year = layout.places["unit.name"], layout.places["year"]
    path = lo_fill([Edit(COVER, name.a1, "某区文化广电旅游体育局", "string"),
                    Edit(COVER, year.a1, "2023", "typed")])
    result = check_file(path)
    assert summary(result.findings) == {
        ("IDENTITY_EDITED", None, COVER, name.a1, "unit.name", None),
        ("IDENTITY_EDITED", None, COVER, year.a1, "year", None),
    }
    by_field = {f.field: f.values for f in result.findings}
    assert by_field["unit.name"] == {"found": "某区文化广电旅游体育局",
                                     "expected": "某区文化和广电旅游体育局"}
    assert by_field["year"] == {"found": "2023", "expected": "2022"}
    assert result.identity == ISSUED  # what the office issued wins
    assert result.status == "invalid"


# -- what is in an input cell -----------------------------------------------------------------

@pytest.mark.libreoffice
def test_formula_typed_into_an_input_cell(lo_fill, layout: Layout, values: dict) -> None:
    fid = "t3.granted.business"
    area = layout.places[fid]
    n = values[fid]
    path = lo_fill([Edit(T3, area.a1, f"={n}+1-1", "formula")], skip=(fid,))
    result = check_file(path)
    assert summary(result.findings) == {("VALUE_FORMULA", "R8", T3, area.a1, fid, None)}
    assert result.findings[0].values["found"] == f"={n}+1-1"
    assert result.values[fid] == n  # the formula's result, which Calc cached
    assert result.status == "invalid"


def test_wps_picture_in_an_input_cell(layout: Layout, values: dict, tmp_path: Path) -> None:
    """WPS stores a picture placed in a cell as a DISPIMG formula."""
    fid = "t3.granted.business"
    area = layout.places[fid]
    picture = '=_xlfn.DISPIMG("ID_x",1)'
    path = openpyxl_fill(issued(layout), layout, {**values, fid: picture},
                         tmp_path / "picture.xlsx")
    result = check_file(path)
    assert summary(result.findings) == {
        ("VALUE_PICTURE", "R8", T3, area.a1, fid, None),
        ("CACHED_MISSING", None, None, None, None, None),
    }
    assert result.values[fid] is None
    assert result.status == "invalid"


# -- cached results -------------------------------------------------------------------------

def sheet_member(data: bytes, sheet: str) -> str:
    """The zip member holding a sheet's XML, found through workbook.xml and its rels."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        book = ElementTree.fromstring(z.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    rid = next(s.get(f"{{{ns['r']}}}id") for s in book.iterfind("m:sheets/m:sheet", ns)
               if s.get("name") == sheet)
    target = next(r.get("Target") for r in rels.iterfind("p:Relationship", ns)
                  if r.get("Id") == rid)
    return target.lstrip("/") if target.startswith("/") else "xl/" + target


def set_cached(data: bytes, sheet: str, cell: str, value: str) -> bytes:
    """The workbook with the cached result <v> of one formula cell replaced."""
    member = sheet_member(data, sheet)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == member:
                pattern = re.compile(
                    rf'(<c r="{cell}"[^>]*>\s*<f[^>]*>[^<]*</f>\s*<v>)[^<]*(</v>)'.encode())
                body, n = pattern.subn(rb"\g<1>" + value.encode() + rb"\g<2>", body)
                assert n == 1, f"no cached formula result at {sheet}!{cell}"
            dst.writestr(info, body)
    return out.getvalue()


@pytest.mark.libreoffice
def test_cached_total_edited_in_the_xml(lo_fill, layout: Layout, values: dict,
                                        tmp_path: Path) -> None:
    fid = "t3.new.total"
    area = layout.places[fid]
    total = expected_totals(layout.form, values)[fid]
    data = lo_fill([]).read_bytes()
    assert openpyxl.load_workbook(io.BytesIO(data), data_only=True)[T3][area.a1].value == total
    path = tmp_path / "tampered.xlsx"
    path.write_bytes(set_cached(data, T3, area.a1, str(total + 5)))

    result = check_file(path)
    assert summary(result.findings) == {("CACHED_MISMATCH", None, T3, area.a1, fid, None)}
    assert result.findings[0].values == {"found": str(total + 5), "expected": str(total)}
    assert result.values[fid] == total  # recomputed, not the tampered cache
    assert result.status == "valid"  # a warning: the figures themselves are right
