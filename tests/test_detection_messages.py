"""Detection messages name what the file really is and what was not read: a CSV exported by
LibreOffice (in whatever code page) and renamed .xlsx, JSON, a literal apostrophe before a
number, and content outside the form (an extra 合计 row, a copied sheet, merged input cells),
the same with the fast reader and openpyxl."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from nianbao.check import check_bytes
from nianbao.read.openpyxl_reader import read_openpyxl
from nianbao.read.precheck import precheck_bytes
from nianbao.testing.libreoffice import LibreOffice
from tests.collect_helpers import complete_values, unsigned

IDENTITY = {"unit.code": "330599", "unit.name": "青溪区人民政府办公室", "year": 2022}
T3 = "依申请公开"
READERS = {"fast": {}, "openpyxl": {"reader": read_openpyxl}}


def both(data: bytes) -> list[list[tuple[str, str, str | None, str | None, str]]]:
    """The findings of each reader, comparable."""
    return [[(f.code, f.severity.value, f.sheet, f.cell, f.message)
             for f in check_bytes(data, "退回.xlsx", **kw).findings] for kw in READERS.values()]


def edited(values: dict[str, Any], edit: Any) -> bytes:
    """A filled template changed by `edit(workbook)` and saved by openpyxl."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(unsigned(values, **IDENTITY)))
        edit(wb)
        buf = io.BytesIO()
        wb.save(buf)
    return buf.getvalue()


# --- what the file is ------------------------------------------------------------------------


@pytest.mark.libreoffice
def test_a_csv_libreoffice_exported_is_called_a_csv(libreoffice: LibreOffice,
                                                    tmp_path: Path) -> None:
    src = tmp_path / "表.xlsx"
    src.write_bytes(unsigned(complete_values(), **IDENTITY))
    exported = tmp_path / "表.csv"
    libreoffice.recalc_save(src, exported, fmt="csv")
    pre = precheck_bytes(exported.read_bytes(), "表.xlsx")  # renamed: only bytes count
    assert (pre.kind, [f.code for f in pre.findings]) == ("csv", ["FILE_CSV"])


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "big5", "shift_jis", "utf-8"])
def test_a_csv_in_any_code_page_is_called_a_csv(encoding: str) -> None:
    # what LibreOffice writes without a Chinese or UTF-8 code page: Chinese as "?", curly
    # quotes as 0x93/0x94
    text = "“???”,,\r\n????,2022,\r\n??,“?”,12\r\n,,\r\n" if encoding in ("cp1252", "latin-1") \
        else "政府信息公开,,\r\n单位名称,2022,\r\n合计,12,3\r\n"
    data = text.encode(encoding, errors="replace")
    pre = precheck_bytes(data, "表.xlsx")
    assert (pre.kind, pre.findings[0].code) == ("csv", "FILE_CSV")


@pytest.mark.parametrize("data", [
    json.dumps({"unit": "青溪区", "t3": [1, 2, 3]}, ensure_ascii=False).encode(),
    b'[{"a": 1}, {"a": 2}]',
    b"\xef\xbb\xbf" + b'{"rows": [' + b'{"value": 12, "label": "x"},' * 2000 + b'{}]}',
    json.dumps([1, 2, 3]).encode("utf-16"),
])
def test_json_is_called_json_not_csv(data: bytes) -> None:
    pre = precheck_bytes(data, "表.xlsx")
    assert pre.kind == "not-zip"
    assert [f.code for f in pre.findings] == ["FILE_NOT_XLSX"]
    assert "JSON" in pre.findings[0].message and pre.findings[0].file == "表.xlsx"


@pytest.mark.parametrize("text", ["[1],2\n3,4\n", "{a},b\nc,d\n", "a,b\n1,2\n"])
def test_a_csv_that_only_starts_like_json_stays_a_csv(text: str) -> None:
    assert precheck_bytes(text.encode(), "表.xlsx").kind == "csv"


# --- what was typed --------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["'12", "＇１２", "’12件"])
def test_a_literal_apostrophe_is_read_with_a_warning(typed: str) -> None:
    values = complete_values(t3__new__natural_person=typed, t3__carried_over__natural_person=0,
                             t3__granted__natural_person=7, t3__unable__not_held__natural_person=1)
    data = unsigned(values, **IDENTITY)
    fast, reference = both(data)
    assert fast == reference
    result = check_bytes(data, "退回.xlsx")
    assert result.values["t3.new.natural_person"] == 12
    found = [f for f in result.findings if f.field == "t3.new.natural_person"]
    assert [(f.code, f.severity.value) for f in found] == [("VALUE_NORMALISED", "warning")]
    assert "撇号" in found[0].message and "12" in found[0].message
    assert not any(f.code == "VALUE_TEXT" for f in result.findings)


# --- what lies outside the form --------------------------------------------------------------


def extra_total_row(wb: Any) -> None:
    ws = wb[T3]
    ws["A45"] = "合计"
    for col in "DEFGHIJ":
        ws[f"{col}45"] = 12


def copied_sheet(wb: Any) -> None:
    wb.copy_worksheet(wb["主动公开"])


def merged_inputs(wb: Any) -> None:
    wb[T3].merge_cells("D7:E7")


@pytest.mark.parametrize(("edit", "code", "where", "said"), [
    (extra_total_row, "CONTENT_IGNORED", (T3, "A45"), "A45、D45:J45，共 8 个单元格"),
    (copied_sheet, "CONTENT_IGNORED", ("主动公开 Copy", None), "模板中没有此工作表"),
    (merged_inputs, "CELLS_MERGED", (T3, "D7"), "D7:E7，含 2 个填报单元格"),
])
def test_content_outside_the_form_is_noted(edit: Any, code: str, where: tuple[str, Any],
                                           said: str) -> None:
    data = edited(complete_values(), edit)
    fast, reference = both(data)
    assert fast == reference
    notes = [f for f in check_bytes(data, "退回.xlsx").findings
             if f.code in ("CONTENT_IGNORED", "CELLS_MERGED")]
    assert [(f.code, f.sheet, f.cell) for f in notes] == [(code, *where)]
    assert said in notes[0].message
    assert notes[0].severity.value == ("info" if code == "CONTENT_IGNORED" else "warning")


def test_an_untouched_template_has_nothing_outside() -> None:
    data = edited(complete_values(), lambda wb: None)
    for found in both(data):
        assert not [f for f in found if f[0] in ("CONTENT_IGNORED", "CELLS_MERGED")]


@pytest.mark.libreoffice
def test_a_libreoffice_saved_return_has_nothing_outside(libreoffice: LibreOffice,
                                                       tmp_path: Path) -> None:
    src = tmp_path / "表.xlsx"
    src.write_bytes(unsigned(complete_values(), **IDENTITY))
    saved = tmp_path / "另存.xlsx"
    libreoffice.recalc_save(src, saved)
    for found in both(saved.read_bytes()):
        assert not [f for f in found if f[0] in ("CONTENT_IGNORED", "CELLS_MERGED")]
