"""Revalidation from kept extracts: the same verdicts as reading every file again, the
current rules applied, and a full re-read whenever the extract's key no longer matches."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from nianbao.collect.extract import extract_key
from nianbao.collect.intake import collect
from nianbao.collect.ledger import Ledger
from nianbao.collect.revalidate import revalidate
from nianbao.spec.load import load_form, spec_path
from tests.badfiles import sample_xlsx
from tests.collect_helpers import RECEIVED, complete_values, issue, make_workspace, put


def mixed_inbox(ws, folder: Path) -> Path:
    """Valid, invalid (R1, text, negative), a warning, another year, garbage."""
    put(folder, "a.xlsx", issue(ws, "330599-002"))
    put(folder, "b.xlsx", issue(ws, "330599-003", complete_values(t3__new__business=4)))
    put(folder, "c.xlsx", issue(ws, "330599-007", complete_values(t2__penalty="12件")))
    put(folder, "d.xlsx", issue(ws, "330599-008", complete_values(t2__licensing=-1)))
    put(folder, "e.xlsx", issue(ws, "330599-012", year=2021))
    put(folder, "f.xlsx", b"not a workbook at all")
    put(folder, "g.xlsx", sample_xlsx())
    return folder


def verdicts(ledger: Ledger) -> dict[int, tuple]:
    return {r.id: (r.verdict.status, r.verdict.reason, r.verdict.errors, r.verdict.warnings,
                   sorted((f["code"], f.get("cell"), f.get("rule"))
                          for f in r.verdict.findings))
            for r in ledger.rows()}


@pytest.fixture
def collected(tmp_path: Path, ledger_backend: str):
    ws, ledger = make_workspace(tmp_path / "ws")
    collect(ws, ledger, [mixed_inbox(ws, tmp_path / "inbox")], received_at=RECEIVED)
    yield ws, ledger
    ledger.close()


def test_extracts_are_kept_for_every_readable_submission(collected) -> None:
    _, ledger = collected
    kept = ledger.extracts(extract_key(load_form()))
    readable = [r.id for r in ledger.rows() if r.verdict.form_id is not None]
    assert sorted(kept) == sorted(readable)
    assert len(readable) == 5  # a-e; the garbage and the unsigned plain workbook read nothing


def test_from_extracts_equals_reading_again(collected) -> None:
    ws, ledger = collected
    before = verdicts(ledger)
    fast = revalidate(ws, ledger)
    assert (fast.changes, fast.reread) == ([], 2)  # only the two unreadable files re-read
    full = revalidate(ws, ledger, reread=True)
    assert (full.changes, full.reread) == ([], 7)
    assert verdicts(ledger) == before


def test_a_stale_key_makes_revalidate_read_the_file(collected) -> None:
    ws, ledger = collected
    with ledger.transaction():
        ledger.db.execute("UPDATE extracts SET key = 'nianbao 0.0.0:old'")
    report = revalidate(ws, ledger)
    assert (report.reread, report.changes) == (7, [])
    assert len(ledger.extracts(extract_key(load_form()))) == 5  # kept again, under today's key


def test_a_rule_change_applies_from_the_extract(collected, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """R1 made a warning in a spec with the same layout: the extract still serves, and the
    unit whose R1 broke becomes valid."""
    ws, ledger = collected
    templates = tmp_path / "templates"
    templates.mkdir()
    text = spec_path().read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert data["rules"][0]["id"] == "R1"
    text = text.replace('id = "R1"\nseverity = "error"', 'id = "R1"\nseverity = "warning"', 1)
    text = text.replace('version = "1.0.0"', 'version = "1.1.0"', 1)
    (templates / spec_path().name).write_text(text, encoding="utf-8")
    shutil.copy(spec_path(), tmp_path / "original.toml")
    monkeypatch.setenv("NIANBAO_TEMPLATES", str(templates))
    load_form.cache_clear()
    try:
        relaxed = load_form()
        assert relaxed.rule("R1").severity == "warning"
        assert extract_key(relaxed) == extract_key(_original(tmp_path))  # same layout
        report = revalidate(ws, ledger)
    finally:
        monkeypatch.delenv("NIANBAO_TEMPLATES")
        load_form.cache_clear()
    assert report.reread == 2
    changed = {c["file"]: (c["status_before"], c["status_after"]) for c in report.changes}
    assert changed == {"b.xlsx": ("invalid", "valid")}


def _original(folder: Path):
    from nianbao.spec.load import load_spec

    return load_spec(folder / "original.toml")
