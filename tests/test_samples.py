"""samples/ (made by scripts/make_samples.py with LibreOffice): every returned workbook gets
exactly the verdict its manifest promises, from the library and from the CLI."""

from __future__ import annotations

import csv
import functools
import json
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nianbao.check import CheckResult, check_file
from nianbao.cli import app
from nianbao.findings import Finding
from nianbao.read.normalise import NA

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
RETURNS = SAMPLES / "returns"
MANIFEST = json.loads((RETURNS.parent / "returns-manifest.json").read_text(encoding="utf-8"))
FILES: dict[str, dict[str, Any]] = MANIFEST["files"]
NAMES = sorted(FILES)



@functools.cache
def checked(name: str) -> CheckResult:
    return check_file(RETURNS / name)


def matches(finding: Finding, want: dict[str, Any]) -> bool:
    """Every key of `want` matches: location attributes, else the finding's values."""
    for key, value in want.items():
        if key in ("code", "rule", "sheet", "cell", "field"):
            if getattr(finding, key) != value:
                return False
        elif finding.values.get(key) != value:
            return False
    return True


def test_manifest_lists_exactly_the_files() -> None:
    on_disk = sorted(p.name for p in RETURNS.glob("*.xlsx"))
    assert on_disk == NAMES
    assert len(NAMES) >= 13
    statuses = [FILES[n]["status"] for n in NAMES]
    assert {"valid", "invalid", "unusable"} == set(statuses)
    assert statuses.count("valid") >= 6


@pytest.mark.parametrize("name", NAMES)
def test_saved_by_libreoffice(name: str) -> None:
    with zipfile.ZipFile(RETURNS / name) as z:
        app_xml = z.read("docProps/app.xml").decode()
    assert "LibreOffice" in app_xml


@pytest.mark.parametrize("name", NAMES)
def test_sample_status_and_findings(name: str) -> None:
    expected = FILES[name]
    result = checked(name)
    assert result.status == expected["status"]
    for want in expected["findings"]:
        assert any(matches(f, want) for f in result.findings), (want, result.to_dict())
    if expected["status"] != "unusable":
        assert result.identity == {"unit.code": expected["unit.code"],
                                   "unit.name": expected["unit.name"],
                                   "year": MANIFEST["year"]}


@pytest.mark.parametrize("name", NAMES)
def test_sample_codes_are_exactly_the_manifest(name: str) -> None:
    result = checked(name)
    assert sorted({f.code for f in result.findings}) == FILES[name]["codes"]


def test_example_report_figures() -> None:
    """The culture bureau's return holds the figures of the published 2022 report."""
    name = next(n for n in NAMES if "文化和广电旅游体育局" in n)
    values = checked(name).values
    t2 = {k: v for k, v in values.items() if k.startswith("t2.")}
    assert t2 == {
        "t2.regulations.issued": 0, "t2.regulations.repealed": 0,
        "t2.regulations.in_force": 0, "t2.normative_docs.issued": 1,
        "t2.normative_docs.repealed": 1, "t2.normative_docs.in_force": 3,
        "t2.licensing": 38, "t2.penalty": 23, "t2.enforcement": 0,
        "t2.fees_wan_yuan": Decimal("0"),
    }
    assert {v for k, v in values.items() if k.startswith(("t3.", "t4."))} == {0}
    assert "信息处理费" in values["text.other"]


def test_realistic_samples_have_applications_and_odd_entries() -> None:
    results = {n: checked(n) for n in NAMES if FILES[n]["status"] == "valid"}
    busy = [r for r in results.values() if (r.values.get("t3.new.total") or 0) > 0]
    assert len(busy) >= 5
    assert sum(1 for r in busy if r.values["t3.carry_forward.total"] > 0) >= 3
    assert Decimal("12.35") in {r.values["t2.fees_wan_yuan"] for r in results.values()}
    na = [r for r in results.values() if r.values["t2.regulations.issued"] is NA]
    assert len(na) == 1 and "/" in na[0].values["note.t2"]
    for r in busy:
        assert all(r.values[f] for f in ("text.overview", "text.problems", "text.other"))


def roster() -> list[dict[str, str]]:
    with (SAMPLES / "roster.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_roster_matches_the_samples() -> None:
    rows = roster()
    assert list(rows[0]) == ["code", "name", "parent", "contact", "deadline"]
    codes = [r["code"] for r in rows]
    assert len(set(codes)) == len(codes)
    by_code = {r["code"]: r for r in rows}
    returned = set()
    for name in NAMES:
        code = FILES[name]["unit.code"]
        assert by_code[code]["name"] == FILES[name]["unit.name"], name
        returned.add(code)
    assert len(set(codes) - returned) >= 2  # units that never return a file
    assert all(r["name"] and r["contact"] for r in rows)
    # parent: the code of the unit above; one unit (the collecting office) heads the list
    assert [r["code"] for r in rows if not r["parent"]] == ["330599"]
    assert all(r["parent"] in by_code for r in rows if r["parent"])


def test_cli_check_json_lists_every_file() -> None:
    paths = [str(RETURNS / n) for n in NAMES]
    result = CliRunner().invoke(app, ["check", "--json", *paths])
    assert result.exit_code == 2, result.output  # one sample is unusable
    report = json.loads(result.stdout)
    assert [f["file"] for f in report["files"]] == paths
    assert {Path(f["file"]).name: f["status"] for f in report["files"]} == {
        n: FILES[n]["status"] for n in NAMES}
    counts = {s: sum(FILES[n]["status"] == s for n in NAMES)
              for s in ("valid", "invalid", "unusable")}
    assert report["summary"] == {"files": len(NAMES), **counts, "exit_code": 2}
