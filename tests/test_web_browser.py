"""The portal in a real browser: Playwright drives Debian's chromium against `nianbao serve`.

A unit downloads its template, LibreOffice fills it, the unit uploads it through the page
and sees 通过; another uploads one with an imbalance, sees the finding by its row label and
downloads the feedback workbook; the office's dashboard shows both, with the counts of
`status --json`. Screenshots of every page go to test-artifacts/portal/ (or
$NIANBAO_ARTIFACTS/portal). Without chromium the test fails, unless NIANBAO_SKIP_BROWSER=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nianbao.check import check_file
from nianbao.testing.libreoffice import LibreOffice
from nianbao.web.tokens import office_secret
from tests.collect_helpers import complete_values, lo_fill, make_workspace
from tests.web_helpers import NIANBAO, link_path, served

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("NIANBAO_CHROMIUM", "/usr/bin/chromium")
SKIP_ENV = "NIANBAO_SKIP_BROWSER"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"chromium is not installed ({SKIP_ENV}=1)")
        pytest.fail(f"chromium not found at {CHROMIUM}: apt-get install chromium "
                    f"(or set {SKIP_ENV}=1 to skip the browser tests)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def artifacts() -> Path:
    folder = Path(os.environ.get("NIANBAO_ARTIFACTS", ROOT / "test-artifacts")) / "portal"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _fill_and_upload(page: Any, base: str, link: str, tmp: Path, lo: LibreOffice,
                     values: dict[str, Any], shot: str) -> None:
    page.goto(base + link)
    with page.expect_download() as got:
        page.click("#download-template")
    template = tmp / f"{shot}-template.xlsx"
    got.value.save_as(template)
    filled = lo_fill(lo, template, tmp / f"{shot}-填好的.xlsx", values)
    page.set_input_files("#file", str(filled))
    page.click("#upload-button")
    page.wait_for_selector("#verdict")
    page.screenshot(path=str(artifacts() / f"{shot}-result.png"), full_page=True)


@pytest.mark.libreoffice
def test_units_and_office_in_a_browser(tmp_path: Path, browser: Any,
                                       libreoffice: LibreOffice) -> None:
    from playwright.sync_api import expect

    ws, ledger = make_workspace(tmp_path / "ws")
    ledger.close()
    with served(ws.root) as base:
        page = browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page.goto(base + link_path(ws.key, "330599-002"))
        assert page.inner_text("#unit-state") == "未报送"
        page.screenshot(path=str(artifacts() / "unit-page.png"), full_page=True)

        _fill_and_upload(page, base, link_path(ws.key, "330599-002"), tmp_path, libreoffice,
                         complete_values(), "unit-a")
        assert page.inner_text("#verdict") == "通过"

        _fill_and_upload(page, base, link_path(ws.key, "330599-003"), tmp_path, libreoffice,
                         complete_values(t3__new__natural_person=11), "unit-b")
        assert page.inner_text("#verdict") == "有错误"
        places = page.locator("td.place").all_inner_texts()
        assert "一、本年新收政府信息公开申请数量 / 自然人" in places
        with page.expect_download() as got:
            page.click("#download-feedback")
        feedback = tmp_path / "反馈.xlsx"
        got.value.save_as(feedback)
        assert check_file(feedback).identity["unit.code"] == "330599-003"
        page.goto(base + link_path(ws.key, "330599-003"))
        assert page.inner_text("#unit-state") == "有错误"
        page.screenshot(path=str(artifacts() / "unit-page-after.png"), full_page=True)

        page.goto(f"{base}/office/signin/{office_secret(ws.key)}")
        page.wait_for_selector("#count-valid")
        page.screenshot(path=str(artifacts() / "dashboard.png"), full_page=True)
        shown = {k: int(page.inner_text(f"#count-{k}"))
                 for k in ("units", "valid", "invalid", "rejected", "missing")}
        page.select_option("select[name=state]", "invalid")  # htmx swaps the table in
        expect(page.locator("#unit-table tbody tr")).to_have_count(1, timeout=30_000)  # no eval
        assert "330599-003" in page.inner_text("#unit-table")
        page.goto(f"{base}/office/unit/330599-003")
        page.screenshot(path=str(artifacts() / "office-unit.png"), full_page=True)
    status = subprocess.run([str(NIANBAO), "status", "-w", str(ws.root), "--json"],
                            capture_output=True, text=True, check=True)
    totals = json.loads(status.stdout)["totals"]
    assert shown == {k: totals[k] for k in shown} == {
        "units": 5, "valid": 1, "invalid": 1, "rejected": 0, "missing": 3}
