"""Reporting upward level by level (`merge --into`): three levels built here, a province
with two cities, a city with two counties, a county with three units. LibreOffice fills the
seven unit returns; every level above only runs nianbao. The province's totals must equal
the sum of the seven files exactly, and its provenance tree must end in those seven files.
A template issued to another county, for another year, or altered is refused with why.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from nianbao.check import check_file
from nianbao.cli import app
from nianbao.collect.distribute import distribute, issue_options, template_name
from nianbao.collect.intake import collect
from nianbao.collect.ledger import Ledger
from nianbao.collect.roster import load_roster
from nianbao.collect.workspace import Workspace, init_workspace
from nianbao.merge.provenance import FORMAT, ProvenanceError, from_meta, meta_entries
from nianbao.merge.totals import merge
from nianbao.merge.upward import UpwardRefused, return_workbook
from nianbao.read.normalise import NA, to_json
from nianbao.render.workbook import render
from nianbao.testing.libreoffice import LibreOffice
from tests.collect_helpers import LAYOUT, RECEIVED, complete_values, lo_fill, put

FORM = LAYOUT.form
YEAR = 2022
NUMERIC = [fid for fid, f in FORM.fields.items() if f.numeric]

# office code, office name, roster (code, name) of the units it collects
LEVELS = {
    "province": ("33", "浙东省人民政府办公厅", [("3301", "东湖市"), ("3302", "西山市")]),
    "east": ("3301", "东湖市", [("330101", "青溪县"), ("330102", "白石县")]),
    "west": ("3302", "西山市", [("330201", "西山市教育局"), ("330202", "西山市民政局")]),
    "qingxi": ("330101", "青溪县", [("330101-001", "青溪县发展和改革局"),
                                   ("330101-002", "青溪县教育局"),
                                   ("330101-003", "青溪县城关镇人民政府")]),
    "baishi": ("330102", "白石县", [("330102-001", "白石县民政局"),
                                   ("330102-002", "白石县司法局")]),
}
ABOVE = {"east": "province", "west": "province", "qingxi": "east", "baishi": "east"}
UNITS = ("330101-001", "330101-002", "330101-003", "330102-001", "330102-002", "330201",
         "330202")
TEXT = """东湖市2022年政府信息公开工作年度报告

一、总体情况
2022年，东湖市各级行政机关认真贯彻落实《中华人民共和国政府信息公开条例》。

五、存在的主要问题及改进情况
个别单位报送不够及时，下一年度将加强督促。

六、其他需要报告的事项
本年度全市未收取信息处理费。
"""


def run(*args: Any) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def unit_values(k: int) -> dict[str, Any]:
    """Unit k's return: the clean record scaled by k (rules are linear, so it balances),
    fees with cents; every unit writes "/" in one field and leaves another blank, and only
    some units fill a third."""
    values = {fid: v * k if isinstance(v, int) else v for fid, v in complete_values().items()}
    values["t2.fees_wan_yuan"] = float(Decimal("1.15") * k)  # typed as 1.15, 2.3, ...
    values["t2.regulations.issued"] = "/"      # every unit: not applicable
    del values["t2.penalty"]                    # every unit: blank
    if k % 3:
        del values["t2.enforcement"]            # blank here, a figure in units 3 and 6
    return values


@dataclass
class Levels:
    root: Path
    ws: dict[str, Workspace] = field(default_factory=dict)
    issued: dict[str, Path] = field(default_factory=dict)   # unit/office code -> template
    unit_files: dict[str, Path] = field(default_factory=dict)
    returns: dict[str, Path] = field(default_factory=dict)  # level -> its return
    merge_out: dict[str, str] = field(default_factory=dict)  # level -> merge --into output


def new_workspace(root: Path, level: str) -> Workspace:
    code, office, units = LEVELS[level]
    parent = root / f"{level}-roster.csv"
    lines = ["单位代码,单位名称,上级单位代码,联系人,截止日期"]
    lines += [f"{c},{n},,," for c, n in units]
    parent.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return init_workspace(root / level, year=YEAR, office=office, office_code=code,
                          roster=parent)


def take(ws: Workspace, paths: list[Path]) -> dict[str, str]:
    """collect the files; the verdict of each, by path name."""
    ledger = Ledger(ws.ledger_path)
    with ledger:
        ledger.sync_units(load_roster(ws.roster_path))
        report = collect(ws, ledger, paths, received_at=RECEIVED, feedback=False)
    return {Path(it["path"]).name: it["status"] for it in report.items}


def report_up(levels: Levels, level: str, *extra: Any) -> Result:
    code = LEVELS[level][0]
    out = levels.root / f"{level}-上报.xlsx"
    result = run("merge", "-w", levels.ws[level].root, "--into", levels.issued[code],
                 "-o", out, *extra)
    levels.returns[level] = out
    levels.merge_out[level] = result.output
    return result


@pytest.fixture(scope="module")
def levels(tmp_path_factory: pytest.TempPathFactory, libreoffice: LibreOffice) -> Levels:
    root = tmp_path_factory.mktemp("levels")
    out = Levels(root)
    for level in LEVELS:
        ws = out.ws[level] = new_workspace(root, level)
        units = load_roster(ws.roster_path)
        for issued in distribute(LAYOUT, units, YEAR, ws.key, ws.config.office, ws.outbox):
            out.issued[issued.unit.code] = issued.path
    for k, code in enumerate(UNITS, start=1):
        dst = root / "units" / f"{code}.xlsx"
        dst.parent.mkdir(exist_ok=True)
        out.unit_files[code] = lo_fill(libreoffice, out.issued[code], dst, unit_values(k))
    for level, units in (("qingxi", UNITS[:3]), ("baishi", UNITS[3:5]), ("west", UNITS[5:])):
        verdicts = take(out.ws[level], [out.unit_files[c] for c in units])
        assert set(verdicts.values()) == {"valid"}, verdicts
    for level in ("qingxi", "baishi"):
        assert report_up(out, level, "--text", write_text(root)).exit_code == 0, \
            out.merge_out[level]
    assert take(out.ws["east"], [out.returns["qingxi"], out.returns["baishi"]]) == {
        "qingxi-上报.xlsx": "valid", "baishi-上报.xlsx": "valid"}
    for level in ("east", "west"):
        assert report_up(out, level).exit_code == 0, out.merge_out[level]
    assert take(out.ws["province"], [out.returns["east"], out.returns["west"]]) == {
        "east-上报.xlsx": "valid", "west-上报.xlsx": "valid"}
    return out


def write_text(root: Path) -> Path:
    path = root / "文字部分.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def added(values: list[dict[str, Any]]) -> dict[str, Any]:
    """The oracle: field by field sums of the files' numbers (blank and "/" add nothing)."""
    sums: dict[str, Any] = {}
    for fid in NUMERIC:
        parts = [v.get(fid) for v in values]
        numbers = [p for p in parts if isinstance(p, int | Decimal) and p is not NA]
        sums[fid] = sum(numbers, Decimal(0) if FORM.fields[fid].kind == "amount" else 0)
    return sums


@pytest.mark.libreoffice
def test_the_province_totals_are_exactly_the_sum_of_the_seven_unit_files(
        levels: Levels) -> None:
    units = [check_file(levels.unit_files[c]) for c in UNITS]
    assert [u.status for u in units] == ["valid"] * 7
    result = run("merge", "-w", levels.ws["province"].root, "--json", "--tree")
    assert result.exit_code == 0, result.output
    merged = json.loads(result.stdout)
    expected = {fid: to_json(v) for fid, v in added([u.values for u in units]).items()}
    assert {fid: merged["totals"][fid] for fid in NUMERIC} == expected
    assert Decimal(merged["totals"]["t2.fees_wan_yuan"]) == Decimal("32.2")  # 1.15 x 28
    assert merged["findings"] == []


@pytest.mark.libreoffice
def test_the_provenance_tree_reaches_every_unit_file(levels: Levels) -> None:
    result = run("merge", "-w", levels.ws["province"].root, "--json", "--tree")
    tree = json.loads(result.stdout)["tree"]

    def walk(nodes: list[dict[str, Any]], path: tuple[str, ...]) -> list[tuple[Any, ...]]:
        out = []
        for n in nodes:
            if n.get("units"):
                out += walk(n["units"], (*path, n["code"]))
            else:
                out.append(((*path, n["code"]), n["sha256"], n["file"]))
        return out

    assert sorted(walk(tree, ())) == sorted([
        (("3301", "330101", c), sha(levels.unit_files[c]), f"{c}.xlsx") for c in UNITS[:3]] + [
        (("3301", "330102", c), sha(levels.unit_files[c]), f"{c}.xlsx") for c in UNITS[3:5]] + [
        (("3302", c), sha(levels.unit_files[c]), f"{c}.xlsx") for c in UNITS[5:]])
    assert [(n["code"], n["office"]["code"], n["sha256"]) for n in tree] == [
        ("3301", "3301", sha(levels.returns["east"])),
        ("3302", "3302", sha(levels.returns["west"]))]
    text = run("merge", "-w", levels.ws["province"].root, "--tree").output
    for code in UNITS:
        assert f"{code} " in text and sha(levels.unit_files[code])[:12] in text


@pytest.mark.libreoffice
def test_each_return_reads_as_a_typed_file_with_blank_and_not_applicable_kept(
        levels: Levels) -> None:
    for level in ("qingxi", "baishi", "east", "west"):
        checked = check_file(levels.returns[level])
        assert checked.status == "valid", (level, [f.message for f in checked.findings])
        codes = {f.code for f in checked.findings}
        assert not {c for c in codes if c.startswith(("CACHED_", "IDENTITY_", "FORM_"))}
        code, name, _ = LEVELS[level]
        assert checked.identity == {"unit.code": code, "unit.name": name, "year": YEAR}
        assert checked.values["t2.regulations.issued"] is NA   # "/" in every unit
        assert checked.values["t2.penalty"] is None            # blank in every unit
    east = check_file(levels.returns["east"]).values
    assert east["t2.enforcement"] == 3 * 2                     # only unit 3 had a figure
    qingxi = check_file(levels.returns["qingxi"]).values
    assert qingxi["text.problems"] == "个别单位报送不够及时，下一年度将加强督促。"
    assert check_file(levels.returns["west"]).values["text.problems"] is None
    assert "青溪县" in levels.merge_out["qingxi"] and "签名保留" in levels.merge_out["qingxi"]


@pytest.mark.libreoffice
def test_a_template_issued_to_another_county_is_refused_naming_both(levels: Levels) -> None:
    result = run("merge", "-w", levels.ws["qingxi"].root, "--into", levels.issued["330102"],
                 "-o", levels.root / "wrong.xlsx")
    assert result.exit_code == 2
    assert "单位不符" in result.output and "白石县" in result.output
    assert "330102" in result.output and "青溪县" in result.output and "330101" in result.output
    assert not (levels.root / "wrong.xlsx").exists()


@pytest.mark.libreoffice
def test_a_template_for_another_year_is_refused(levels: Levels) -> None:
    east = levels.ws["east"]
    data = render(LAYOUT, issue_options(LAYOUT, {"unit.code": "330101", "unit.name": "青溪县",
                                                 "year": 2021}, east.key, east.config.office))
    path = put(levels.root / "old", template_name(load_roster(east.roster_path)[0], 2021),
               data)
    result = run("merge", "-w", levels.ws["qingxi"].root, "--into", path,
                 "-o", levels.root / "old.xlsx")
    assert result.exit_code == 2
    assert "年度不同" in result.output and "2021" in result.output and "2022" in result.output


@pytest.mark.libreoffice
def test_an_altered_template_is_refused_with_what_was_changed(levels: Levels) -> None:
    label = next(c for c in LAYOUT.labels if c.verify and c.area.sheet == "依申请公开"
                 and len(c.text) > 6)
    altered = patched(levels.issued["330101"], levels.root / "altered.xlsx",
                      "xl/sharedStrings.xml", label.text.encode(), ("改" + label.text).encode())
    result = run("merge", "-w", levels.ws["qingxi"].root, "--into", altered,
                 "-o", levels.root / "altered-out.xlsx")
    assert result.exit_code == 2
    assert "已被改动" in result.output and label.area.a1 in result.output


@pytest.mark.libreoffice
def test_totals_with_errors_are_refused_unless_include_invalid_which_the_note_states(
        levels: Levels, tmp_path: Path) -> None:
    ws = new_workspace(tmp_path, "baishi")   # the same county, another collection
    good, bad = complete_values(), complete_values(t3__new__natural_person=11)  # R1 broken
    files = [put(tmp_path, f"{code}.xlsx", render(LAYOUT, issue_options(
        LAYOUT, {"unit.code": code, "unit.name": name, "year": YEAR}, ws.key,
        ws.config.office, values=values)))
        for (code, name), values in zip(LEVELS["baishi"][2], (good, bad), strict=True)]
    assert take(ws, files) == {"330102-001.xlsx": "valid", "330102-002.xlsx": "invalid"}
    with Ledger(ws.ledger_path) as ledger:
        result = merge(ledger, FORM, YEAR, load_roster(ws.roster_path), include_invalid=True)
    with pytest.raises(UpwardRefused) as refused:
        return_workbook(result, None, include_invalid=False)  # type: ignore[arg-type]
    assert refused.value.exit_code == 1 and "汇总数据仍有错误" in str(refused.value)

    out = tmp_path / "return.xlsx"
    cli = run("merge", "-w", ws.root, "--into", levels.issued["330102"], "-o", out,
              "--include-invalid")
    assert cli.exit_code == 1, cli.output     # written, and the totals' errors reported
    back = check_file(out)
    note = back.values["note.t2"]
    assert "--include-invalid" in note and "白石县司法局（330102-002）" in note
    assert "UNBALANCED" in {f.code for f in back.findings}

    plain = tmp_path / "plain.xlsx"
    cli = run("merge", "-w", ws.root, "--into", levels.issued["330102"], "-o", plain)
    assert cli.exit_code == 0, cli.output     # the unit with errors is left out
    assert check_file(plain).values["note.t2"] is None
    assert check_file(plain).values["t3.new.natural_person"] == 10


def patched(src: Path, dst: Path, member: str, old: bytes, new: bytes) -> Path:
    """A copy of a workbook with one member's bytes changed (first occurrence only)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == member:
                assert old in data, (member, old)
                data = data.replace(old, new, 1)
            zout.writestr(info, data)
    return dst


@pytest.mark.libreoffice
def test_a_template_of_another_version_or_unsigned_is_refused(levels: Levels) -> None:
    version = FORM.version.encode()
    other = patched(levels.issued["330101"], levels.root / "v.xlsx", "xl/sharedStrings.xml",
                    b"<t>" + version + b"</t>", b"<t>0.9.0</t>")
    result = run("merge", "-w", levels.ws["qingxi"].root, "--into", other,
                 "-o", levels.root / "v-out.xlsx")
    assert result.exit_code == 2
    assert "模板版本不同" in result.output and "0.9.0" in result.output
    blank = levels.root / "blank.xlsx"
    assert run("template", "-o", blank).exit_code == 0
    result = run("merge", "-w", levels.ws["qingxi"].root, "--into", blank,
                 "-o", levels.root / "blank-out.xlsx")
    assert result.exit_code == 2 and "没有下发单位的签名" in result.output
    assert "已被改动" not in result.output and "年度不同" not in result.output


@pytest.mark.libreoffice
def test_a_return_saved_again_in_libreoffice_keeps_its_provenance_and_passes(
        levels: Levels, libreoffice: LibreOffice, tmp_path: Path) -> None:
    resaved = tmp_path / "resaved.xlsx"
    libreoffice.recalc_save(levels.returns["qingxi"], resaved)
    before, after = check_file(levels.returns["qingxi"]), check_file(resaved)
    assert after.status == "valid" and after.values == before.values
    assert from_meta(after.submission.meta) == from_meta(before.submission.meta)
    units = from_meta(after.submission.meta)["units"]
    assert [(n["code"], n["sha256"]) for n in units] == [
        (c, sha(levels.unit_files[c])) for c in UNITS[:3]]


def test_damaged_provenance_is_refused_not_trusted() -> None:
    assert from_meta({"form_id": "x"}) is None
    good = meta_entries({"format": FORMAT, "office": {"code": "1", "name": "甲"},
                         "units": [{"code": "1-1", "name": "乙", "sha256": "ab",
                                    "submission": 3, "units": []}]})
    assert from_meta(good)["units"][0]["submission"] == 3
    deep: dict[str, Any] = {"code": "x", "units": []}
    for _ in range(20):
        deep = {"code": "x", "units": [deep]}
    for meta in ({"provenance.1": "{not json"},
                 {"provenance.1": json.dumps({"format": "other", "units": []})},
                 meta_entries({"format": FORMAT, "units": "all of them"}),
                 meta_entries({"format": FORMAT, "units": [deep]})):
        with pytest.raises(ProvenanceError):
            from_meta(meta)
    long = meta_entries({"format": FORMAT, "units": [{"code": "u", "name": "名" * 40_000}]})
    assert len(long) == 2 and from_meta(long)["units"][0]["name"] == "名" * 500
