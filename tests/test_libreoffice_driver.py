"""Tests of the LibreOffice driver (nianbao.testing.libreoffice) itself."""

from __future__ import annotations

import os
import signal
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from nianbao.testing.libreoffice import (
    INSTALL_HINT,
    CellView,
    Edit,
    LibreOffice,
    LibreOfficeError,
    find_soffice,
    libreoffice_available,
    require_libreoffice,
)

pytest_plugins = ["tests.conftest_libreoffice"]

SHEET = "表一"


def make_form(path: Path, *, password: str | None = None) -> Path:
    """A protected sheet: unlocked inputs B2:B3, a locked SUM in B4 cached as 0, a locked label,
    a locked constant in B6 and a hidden second sheet."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(SHEET)
    unlocked = wb.add_format({"locked": False})
    ws.write_string("A1", "政府信息公开情况")
    ws.write_number("B2", 0, unlocked)
    ws.write_number("B3", 5, unlocked)
    ws.write_formula("B4", "=SUM(B2:B3)", None, 0)
    ws.write_formula("B5", "=B4*2", None, 0)
    ws.write_number("B6", 41)
    ws.write_formula("C1", "=1/0", None, 0)
    ws.protect(password or "")
    hidden = wb.add_worksheet("隐藏")
    hidden.write_number("A1", 1)
    hidden.hide()
    wb.close()
    return path


@pytest.fixture
def form(tmp_path: Path) -> Path:
    return make_form(tmp_path / "年报模板.xlsx")


def cached(path: Path, sheet: str = SHEET) -> openpyxl.worksheet.worksheet.Worksheet:
    return openpyxl.load_workbook(path, data_only=True)[sheet]


def formulas(path: Path, sheet: str = SHEET) -> openpyxl.worksheet.worksheet.Worksheet:
    return openpyxl.load_workbook(path)[sheet]


# -- without LibreOffice ---------------------------------------------------------------------


def test_edit_validates_its_fields() -> None:
    assert Edit(SHEET, "D7", 1).kind == "auto"
    with pytest.raises(ValueError, match="kind"):
        Edit(SHEET, "D7", 1, kind="number")
    with pytest.raises(ValueError, match="A1"):
        Edit(SHEET, "D7:D8", 1)
    with pytest.raises(TypeError):
        Edit(SHEET, "D7", 5, kind="formula")
    with pytest.raises(TypeError):
        Edit(SHEET, "D7", [1])  # type: ignore[arg-type]


def test_require_libreoffice_explains_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIANBAO_UNO_PYTHON", "/nonexistent/python3")
    assert not libreoffice_available()
    with pytest.raises(LibreOfficeError, match="cannot 'import uno'") as info:
        require_libreoffice()
    assert INSTALL_HINT in str(info.value)


def test_fixture_fails_unless_skip_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import conftest_libreoffice  # imported by pytest_plugins already

    def missing() -> None:
        raise LibreOfficeError(f"missing; install it with: {INSTALL_HINT}")

    monkeypatch.setattr(conftest_libreoffice, "libreoffice_available", lambda: False)
    monkeypatch.setattr(conftest_libreoffice, "require_libreoffice", missing)
    monkeypatch.delenv("NIANBAO_SKIP_LIBREOFFICE", raising=False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install"):
        conftest_libreoffice.check_libreoffice()
    monkeypatch.setenv("NIANBAO_SKIP_LIBREOFFICE", "1")
    with pytest.raises(pytest.skip.Exception):
        conftest_libreoffice.check_libreoffice()


# -- with LibreOffice ------------------------------------------------------------------------


@pytest.mark.libreoffice
def test_libreoffice_is_found(libreoffice: LibreOffice) -> None:
    soffice = find_soffice()
    assert soffice is not None and os.access(soffice, os.X_OK)
    assert libreoffice_available()
    assert libreoffice.soffice_pid is not None


@pytest.mark.libreoffice
def test_fill_protected_sheet_recalcs_and_saves(
    libreoffice: LibreOffice, form: Path, tmp_path: Path
) -> None:
    assert cached(form)["B4"].value == 0  # xlsxwriter's cached result
    out = tmp_path / "filled.xlsx"
    libreoffice.fill(
        form,
        out,
        [
            Edit(SHEET, "B2", 7),  # unlocked input
            Edit(SHEET, "A1", "改过的标签"),  # locked label on a protected sheet
            Edit(SHEET, "B6", 42.5),  # locked constant
        ],
    )
    ws = cached(out)
    assert ws["B4"].value == 12
    assert ws["B5"].value == 24
    assert ws["A1"].value == "改过的标签"
    assert ws["B6"].value == 42.5
    ws = formulas(out)
    assert ws["B4"].value == "=SUM(B2:B3)"
    assert ws.protection.sheet  # still protected
    assert ws["B2"].protection.locked is False
    assert ws["B4"].protection.locked is True


@pytest.mark.libreoffice
def test_filler_overwrites_a_locked_formula(
    libreoffice: LibreOffice, form: Path, tmp_path: Path
) -> None:
    out = tmp_path / "overwritten.xlsx"
    libreoffice.fill(form, out, [Edit(SHEET, "B4", 100), Edit(SHEET, "B3", 1)])
    assert formulas(out)["B4"].value == 100
    assert cached(out)["B5"].value == 200


@pytest.mark.libreoffice
def test_edit_kinds(libreoffice: LibreOffice, form: Path, tmp_path: Path) -> None:
    out = tmp_path / "kinds.xlsx"
    libreoffice.fill(
        form,
        out,
        [
            Edit(SHEET, "D1", "12", kind="string"),
            Edit(SHEET, "D2", 12, kind="string"),
            Edit(SHEET, "D3", "12", kind="typed"),
            Edit(SHEET, "D4", "abc", kind="typed"),
            Edit(SHEET, "D5", "=5+3", kind="formula"),
            Edit(SHEET, "D6", "=B4+1", kind="typed"),
            Edit(SHEET, "D7", "12"),  # auto: a str stays text
            Edit(SHEET, "D8", 2.5),  # auto: a number
        ],
    )
    ws = cached(out)
    assert ws["D1"].value == "12"
    assert ws["D2"].value == "12"
    assert ws["D3"].value == 12 and not isinstance(ws["D3"].value, str)
    assert ws["D4"].value == "abc"
    assert ws["D5"].value == 8
    assert ws["D6"].value == 6
    assert ws["D7"].value == "12"
    assert ws["D8"].value == 2.5
    ws = formulas(out)
    assert ws["D5"].value == "=5+3"
    assert ws["D6"].value == "=B4+1"


@pytest.mark.libreoffice
def test_none_clears_cells_even_locked_ones(
    libreoffice: LibreOffice, form: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cleared.xlsx"
    libreoffice.fill(form, out, [Edit(SHEET, "B3", None), Edit(SHEET, "B6", None)])
    ws = cached(out)
    assert ws["B3"].value is None
    assert ws["B6"].value is None
    assert ws["B4"].value == 0
    assert formulas(out).protection.sheet  # protection restored after clearing B6


@pytest.mark.libreoffice
def test_clearing_a_locked_cell_under_a_password_is_an_error(
    libreoffice: LibreOffice, tmp_path: Path
) -> None:
    src = make_form(tmp_path / "pw.xlsx", password="secret")
    out = tmp_path / "pw-out.xlsx"
    # setting values works whatever the password ...
    libreoffice.fill(src, out, [Edit(SHEET, "B6", 1), Edit(SHEET, "B3", None)])
    assert cached(out)["B6"].value == 1
    # ... clearing a locked cell cannot
    with pytest.raises(LibreOfficeError, match="password"):
        libreoffice.fill(src, out, [Edit(SHEET, "B6", None)])


@pytest.mark.libreoffice
def test_hidden_sheet_can_be_edited(libreoffice: LibreOffice, form: Path, tmp_path: Path) -> None:
    out = tmp_path / "hidden.xlsx"
    libreoffice.fill(form, out, [Edit("隐藏", "A2", 3)])
    wb = openpyxl.load_workbook(out)
    assert wb["隐藏"].sheet_state == "hidden"
    assert wb["隐藏"]["A2"].value == 3


@pytest.mark.libreoffice
def test_output_formats(libreoffice: LibreOffice, form: Path, tmp_path: Path) -> None:
    edits = [Edit(SHEET, "B2", 1)]
    libreoffice.fill(form, tmp_path / "o.xls", edits, fmt="xls")
    assert (tmp_path / "o.xls").read_bytes()[:4] == bytes.fromhex("D0CF11E0")
    libreoffice.fill(form, tmp_path / "o.ods", edits, fmt="ods")
    with zipfile.ZipFile(tmp_path / "o.ods") as z:
        assert z.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
    libreoffice.fill(form, tmp_path / "o.csv", edits, fmt="csv")
    lines = (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith('"政府信息公开情况"')
    assert lines[3].split(",")[1] == "6"  # B4 recalculated
    # what LibreOffice wrote it reads back
    for name in ("o.xls", "o.ods"):
        view = libreoffice.read(tmp_path / name, [(SHEET, "B4")])[(SHEET, "B4")]
        assert view.value == 6
    with pytest.raises(ValueError, match="fmt"):
        libreoffice.fill(form, tmp_path / "o.pdf", edits, fmt="pdf")


@pytest.mark.libreoffice
def test_read_shows_what_calc_shows(libreoffice: LibreOffice, form: Path) -> None:
    cells = [(SHEET, "A1"), (SHEET, "B3"), (SHEET, "B4"), (SHEET, "C1"), (SHEET, "Z99")]
    views = libreoffice.read(form, cells)
    assert list(views) == cells
    assert views[(SHEET, "A1")] == CellView(0.0, "政府信息公开情况", "政府信息公开情况", "TEXT")
    assert views[(SHEET, "B3")] == CellView(5.0, "5", "5", "VALUE")
    # Calc does not recalculate xlsx on load: the cached 0 shows ...
    assert views[(SHEET, "B4")] == CellView(0.0, "0", "=SUM(B2:B3)", "FORMULA")
    assert views[(SHEET, "Z99")].type == "EMPTY"
    # ... unless asked to
    views = libreoffice.read(form, cells, recalc=True)
    assert views[(SHEET, "B4")].value == 5
    assert views[(SHEET, "C1")].string == "#DIV/0!"
    assert views[(SHEET, "C1")].error == 532


@pytest.mark.libreoffice
def test_source_is_never_modified(libreoffice: LibreOffice, form: Path, tmp_path: Path) -> None:
    before = form.read_bytes()
    mtime = form.stat().st_mtime_ns
    libreoffice.fill(form, tmp_path / "out.xlsx", [Edit(SHEET, "B2", 9)])
    libreoffice.recalc_save(form, tmp_path / "out2.xlsx")
    libreoffice.read(form, [(SHEET, "B4")], recalc=True)
    assert form.read_bytes() == before
    assert form.stat().st_mtime_ns == mtime
    leftovers = sorted(
        p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.suffix == ".part"
    )
    assert leftovers == []  # no .~lock.*# files, no temporary outputs
    assert cached(tmp_path / "out2.xlsx")["B4"].value == 5


@pytest.mark.libreoffice
def test_errors_are_reported_and_the_office_stays_usable(
    libreoffice: LibreOffice, form: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.xlsx"
    with pytest.raises(LibreOfficeError, match="no sheet 'Nope'"):
        libreoffice.fill(form, out, [Edit("Nope", "A1", 1)])
    assert not out.exists()
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04 this is not a workbook")
    with pytest.raises(LibreOfficeError, match="cannot open"):
        libreoffice.fill(bad, out, [])
    with pytest.raises(FileNotFoundError):
        libreoffice.fill(tmp_path / "missing.xlsx", out, [])
    with pytest.raises(LibreOfficeError, match="does not exist"):
        libreoffice.fill(form, tmp_path / "no" / "such" / "dir.xlsx", [])
    libreoffice.fill(form, out, [Edit(SHEET, "B2", 1)])
    assert cached(out)["B4"].value == 6


@pytest.mark.libreoffice
def test_twenty_fills_on_one_instance(libreoffice: LibreOffice, form: Path, tmp_path: Path) -> None:
    pid = libreoffice.soffice_pid
    for i in range(20):
        out = tmp_path / f"fill-{i}.xlsx"
        libreoffice.fill(form, out, [Edit(SHEET, "B2", i), Edit(SHEET, "B3", 2 * i)])
        assert cached(out)["B4"].value == 3 * i
    assert libreoffice.soffice_pid == pid  # one office throughout


@pytest.mark.libreoffice
def test_instances_are_independent_restart_and_clean_up(form: Path, tmp_path: Path) -> None:
    from tests import conftest_libreoffice

    conftest_libreoffice.check_libreoffice()
    workdir = tmp_path / "work"
    with LibreOffice(workdir=workdir) as one, LibreOffice(workdir=workdir) as two:
        assert one.soffice_pid != two.soffice_pid
        assert len(list(workdir.iterdir())) == 2  # a private profile each
        one.fill(form, tmp_path / "one.xlsx", [Edit(SHEET, "B2", 1)])
        two.fill(form, tmp_path / "two.xlsx", [Edit(SHEET, "B2", 2)])
        # a dead worker, or a dead office, is restarted and the request retried
        worker = one.worker_pid
        assert worker is not None
        os.killpg(worker, signal.SIGKILL)
        one.fill(form, tmp_path / "one.xlsx", [Edit(SHEET, "B2", 3)])
        assert one.starts == 2
        assert cached(tmp_path / "one.xlsx")["B4"].value == 8
        soffice = one.soffice_pid
        assert soffice is not None
        os.killpg(soffice, signal.SIGKILL)
        one.fill(form, tmp_path / "one.xlsx", [Edit(SHEET, "B2", 5)])
        assert one.starts == 3
        assert cached(tmp_path / "one.xlsx")["B4"].value == 10
        assert cached(tmp_path / "two.xlsx")["B4"].value == 7
        pids = [p for p in (one.soffice_pid, two.soffice_pid, one.worker_pid) if p]
    assert list(workdir.iterdir()) == []
    for pid in pids:
        assert not _running(pid)
    with pytest.raises(LibreOfficeError, match="closed"):
        one.fill(form, tmp_path / "one.xlsx", [])


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
