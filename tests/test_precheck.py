"""The pre-check: every bad file of the corpus gets its exact kind and code; nothing raises."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nianbao.findings import CATALOGUE, Severity
from nianbao.read.precheck import KINDS, Limits, Precheck, precheck_bytes, precheck_file
from tests.badfiles import (
    EXPECTED,
    _corrupt_member_crc,
    build_corpus,
    read_members,
    rezip,
    sample_xlsx,
)

GOOD = sample_xlsx()
MB = 1024 * 1024


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str, str]]:
    return build_corpus(tmp_path_factory.mktemp("badfiles"), GOOD)


def assert_well_formed(result: Precheck, name: str) -> None:
    """The invariants every verdict keeps, whatever the input."""
    assert result.kind in KINDS
    assert all(f.file == name for f in result.findings)
    assert all(f.code in CATALOGUE for f in result.findings)
    assert all("{" not in f.message for f in result.findings)
    fatal = [f for f in result.findings if f.severity is Severity.FATAL]
    if result.ok:
        assert result.kind == "xlsx"
        assert not fatal
    else:
        assert len(result.findings) == 1
        assert fatal


def codes(result: Precheck) -> list[str]:
    return [f.code for f in result.findings]


# --- the corpus -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gets_its_kind_and_code(corpus, name):
    path, kind, code = corpus[name]
    result = precheck_file(path)
    assert (result.kind, codes(result)) == (kind, [code] if code else [])
    assert result.ok is (kind == "xlsx")
    assert_well_formed(result, name)
    assert precheck_bytes(path.read_bytes(), name) == result


def test_good_file_passes_with_no_findings():
    result = precheck_bytes(GOOD, "good.xlsx")
    assert result == Precheck(True, "xlsx", [], result.members)
    assert {"[Content_Types].xml", "xl/workbook.xml"} <= result.members.keys()
    assert all(size > 0 for size in result.members.values())


def test_openpyxl_saved_file_passes():
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"], wb.active["B2"], wb.active["C2"] = "单位", 3, "=B2*2"
    buf = io.BytesIO()
    wb.save(buf)
    assert precheck_bytes(buf.getvalue(), "o.xlsx") == Precheck(
        True, "xlsx", [], precheck_bytes(buf.getvalue(), "o.xlsx").members
    )


def test_batch_returns_one_result_per_file(corpus):
    paths = [path for path, _, _ in corpus.values()]
    results = [precheck_file(path) for path in paths]
    assert len(results) == len(paths) == len(EXPECTED)
    for path, result in zip(paths, results, strict=True):
        assert_well_formed(result, path.name)
    assert sum(r.ok for r in results) == sum(kind == "xlsx" for kind, _ in EXPECTED.values())


def test_zip_bomb_detail_names_member_and_sizes(corpus):
    finding = precheck_file(corpus["zip_bomb.xlsx"][0]).findings[0]
    assert "xl/media/image1.bin" in finding.message
    assert "100 MB" in finding.message and "50 MB" in finding.message


def test_dtd_finding_names_the_member(corpus):
    finding = precheck_file(corpus["billion_laughs.xlsx"][0]).findings[0]
    assert finding.values["member"] in ("xl/sharedStrings.xml", "xl/worksheets/sheet1.xml")
    assert finding.values["member"] in finding.message


def test_docx_is_named_as_word(corpus):
    assert "Word" in precheck_file(corpus["docx_renamed.xlsx"][0]).findings[0].message


# --- files and limits -----------------------------------------------------------------------


def test_missing_file(tmp_path):
    result = precheck_file(tmp_path / "nope.xlsx")
    assert (result.kind, codes(result)) == ("missing", ["FILE_MISSING"])
    assert result.findings[0].file == "nope.xlsx"


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "folder.xlsx").mkdir()
    result = precheck_file(tmp_path / "folder.xlsx")
    assert (result.kind, codes(result)) == ("missing", ["FILE_MISSING"])


def test_name_overrides_file_name(tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"")
    assert precheck_file(path, name="单位A/x.xlsx").findings[0].file == "单位A/x.xlsx"


def test_too_large_by_size_alone(tmp_path):
    path = tmp_path / "big.xlsx"
    path.write_bytes(GOOD)
    limits = Limits(max_file_bytes=1000)
    for result in (precheck_file(path, limits), precheck_bytes(GOOD, "big.xlsx", limits)):
        assert (result.kind, codes(result)) == ("too-large", ["FILE_TOO_LARGE"])
        assert result.findings[0].values["limit_mb"] == 0


def test_limits_are_configurable():
    few = precheck_bytes(GOOD, "a.xlsx", Limits(max_members=3))
    assert (few.kind, codes(few)) == ("zip-bomb", ["FILE_ZIP_BOMB"])
    small = precheck_bytes(GOOD, "a.xlsx", Limits(max_member_bytes=1000))
    assert small.kind == "zip-bomb" and "部件" in small.findings[0].message
    total = precheck_bytes(GOOD, "a.xlsx", Limits(max_total_bytes=5000))
    assert total.kind == "zip-bomb" and "全部部件" in total.findings[0].message
    ratio = precheck_bytes(GOOD, "a.xlsx", Limits(max_ratio=1.5, ratio_min_bytes=1000))
    assert ratio.kind == "zip-bomb" and "压缩比" in ratio.findings[0].message


# --- the XML scan ---------------------------------------------------------------------------


def _with_member(name: str, content: bytes) -> bytes:
    return rezip(read_members(GOOD), add=[(name, content)])


def _big_xml(dtd_at: int, dtd: bytes = b"<!DOCTYPE x>") -> bytes:
    """~2 MB of incompressible-ish XML text with `dtd` starting at byte `dtd_at`."""
    filler = os.urandom(MB).hex().encode()
    body = b'<?xml version="1.0" encoding="UTF-8"?><root a="' + filler
    return body[:dtd_at] + dtd + body[dtd_at:] + b'"/>'


@pytest.mark.parametrize("offset", [MB - 5, MB - 1, MB, MB + 3])
def test_dtd_across_a_chunk_boundary(offset):
    data = _with_member("xl/worksheets/sheet5.xml", _big_xml(offset, b"<!doctype x>"))
    assert precheck_bytes(data, "a.xlsx").kind == "dtd"


def test_big_clean_member_passes():
    data = _with_member("xl/worksheets/sheet5.xml", _big_xml(100, b""))
    assert precheck_bytes(data, "a.xlsx").ok


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_dtd_in_any_unicode_form(encoding):
    xml = '<?xml version="1.0"?>\n<!ENTITY x "y"><r/>'.encode(encoding)
    result = precheck_bytes(_with_member("xl/worksheets/sheet5.xml", xml), "a.xlsx")
    assert (result.kind, codes(result)) == ("dtd", ["FILE_DTD"])


@pytest.mark.parametrize("member", ["_rels/x.rels", "xl/drawings/vmlDrawing9.vml", "x/y.dat"])
def test_dtd_in_rels_vml_and_unlisted_members(member):
    xml = b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE r [<!ENTITY a "b">]><r/>'
    assert precheck_bytes(_with_member(member, xml), "a.xlsx").kind == "dtd"


@pytest.mark.parametrize(
    ("prefix", "kind"),
    [
        (b'<?xml version="1.0" encoding="GBK"?>', "xlsx"),
        (b"<?xml version='1.0' encoding='ISO-8859-1'?>", "xlsx"),
        (b'<?xml version="1.0" encoding="UTF-7"?>', "dtd"),
        (b'<?xml version="1.0" encoding="IBM037"?>', "dtd"),
        (b"\x4c\x6f\xa7\x94\x93@", "dtd"),  # EBCDIC "<?xml "
        (b"\x00\x00\xfe\xff", "dtd"),  # UTF-32 BOM
    ],
)
def test_xml_encodings(prefix, kind):
    data = _with_member("xl/worksheets/sheet5.xml", prefix + b"<r/>")
    assert precheck_bytes(data, "a.xlsx").kind == kind


def test_binary_member_is_not_scanned_as_xml():
    png = b"\x89PNG\r\n\x1a\n" + b"<!DOCTYPE not xml>" * 10
    assert precheck_bytes(_with_member("xl/media/image1.png", png), "a.xlsx").ok


def test_comment_and_cdata_are_not_dtds():
    xml = b'<?xml version="1.0" encoding="UTF-8"?><!-- c --><r><![CDATA[x]]></r>'
    assert precheck_bytes(_with_member("xl/worksheets/sheet5.xml", xml), "a.xlsx").ok


# --- zip structure --------------------------------------------------------------------------


def _patch_central(data: bytes, member: str, offset: int, value: bytes) -> bytes:
    """`data` with bytes at `offset` of `member`'s central directory entry replaced."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        name_len = int.from_bytes(out[at + 28 : at + 30], "little")
        if out[at + 46 : at + 46 + name_len] == member.encode():
            out[at + offset : at + offset + len(value)] = value
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def test_member_running_into_the_next_is_corrupt():
    size = next(i.compress_size for i in zipfile.ZipFile(io.BytesIO(GOOD)).infolist()
                if i.filename == "xl/workbook.xml")
    data = _patch_central(GOOD, "xl/workbook.xml", 20, (size + 4000).to_bytes(4, "little"))
    result = precheck_bytes(data, "a.xlsx")
    assert (result.kind, codes(result)) == ("corrupt", ["FILE_CORRUPT"])


def test_local_name_differing_from_directory_is_corrupt():
    data = bytearray(GOOD)
    at = data.find(b"PK\x03\x04")
    while data[at + 30 : at + 45] != b"xl/workbook.xml":
        at = data.find(b"PK\x03\x04", at + 4)
    data[at + 40] = ord("K")  # the local header now says xl/workbooK.xml
    result = precheck_bytes(bytes(data), "a.xlsx")
    assert (result.kind, codes(result)) == ("corrupt", ["FILE_CORRUPT"])
    assert "名称" in result.findings[0].message


def test_unusual_compression_is_corrupt():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in read_members(GOOD):
            zf.writestr(name, content, zipfile.ZIP_BZIP2)
    result = precheck_bytes(buf.getvalue(), "a.xlsx")
    assert (result.kind, codes(result)) == ("corrupt", ["FILE_CORRUPT"])


def test_case_insensitive_duplicate_is_corrupt():
    data = _with_member("XL/Workbook.xml", b"<x/>")
    assert precheck_bytes(data, "a.xlsx").kind == "corrupt"


def test_stored_members_are_read_too():
    stored = rezip(read_members(GOOD), level=0)
    assert precheck_bytes(stored, "a.xlsx").ok
    bad = rezip(read_members(GOOD), level=0, add=[("x/y.xml", b"<!DOCTYPE y><y/>")])
    assert precheck_bytes(bad, "a.xlsx").kind == "dtd"


# --- never raises ---------------------------------------------------------------------------

_PREFIXES = [
    b"", b"PK\x03\x04", b"PK\x05\x06", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\xef\xbb\xbf",
    b"\xff\xfe", b"<html>", b"<?xml", b"a,b\n",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(_PREFIXES), body=st.binary(max_size=2048))
def test_random_bytes_never_raise(prefix, body):
    result = precheck_bytes(prefix + body, "r.xlsx")
    assert_well_formed(result, "r.xlsx")


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(GOOD)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutations())
def test_mutated_good_file_never_raises(data):
    result = precheck_bytes(data, "m.xlsx")
    assert_well_formed(result, "m.xlsx")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(member=st.sampled_from([n for n, _ in read_members(GOOD)]), content=st.binary(max_size=512))
def test_any_member_content_never_raises(member, content):
    data = rezip(read_members(GOOD), replace={member: content})
    result = precheck_bytes(data, "c.xlsx")
    assert_well_formed(result, "c.xlsx")


# --- the members the pre-check inflated, kept for the reader ----------------------------------


def test_ok_verdict_keeps_the_xml_members_it_inflated():
    result = precheck_bytes(GOOD, "good.xlsx")
    members = dict(read_members(GOOD))
    assert result.inflated  # the reader takes them instead of inflating them again
    for name, content in result.inflated.items():
        assert content == members[name]  # the bytes zipfile reads (CRC-checked)
    wanted = {n for n in members if n.endswith((".xml", ".rels"))
              and not n.startswith(("docProps/", "xl/theme/"))}
    assert set(result.inflated) == wanted
    assert "inflated" not in repr(result)  # (no member bytes in a printed verdict)
    assert result == Precheck(True, "xlsx", [], result.members)  # (not part of the verdict)


def test_members_seen_before_are_not_inflated_again(monkeypatch):
    """A small member with the compressed bytes, size and CRC of one scanned before is taken
    from memory with its verdict; one whose CRC differs is inflated and found corrupt, and a
    DTD is found in a member seen before as in a new one."""
    from nianbao.read import precheck
    from nianbao.read.cache import ReadCache

    cache = ReadCache()
    inflated: list[str] = []
    original = precheck._small_member

    def counted(data, info, start):
        inflated.append(info.filename)
        return original(data, info, start)

    monkeypatch.setattr(precheck, "_small_member", counted)
    first = precheck_bytes(GOOD, "good.xlsx", cache=cache)
    assert inflated
    inflated.clear()
    again = precheck_bytes(GOOD, "good.xlsx", cache=cache)
    assert inflated == [] and again == first and again.inflated == first.inflated
    broken = precheck_bytes(_corrupt_member_crc(GOOD, "xl/styles.xml"), "crc.xlsx", cache=cache)
    assert (broken.kind, codes(broken)) == ("corrupt", ["FILE_CORRUPT"])
    assert inflated == ["xl/styles.xml"]  # (the members before it: from memory)
    dtd = rezip(read_members(GOOD), replace={"xl/styles.xml": b'<?xml version="1.0"?>'
                                             b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>"})
    for _ in range(2):
        found = precheck_bytes(dtd, "dtd.xlsx", cache=cache)
        assert (found.kind, codes(found)) == ("dtd", ["FILE_DTD"])


def test_rejected_verdict_keeps_nothing(corpus):
    for name, (path, kind, _) in corpus.items():
        result = precheck_file(path)
        assert result.ok or not result.inflated, name
        if kind == "xlsx":
            assert result.inflated, name


def test_kept_members_are_bounded(monkeypatch):
    import nianbao.read.precheck as precheck

    members = dict(read_members(GOOD))
    everything = precheck_bytes(GOOD, "good.xlsx").inflated
    budget = sum(map(len, everything.values())) // 2
    monkeypatch.setattr(precheck, "_KEEP_BYTES", budget)
    kept = precheck_bytes(GOOD, "good.xlsx").inflated
    assert 0 < len(kept) < len(everything)
    assert sum(map(len, kept.values())) <= budget
    assert all(members[name] == content for name, content in kept.items())


def test_members_inflated_in_chunks_or_empty_are_not_kept():
    big = _with_member("xl/worksheets/sheet5.xml", _big_xml(100, b""))
    result = precheck_bytes(big, "a.xlsx")
    assert result.ok and "xl/worksheets/sheet5.xml" not in result.inflated
    assert "xl/workbook.xml" in result.inflated
    empty = rezip(read_members(GOOD), add=[("xl/empty.xml", b"")])
    result = precheck_bytes(empty, "a.xlsx")
    assert result.ok and "xl/empty.xml" not in result.inflated


@given(st.integers(0, 400), st.binary(max_size=8))
@settings(max_examples=60, deadline=None)
def test_markup_declarations_found_as_before(bangs, tail):
    """The memchr search for "<!" finds exactly what a substring search finds."""
    from nianbao.read.xml_scan import markup_declaration

    window = b"a!" * bangs + tail + b"<x>!" * (bangs % 7)
    assert markup_declaration(window) == (b"<!" in window)
    assert markup_declaration(window + b"<!--") and markup_declaration(b"<!" + window)
