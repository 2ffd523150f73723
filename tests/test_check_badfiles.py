"""`check_file` / `nianbao check` over the bad-file corpus, batches, the JSON record, exit
codes, and random garbage that must never raise."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nianbao.check import CheckResult, check_bytes, check_file, check_files, exit_code
from nianbao.cli import app
from nianbao.findings import CATALOGUE, Severity
from nianbao.render.workbook import RenderOptions, render
from tests.badfiles import EXPECTED, build_corpus, read_members, rezip

IDENTITY = {"unit.code": "330503-017", "unit.name": "某区文化和广电旅游体育局", "year": 2022}
WARNING_ONLY = {code for _, code in EXPECTED.values()
                if code and CATALOGUE[code].severity is not Severity.FATAL}
RECORD_KEYS = {"file", "sha256", "size", "status", "form", "identity", "values", "findings"}
FINDING_KEYS = {"code", "severity", "file", "sheet", "cell", "field", "rule", "values",
                "message"}


def filled_values(layout, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {fid: 0 for fid, c in layout.inputs.items()
                              if c.kind in ("count", "amount")}
    values.update({"text.overview": "总体情况", "text.problems": "问题", "text.other": "无"})
    values.update(changes)
    return values


@pytest.fixture(scope="module")
def good(layout) -> bytes:
    return render(layout, RenderOptions(identity=IDENTITY, lock_identity=True,
                                        values=filled_values(layout)))


@pytest.fixture(scope="module")
def unbalanced(layout) -> bytes:
    values = filled_values(layout, **{"t3.new.natural_person": 5})
    return render(layout, RenderOptions(identity=IDENTITY, lock_identity=True, values=values))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, good) -> dict[str, tuple[Path, str, str]]:
    return build_corpus(tmp_path_factory.mktemp("corpus"), good)


def assert_well_formed(result: CheckResult, name: str) -> None:
    assert result.file == name
    assert result.status in ("valid", "invalid", "unusable")
    for f in result.findings:
        assert f.file == name
        assert f.code in CATALOGUE
        assert "{" not in f.message and f.message
    record = json.loads(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
    assert set(record) == RECORD_KEYS
    assert all(set(f) == FINDING_KEYS for f in record["findings"])


# --- the corpus -------------------------------------------------------------------------------


def test_warning_only_codes():
    assert {"FILE_EXTERNAL_LINKS", "FILE_EMBEDDED_OBJECTS"} == WARNING_ONLY


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(corpus, name):
    path, _, code = corpus[name]
    result = check_file(path)
    assert_well_formed(result, str(path))
    codes = [f.code for f in result.findings]
    if not code:
        assert (result.status, codes) == ("valid", [])
    elif code in WARNING_ONLY:
        assert (result.status, codes) == ("valid", [code])
        assert result.findings[0].severity is Severity.WARNING
        assert result.values["t3.new.natural_person"] == 0
    else:
        assert (result.status, codes) == ("unusable", [code])
        assert result.findings[0].severity is Severity.FATAL
        assert result.values == {} and result.form is None
    assert all(Path(f.file).name == name for f in result.findings)
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.size == path.stat().st_size


@pytest.mark.parametrize("name", sorted(n for n, (_, c) in EXPECTED.items() if c))
def test_corpus_bytes_under_a_given_name(corpus, name):
    path, _, code = corpus[name]
    result = check_bytes(path.read_bytes(), name)
    assert [f.code for f in result.findings] == [code]
    assert all(f.file == name for f in result.findings)


def test_missing_path_and_directory_are_findings(tmp_path):
    missing = check_file(tmp_path / "nope.xlsx")
    folder = check_file(tmp_path)
    for result, detail in ((missing, "文件不存在"), (folder, "这是一个文件夹，不是文件")):
        assert result.status == "unusable"
        assert [(f.code, f.values["detail"]) for f in result.findings] == [
            ("FILE_MISSING", detail)]
        assert (result.sha256, result.size) == ("", 0)
    assert missing.findings[0].file == str(tmp_path / "nope.xlsx")


# --- batches ----------------------------------------------------------------------------------


@pytest.fixture
def batch(tmp_path, corpus, good, unbalanced) -> list[Path]:
    (tmp_path / "a_good.xlsx").write_bytes(good)
    (tmp_path / "b_unbalanced.xlsx").write_bytes(unbalanced)
    (tmp_path / "empty").mkdir()  # a folder with no file in it is a finding, not nothing
    return [tmp_path / "a_good.xlsx", corpus["csv_utf8.xlsx"][0], tmp_path / "b_unbalanced.xlsx",
            corpus["zip_bomb.xlsx"][0], tmp_path / "missing.xlsx", tmp_path / "empty",
            corpus["external_links.xlsx"][0]]


EXPECTED_BATCH = [("valid", []), ("unusable", ["FILE_CSV"]),
                  ("invalid", ["UNBALANCED", "UNBALANCED"]), ("unusable", ["FILE_ZIP_BOMB"]),
                  ("unusable", ["FILE_MISSING"]), ("unusable", ["FILE_MISSING"]),
                  ("valid", ["FILE_EXTERNAL_LINKS"])]


def test_batch_returns_one_result_per_file_in_order(batch):
    results = list(check_files(batch))
    assert [r.file for r in results] == [str(p) for p in batch]
    assert [(r.status, [f.code for f in r.findings]) for r in results] == EXPECTED_BATCH
    assert exit_code(results) == 2
    assert exit_code(results[:1]) == 0
    assert exit_code([results[0], results[2]]) == 1


def test_unbalanced_return_is_located(unbalanced):
    result = check_bytes(unbalanced, "b.xlsx")
    assert sorted((f.rule, f.sheet, f.cell, f.field) for f in result.findings) == [
        ("R1", "依申请公开", "D7", "t3.new.natural_person"),
        ("R1", "依申请公开", "J7", "t3.new.total")]


# --- the CLI ----------------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(app, ["check", *args])


def on_disk(batch: list[Path]) -> list[Path]:
    """The batch without its missing path: on the command line that is a usage error."""
    return [p for p in batch if p.exists()]


def test_cli_batch_exits_2_and_names_every_file(batch):
    batch = on_disk(batch)
    result = run(*map(str, batch))
    assert result.exit_code == 2
    for path in batch:
        assert str(path) in result.output
    assert "共 6 个文件：通过 2 个，有错误 1 个，无法使用 3 个。" in result.output
    assert "Traceback" not in result.output


def test_cli_json_gives_every_record(batch, good, form):
    expected = [e for p, e in zip(batch, EXPECTED_BATCH, strict=True) if p.exists()]
    batch = on_disk(batch)
    result = run("--json", *map(str, batch))
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["summary"] == {"files": 6, "valid": 2, "invalid": 1, "unusable": 3,
                               "exit_code": 2}
    records = data["files"]
    assert [r["file"] for r in records] == [str(p) for p in batch]
    assert [(r["status"], [f["code"] for f in r["findings"]]) for r in records] == expected
    for r in records:
        assert set(r) == RECORD_KEYS
        assert set(r["form"]) == {"id", "version"}
        for f in r["findings"]:
            assert set(f) == FINDING_KEYS
            assert f["file"] == r["file"]
            assert f["severity"] in ("fatal", "error", "warning", "info")
    ok = records[0]
    assert ok["sha256"] == hashlib.sha256(good).hexdigest()
    assert ok["form"] == {"id": "ogi-annual-2021", "version": form.version}
    assert ok["identity"] == IDENTITY
    assert ok["values"]["t3.new.natural_person"] == 0
    assert ok["values"]["t2.fees_wan_yuan"] == "0"
    assert ok["values"]["unit.name"] == IDENTITY["unit.name"]
    bad = records[2]
    r1 = next(f for f in bad["findings"] if f["field"] == "t3.new.natural_person")
    assert (r1["code"], r1["severity"], r1["sheet"], r1["cell"], r1["rule"]) == (
        "UNBALANCED", "error", "依申请公开", "D7", "R1")
    assert (r1["values"]["lhs"], r1["values"]["rhs"], r1["values"]["diff"]) == (5, 0, 5)
    assert r1["message"].startswith("依申请公开!D7")
    csv = records[1]
    assert csv["form"] == {"id": None, "version": None}
    assert (csv["identity"], csv["values"]) == ({}, {})
    # the CLI walks folders: an empty one is reported as such
    assert records[4]["findings"][0]["values"]["detail"] == "文件夹中没有文件"


def test_cli_exit_0_for_valid_files_only(tmp_path, good, corpus):
    (tmp_path / "a.xlsx").write_bytes(good)
    result = run(str(tmp_path / "a.xlsx"), str(corpus["good.xlsx"][0]))
    assert result.exit_code == 0, result.output
    assert "没有发现问题" in result.output
    assert run("--json", str(tmp_path / "a.xlsx")).exit_code == 0


def test_cli_exit_1_for_an_invalid_file(tmp_path, good, unbalanced):
    (tmp_path / "a.xlsx").write_bytes(good)
    (tmp_path / "b.xlsx").write_bytes(unbalanced)
    result = run(str(tmp_path / "a.xlsx"), str(tmp_path / "b.xlsx"))
    assert result.exit_code == 1, result.output
    assert "依申请公开!D7" in result.output


def test_cli_exit_2_without_files():
    result = run()
    assert result.exit_code == 2
    assert "缺少参数" in result.output


@pytest.mark.parametrize("which", ["missing", "directory"])
def test_cli_missing_path_and_directory(tmp_path, which):
    path = tmp_path / "nope.xlsx" if which == "missing" else tmp_path
    result = run(str(path))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    if which == "missing":  # a mistyped path: a usage error, nothing is checked
        assert f"找不到 {path}：请检查路径是否写错" in result.output.replace("\n", "")
        assert run("--json", str(path)).stdout == ""
        return
    assert "文件夹中没有文件" in result.output
    data = json.loads(run("--json", str(path)).stdout)
    assert [f["code"] for f in data["files"][0]["findings"]] == ["FILE_MISSING"]


def test_cli_checks_every_file_of_a_folder(tmp_path, good, unbalanced):
    (tmp_path / "a.xlsx").write_bytes(good)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.xlsx").write_bytes(unbalanced)
    (tmp_path / "~$a.xlsx").write_bytes(b"lock")  # an office lock file is skipped
    data = json.loads(run("--json", str(tmp_path)).stdout)
    assert [(Path(r["file"]).name, r["status"]) for r in data["files"]] == [
        ("a.xlsx", "valid"), ("b.xlsx", "invalid")]


def test_cli_expected_form(tmp_path, good):
    (tmp_path / "a.xlsx").write_bytes(good)
    assert run("--form", "ogi-annual-2021", str(tmp_path / "a.xlsx")).exit_code == 0
    result = run("--json", "--form", "other-form", str(tmp_path / "a.xlsx"))
    assert result.exit_code == 2
    codes = [f["code"] for f in json.loads(result.stdout)["files"][0]["findings"]]
    assert codes == ["FORM_OTHER"]


# --- random garbage never raises --------------------------------------------------------------

FUZZ = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(data):
    result = check_bytes(data, "random.xlsx")
    assert_well_formed(result, "random.xlsx")
    assert result.status == "unusable"
    assert len(result.findings) == 1 and result.findings[0].severity is Severity.FATAL


@FUZZ
@given(st.data())
def test_byte_mutations_of_a_good_template_never_raise(good, data):
    blob = bytearray(good)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(blob) - 1))
        op = data.draw(st.sampled_from(["set", "delete", "insert", "truncate"]))
        if op == "set":
            blob[at] = data.draw(st.integers(0, 255))
        elif op == "delete":
            del blob[at: at + data.draw(st.integers(1, 64))]
        elif op == "insert":
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=32))
        else:
            del blob[max(at, 1):]
        if not blob:
            break
    result = check_bytes(bytes(blob), "mutated.xlsx")
    assert_well_formed(result, "mutated.xlsx")


XML_BITS = [b"<", b">", b"/", b'"', b"=", b"0", b"-1", b"1.5", b"E", b"t=\"s\"", b"t=\"e\"",
            b"<f>", b"</f>", b"<v>", b"</v>", b"&amp;", b"\xe4\xb8\xad", b"\x00", b"\xff",
            b"<!--", b"99999999999999999999"]


@FUZZ
@given(st.data())
def test_member_mutations_of_a_good_template_never_raise(good, data):
    """Mutate the XML inside a member and zip it again: this reaches the XML reader and the
    form reader, not only the pre-check."""
    members = read_members(good)
    name, content = members[data.draw(st.integers(0, len(members) - 1))]
    text = bytearray(content)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, max(len(text) - 1, 0)))
        op = data.draw(st.sampled_from(["insert", "delete", "copy"]))
        if op == "insert":
            text[at:at] = data.draw(st.sampled_from(XML_BITS))
        elif op == "delete":
            del text[at: at + data.draw(st.integers(1, 40))]
        else:
            src = data.draw(st.integers(0, max(len(text) - 1, 0)))
            text[at:at] = text[src: src + data.draw(st.integers(1, 80))]
    blob = rezip(members, replace={name: bytes(text)})
    result = check_bytes(blob, "mutated.xlsx")
    assert_well_formed(result, "mutated.xlsx")


def test_mutation_helpers_make_a_readable_zip(good):
    members = read_members(good)
    assert "xl/workbook.xml" in dict(members)
    with zipfile.ZipFile(io.BytesIO(rezip(members))) as zf:
        assert zf.testzip() is None
    assert check_bytes(rezip(members), "same.xlsx").status == "valid"
