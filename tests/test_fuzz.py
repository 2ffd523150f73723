"""Fuzz: hostile and broken returns end in a CheckResult, never in a crash, hang or blow-up.

Real files are built once per session: templates rendered by nianbao (blank, and issued to
a unit with values) and returns filled, recalculated and saved by LibreOffice (the
`libreoffice` fixture). Hypothesis then mutates their bytes, without LibreOffice:

  sheets deleted, renamed, reordered or re-stated; rows inserted or deleted (every `r=`
  rewritten); labels changed (shared strings edited, dropped, label cells overwritten);
  random bytes in XML members, members dropped or renamed; truncation of the file or of
  one member; huge numbers (1e308, 10**20 ...), NaN and inf written into `<v>`; formulas
  and WPS pictures (`_xlfn.DISPIMG("ID_x",1)`) in input cells; odd Unicode (RTL marks,
  combining characters, lone surrogates escaped as `_xD800_`, NUL); a 32,767-character
  prose text; thousands of extra cells (up to 50,000) and a lying `<dimension>`.

Each example's `check_bytes` runs in `nianbao.sandbox.sandboxed_map` with
`Limits(memory=768 MiB, timeout=20 s)`: a hang or a runaway allocation fails the test
(`on_failure` must never be called), and so does any exception. Every result must keep the
invariants of a CheckResult: status valid/invalid/unusable; unusable <=> a fatal finding;
invalid <=> an error; every finding a known catalogue code with a Chinese message naming
the file; the record serialisable as strict JSON and UTF-8 (what the ledger stores).

Readers: each example is checked with `check_bytes`' default reader AND explicitly with
`read_openpyxl` and `read_auto` (when importable). A reader that is the very same function
as the default one is not run twice.

Budget and the long run
-----------------------
`NIANBAO_FUZZ_EXAMPLES` (int) sets the examples per strategy. Unset, the run is small
(DEFAULT_EXAMPLES per strategy, a quarter of it for the 50,000-cell strategy), derandomized
(fixed seeds, no example database, no shrinking), so CI is deterministic; it takes about a
minute with `-n 2` on 2 cores. Set, the seeds are random, failing examples are shrunk and
saved in `.hypothesis/` (the next run replays them):

    NIANBAO_FUZZ_EXAMPLES=400 .venv/bin/python -m pytest tests/test_fuzz.py -n 2

Core bugs this fuzz found are pinned at the end of this file: fixed ones as regression
tests, open ones as `xfail(strict=True)`. An open bug that raises can be listed in
KNOWN_CORE_BUGS so that the strategies skip over it instead of stopping every run there.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, Phase, event, example, given, reject, settings
from hypothesis import strategies as st

from nianbao.check import check_bytes
from nianbao.collect.distribute import issue_options
from nianbao.collect.intake import collect
from nianbao.findings import CATALOGUE, Severity
from nianbao.read.openpyxl_reader import read_openpyxl
from nianbao.render.workbook import RenderOptions, render
from nianbao.sandbox import Limits, sandboxed_map
from nianbao.spec.layout import META_KEYS, META_SHEET
from nianbao.testing.libreoffice import Edit, libreoffice_available
from tests.badfiles import read_members, rezip
from tests.collect_helpers import LAYOUT, NAMES, OFFICE, YEAR, complete_values, make_workspace
from tests.conftest_libreoffice import SKIP_ENV

try:
    from nianbao.read.fast_reader import read_auto
except ImportError:  # the fast reader is not there (yet): the other readers still run
    read_auto = None

# --- budget -----------------------------------------------------------------------------------

DEFAULT_EXAMPLES = 40
_ENV = os.environ.get("NIANBAO_FUZZ_EXAMPLES", "").strip()
LONG_RUN = bool(_ENV)
EXAMPLES = max(1, int(_ENV)) if LONG_RUN else DEFAULT_EXAMPLES
MIB = 1024 * 1024
SANDBOX = Limits(memory=768 * MIB, timeout=20.0)


def fuzz(examples: int = EXAMPLES) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=not LONG_RUN,
        database=None if not LONG_RUN else settings.default.database,
        print_blob=True,
        # the default run fails fast (an example costs ~0.3 s, shrinking would take minutes);
        # the long run shrinks what it finds
        phases=tuple(Phase) if LONG_RUN else (Phase.explicit, Phase.reuse, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.large_base_example, HealthCheck.filter_too_much],
    )


# --- readers ----------------------------------------------------------------------------------

_DEFAULT_READER = inspect.signature(check_bytes).parameters["reader"].default
_EXPLICIT: dict[str, Any] = {"openpyxl": read_openpyxl}
if read_auto is not None:
    _EXPLICIT["auto"] = read_auto
#: reader name -> reader (None: check_bytes' default); a reader identical to the default
#: one is dropped so that no example is read twice by the same function.
READERS: dict[str, Any] = {"default": None, **{k: r for k, r in _EXPLICIT.items()
                                               if r is not _DEFAULT_READER}}

# --- what must hold for every result --------------------------------------------------------

STATUSES = ("valid", "invalid", "unusable")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _check_in_child(item: tuple[bytes, str, str]) -> dict[str, Any]:
    """Runs in the sandbox: check one file with one reader, and say what came out (plain
    data; an exception is returned with its traceback, not raised)."""
    data, name, reader = item
    try:
        kwargs = {} if READERS[reader] is None else {"reader": READERS[reader]}
        result = check_bytes(data, name, **kwargs)
        record = result.to_dict()
        problems: list[str] = []
        try:  # what the ledger does with it (json.dumps, then SQLite wants UTF-8)
            json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            problems.append(f"record not storable as strict JSON/UTF-8: {exc!r}"[:300])
        return {"reader": reader, "status": result.status, "problems": problems,
                "usable": result.submission is not None and result.submission.usable,
                "findings": [(f.code, f.severity.value, f.message, f.file)
                             for f in result.findings]}
    except BaseException:
        return {"reader": reader, "error": traceback.format_exc()[-3000:]}


#: Open core bugs that make check_bytes raise, each pinned by an xfail test below, by a
#: pattern of the traceback: an example that hits one is rejected (Hypothesis draws another)
#: instead of failing every run at the same place. None open now: the three this fuzz
#: found (see "regressions" below) were fixed.
KNOWN_CORE_BUGS: dict[str, re.Pattern[str]] = {}


def known_core_bug(error: str) -> str | None:
    return next((k for k, pattern in KNOWN_CORE_BUGS.items() if pattern.search(error)), None)


def check_everywhere(data: bytes, name: str = "fuzz.xlsx", *, skip_known: bool = True
                     ) -> list[dict[str, Any]]:
    """Check `data` with every reader, each in a limited child; assert the invariants.
    With `skip_known` (inside Hypothesis), an example that hits a known core bug is
    rejected."""
    failures: list[tuple[str, Any]] = []

    def failed(item: tuple[bytes, str, str], reason: Any) -> dict[str, Any]:
        failures.append((item[2], reason))
        return {"reader": item[2], "error": f"sandbox: {reason}"}

    results = list(sandboxed_map(_check_in_child, [(data, name, r) for r in READERS],
                                 jobs=1, limits=SANDBOX, on_failure=failed))
    assert failures == [], f"on_failure called (hang, memory or crash): {failures}"
    for res in results:
        known = known_core_bug(res.get("error", ""))
        if known and skip_known:
            event(f"known core bug: {known}")
            reject()
        assert "error" not in res, f"reader {res['reader']}: {res['error']}"
        assert_invariants(res, name)
    verdicts = {(r["status"], tuple(sorted(codes))) for r, codes in
                zip(results, codes_of(results), strict=True)}
    if len(verdicts) > 1:  # by design: openpyxl also parses docProps, themes ... and fails on
        # broken ones; the fast reader reads only what cells depend on (fast_reader.py)
        event(f"readers disagree: {sorted(verdicts)}"[:200])
    return results


def assert_invariants(res: dict[str, Any], name: str) -> None:
    where = f"reader {res['reader']}"
    status, findings = res["status"], res["findings"]
    assert status in STATUSES, where
    assert res["problems"] == [], (where, res["problems"])
    severities = {sev for _, sev, _, _ in findings}
    assert (status == "unusable") == ("fatal" in severities), (where, status, findings)
    if status == "invalid":
        assert "error" in severities, (where, findings)
    if status == "valid":
        assert not severities & {"error", "fatal"}, (where, findings)
    for code, sev, message, file in findings:
        assert code in CATALOGUE, (where, code)
        assert sev in {s.value for s in Severity}, (where, code, sev)
        assert message and _CJK.search(message), (where, code, message)
        assert file == name, (where, code, file)


def codes_of(results: list[dict[str, Any]]) -> list[set[str]]:
    return [{c for c, _, _, _ in r["findings"]} for r in results]


# --- the base files, built once per session -------------------------------------------------

KEY = bytes(range(32))  # the key the issued bases are signed with
UNIT = "330599-002"


class Base:
    """One real file and its members (a plain class: Hypothesis prints it by its repr)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data
        self.members = tuple(read_members(data))
        self.sheets = sheet_members(dict(self.members))  # sheet -> member, workbook order

    def __repr__(self) -> str:
        return f"<base {self.name}>"


def issued_options(values: dict[str, Any] | None = None) -> RenderOptions:
    ident = {"unit.code": UNIT, "unit.name": NAMES[UNIT], "year": YEAR}
    return issue_options(LAYOUT, ident, KEY, OFFICE,
                         values=complete_values() if values is None else values)


def odd_edits() -> list[Edit]:
    """What a clerk may type: units, text, negatives, fractions, blanks, "/" and formulas."""
    places = LAYOUT.places
    values = complete_values()
    odd: dict[str, Any] = {"t2.licensing": "120件", "t2.penalty": -3, "t2.enforcement": 1.5,
                           "t2.fees_wan_yuan": "/", "t3.new.business": None,
                           "text.overview": "第一行\n第二行 \u202e RTL"}
    edits = [Edit(places[f].sheet, places[f].a1, odd.get(f, v)) for f, v in values.items()]
    edits.append(Edit(places["t2.regulations.issued"].sheet, places["t2.regulations.issued"].a1,
                      "=1+1", kind="formula"))
    return edits


class Bases(dict[str, Base]):
    def __repr__(self) -> str:  # Hypothesis prints its fixture arguments too
        return f"<bases {', '.join(sorted(self))}>"


@pytest.fixture(scope="session")
def bases(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, Base]:
    """Rendered templates and LibreOffice-saved returns (LibreOffice runs only here)."""
    issued = render(LAYOUT, issued_options())
    out = Bases({"rendered-blank": Base("rendered-blank", render(LAYOUT)),
           "rendered-issued": Base("rendered-issued", issued)})
    if not libreoffice_available() and os.environ.get(SKIP_ENV) == "1":
        return out  # fuzz the rendered files only
    lo = request.getfixturevalue("libreoffice")
    tmp = tmp_path_factory.mktemp("fuzz-bases")
    src = tmp / "issued.xlsx"
    src.write_bytes(render(LAYOUT, issued_options({})))
    places = LAYOUT.places
    jobs = {
        "lo-valid": [Edit(places[f].sheet, places[f].a1, v) for f, v in complete_values().items()],
        "lo-odd": odd_edits(),
        "lo-untouched": [],
    }
    for name, edits in jobs.items():
        dst = tmp / f"{name}.xlsx"
        lo.fill(src, dst, edits, recalc=True)
        out[name] = Base(name, dst.read_bytes())
    return out


def test_bases_are_what_they_claim(bases: dict[str, Base]) -> None:
    """The unmutated bases: the clean ones are valid with every reader."""
    for name in ("rendered-issued", "lo-valid"):
        if name in bases:
            results = check_everywhere(bases[name].data, f"{name}.xlsx", skip_known=False)
            assert [r["status"] for r in results] == ["valid"] * len(READERS), (name, results)
    for name in ("lo-odd",):
        if name in bases:
            results = check_everywhere(bases[name].data, f"{name}.xlsx", skip_known=False)
            assert {r["status"] for r in results} == {"invalid"}, (name, results)
            assert all({"VALUE_FORMULA", "VALUE_NEGATIVE"} <= c for c in codes_of(results))
    for name in ("rendered-blank", "lo-untouched"):  # a template returned as it was sent
        if name in bases:
            results = check_everywhere(bases[name].data, f"{name}.xlsx", skip_known=False)
            assert {r["status"] for r in results} == {"invalid"}, (name, results)
            assert all("NOTHING_FILLED" in c for c in codes_of(results))


# --- XML surgery ----------------------------------------------------------------------------

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def sheet_members(members: dict[str, bytes]) -> dict[str, str]:
    """sheet name -> worksheet member (our own, trusted bases: ElementTree is fine)."""
    book = ElementTree.fromstring(members["xl/workbook.xml"])
    rels = ElementTree.fromstring(members["xl/_rels/workbook.xml.rels"])
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    out = {}
    for sheet in book.iter(f"{{{MAIN}}}sheet"):
        target = targets[sheet.get(f"{{{REL}}}id")]
        out[sheet.get("name", "")] = target.lstrip("/") if target.startswith("/") \
            else "xl/" + target
    return out


def col_letters(n: int) -> str:
    s = ""
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


_XML_OK = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str, raw: bool = False) -> bytes:
    """Text for an XML element: &, < and > escaped; characters XML 1.0 cannot hold written
    as OOXML `_xHHHH_` escapes (as Excel does), or `raw` (invalid XML, on purpose)."""
    out = []
    for ch in text:
        if ch in "&<>":
            out.append({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[ch])
        elif _XML_OK.match(ch) or raw:
            out.append(ch)
        else:
            out.append(f"_x{ord(ch):04X}_")
    return "".join(out).encode("utf-8", "surrogatepass")


def _cell_re(ref: str) -> re.Pattern[bytes]:
    return re.compile(rb'<c r="' + ref.encode() + rb'"(?:\s[^>/]*)?(?:/>|>.*?</c>)', re.S)


def _style(cell: bytes) -> bytes:
    m = re.search(rb'\ss="(\d+)"', cell)
    return b' s="' + m.group(1) + b'"' if m else b""


def set_cell(xml: bytes, ref: str, body: Callable[[bytes], bytes]) -> bytes:
    """Replace cell `ref` by `body(style)` (a whole `<c>` element); insert it if absent."""
    m = _cell_re(ref).search(xml)
    if m:
        return xml[: m.start()] + body(_style(m.group(0))) + xml[m.end():]
    row = int(re.sub(r"^[A-Z]+", "", ref))
    cell = body(b"")
    r = re.search(rb'<row r="' + str(row).encode() + rb'"(?:\s[^>/]*)?(/?)>', xml)
    if r:
        if r.group(1):  # <row .../>
            return xml[: r.start()] + r.group(0)[:-2] + b">" + cell + b"</row>" + xml[r.end():]
        return xml[: r.end()] + cell + xml[r.end():]
    new_row = b'<row r="' + str(row).encode() + b'">' + cell + b"</row>"
    if b"<sheetData/>" in xml:
        return xml.replace(b"<sheetData/>", b"<sheetData>" + new_row + b"</sheetData>", 1)
    return xml.replace(b"</sheetData>", new_row + b"</sheetData>", 1)


def number_cell(ref: str, text: str) -> Callable[[bytes], bytes]:
    return lambda s: b'<c r="' + ref.encode() + b'"' + s + b"><v>" + xml_text(text) + b"</v></c>"


def typed_cell(ref: str, t: str, text: str) -> Callable[[bytes], bytes]:
    return lambda s: (b'<c r="' + ref.encode() + b'"' + s + b' t="' + t.encode() + b'"><v>'
                      + xml_text(text) + b"</v></c>")


def inline_cell(ref: str, text: str, raw: bool = False) -> Callable[[bytes], bytes]:
    return lambda s: (b'<c r="' + ref.encode() + b'"' + s + b' t="inlineStr"><is>'
                      b'<t xml:space="preserve">' + xml_text(text, raw) + b"</t></is></c>")


def formula_cell(ref: str, formula: str, cached: str | None, kind: str = "n"
                 ) -> Callable[[bytes], bytes]:
    t = b"" if kind == "n" else b' t="' + kind.encode() + b'"'
    v = b"" if cached is None else b"<v>" + xml_text(cached) + b"</v>"
    return lambda s: (b'<c r="' + ref.encode() + b'"' + s + t + b"><f>" + xml_text(formula)
                      + b"</f>" + v + b"</c>")


def shift_rows(xml: bytes, at: int, delta: int, merges: bool) -> bytes:
    """Rows inserted (delta > 0) or deleted (delta < 0) at row `at`: every later `r=`
    (rows and cells, and merged ranges when `merges`) rewritten, as an insert would."""
    if delta < 0:
        for r in range(at, at - delta):
            xml = re.sub(rb'<row r="' + str(r).encode() + rb'"(?:\s[^>/]*)?(?:/>|>.*?</row>)',
                         b"", xml, flags=re.S)
    first = at if delta > 0 else at - delta

    def row(m: re.Match[bytes]) -> bytes:
        r = int(m.group(1))
        return b'<row r="%d"' % (r + delta if r >= first else r)

    def cell(m: re.Match[bytes]) -> bytes:
        r = int(m.group(2))
        return m.group(1) + b"%d" % (r + delta if r >= first else r)

    xml = re.sub(rb'<row r="(\d+)"', row, xml)
    xml = re.sub(rb'(<c r="[A-Z]+)(\d+)', cell, xml)
    if merges:
        def ref(m: re.Match[bytes]) -> bytes:
            return re.sub(rb"([A-Z]+)(\d+)", cell_ref, m.group(0))

        def cell_ref(m: re.Match[bytes]) -> bytes:
            r = int(m.group(2))
            return m.group(1) + b"%d" % (max(1, r + delta) if r >= first else r)

        xml = re.sub(rb'<mergeCell ref="[A-Z0-9:]+"', ref, xml)
    return xml


# --- a mutable workbook for one example -----------------------------------------------------


class Book:
    """The members of one base, changed step by step, then zipped again."""

    def __init__(self, base: Base) -> None:
        self.base = base
        self.members = dict(base.members)
        self.order = [n for n, _ in base.members]
        self.sheets = dict(base.sheets)

    def part(self, sheet: str) -> str:
        return self.sheets[sheet]

    def edit(self, member: str, fn: Callable[[bytes], bytes]) -> None:
        self.members[member] = fn(self.members[member])

    def set(self, sheet: str, ref: str, body: Callable[[bytes], bytes]) -> None:
        self.edit(self.part(sheet), lambda xml: set_cell(xml, ref, body))

    def drop(self, member: str) -> None:
        self.members.pop(member, None)

    def rename(self, member: str, new: str) -> None:
        if member in self.members and new not in self.members:
            self.members[new] = self.members.pop(member)
            self.order[self.order.index(member)] = new

    def bytes(self, level: int = 6) -> bytes:
        names = [n for n in self.order if n in self.members]
        names += [n for n in self.members if n not in names]
        return rezip([(n, self.members[n]) for n in names], level=level)


def bases_strategy(bases: dict[str, Base]) -> st.SearchStrategy[Base]:
    return st.sampled_from([bases[k] for k in sorted(bases)])


# --- cells of the form ----------------------------------------------------------------------

NUMERIC_INPUTS = sorted((fid, c.area.sheet, c.area.a1) for fid, c in LAYOUT.inputs.items()
                        if LAYOUT.form.fields[fid].numeric)
TEXT_INPUTS = sorted((fid, c.area.sheet, c.area.a1) for fid, c in LAYOUT.inputs.items()
                     if not LAYOUT.form.fields[fid].numeric)
ALL_INPUTS = NUMERIC_INPUTS + TEXT_INPUTS
FORMULA_CELLS = sorted((c.area.sheet, c.area.a1) for c in LAYOUT.formulas)
LABEL_CELLS = sorted((lb.area.sheet, lb.area.a1) for lb in LAYOUT.labels if lb.verify)
META_CELLS = [(META_SHEET, f"B{i + 1}", key) for i, key in enumerate(META_KEYS)]
FORM_SHEETS = [s.name for s in LAYOUT.sheets]

ODD_PIECES = [
    "\u202e", "\u202b", "\u200f", "\u200e", "\u061c",            # RTL and direction marks
    "a\u0301", "1\u0308", "\u0338", "\u20dd", "\u0e49\u0e49",   # combining characters
    "\u200b", "\u2060", "\ufeff", "\u00ad", "\u00a0", "\u3000",  # invisible, spaces
    "\ud800", "\udfff", "\ud83d",                                # lone surrogates
    "\x00", "\x01", "\x1b", "\x7f", "\ufffe", "\uffff",          # control, non-characters
    "_xD800_", "_x0000_", "_x005F_", "_x005F_x0041_", "_x",      # OOXML escapes, literally
    "１２", "十二", "12件", "-3", "1.5", "1e5", "/", "无", "",      # number-like
    "\U0001f600", "\U0001f1e8\U0001f1f3", "𠀀", "\u0e01",       # astral, emoji
    "=1+1", "@SUM(A1)", "+1", "-1", "<b>", "&amp;", "]]>", "\"'",  # markup, formula-like
    "\r\n", "\n", "\t", " ",
]
odd_text = st.lists(st.one_of(st.sampled_from(ODD_PIECES), st.text(max_size=4)),
                    min_size=1, max_size=8).map("".join)

HUGE = ["1e308", "-1e308", "1.7976931348623157e308", "1e309", "-1e309", "9.9e307",
        str(10**20), str(-10**20), str(10**20 + 1) + ".5", "4.9e-324", "1e-400", "9" * 300]
NOT_FINITE = ["NaN", "nan", "-NaN", "inf", "-inf", "INF", "Infinity", "-Infinity", "1e999"]
ODD_NUMBERS = ["-0", "0.0", "00012", "+5", "1_000", "0x10", "1,000", " 12 ", "", "１２",
               "1E+2", "2.5", "1.", ".5", "e", "-", "true"]
number_text = st.one_of(
    st.sampled_from(HUGE + NOT_FINITE + ODD_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)


# --- strategies -----------------------------------------------------------------------------


@fuzz()
@given(data=st.data())
def test_sheets_deleted_renamed_reordered(bases: dict[str, Base], data: st.DataObject) -> None:
    base = data.draw(bases_strategy(bases), label="base")
    book = Book(base)
    names = list(base.sheets)
    touched: set[str] = set()
    for _ in range(data.draw(st.integers(1, 3), label="steps")):
        sheet = data.draw(st.sampled_from(names), label="sheet")
        op = data.draw(st.sampled_from(["delete", "delete+part", "rename", "state", "swap"]),
                       label="op")
        quoted = re.escape(xml_text(sheet))
        if op.startswith("delete"):
            book.edit("xl/workbook.xml", lambda x, q=quoted: re.sub(
                rb'<sheet name="' + q + rb'"[^>]*/>', b"", x))
            if op == "delete+part":
                book.drop(book.part(sheet))
            touched.add(sheet)
        elif op == "rename":
            new = data.draw(st.one_of(st.sampled_from(
                [*FORM_SHEETS, META_SHEET, "Sheet1", "_META", sheet + " ", sheet.upper(),
                 "a" * 40, "'", "历史"]), odd_text), label="new name")
            book.edit("xl/workbook.xml", lambda x, q=quoted, n=new: re.sub(
                rb'(<sheet name=")' + q + rb'"', lambda m: m.group(1) + xml_text(n).replace(
                    b'"', b"&quot;") + b'"', x, count=1))
            if new != sheet:
                touched.add(sheet)
        elif op == "state":
            state = data.draw(st.sampled_from(["visible", "hidden", "veryHidden", "bogus"]))
            book.edit("xl/workbook.xml", lambda x, q=quoted, s=state: re.sub(
                rb'(<sheet name="' + q + rb'"[^>]*?)(?: state="[^"]*")?(\s*r:id=)',
                lambda m: m.group(1) + b' state="' + s.encode() + b'"' + m.group(2), x,
                count=1))
        else:  # swap the positions of two sheets
            other = data.draw(st.sampled_from(names), label="other")
            book.edit("xl/workbook.xml", lambda x, a=sheet, b=other: _swap_sheets(x, a, b))
    results = check_everywhere(book.bytes())
    if touched & set(FORM_SHEETS):  # a sheet of the form is gone
        assert all(r["status"] != "valid" for r in results), (touched, results)
    if META_SHEET in touched:
        assert all(r["status"] == "unusable" for r in results), (touched, results)


def _swap_sheets(xml: bytes, a: str, b: str) -> bytes:
    tags = {m.group(1).decode(): m.group(0) for m in re.finditer(
        rb'<sheet name="([^"]*)"[^>]*/>', xml)}
    ta, tb = tags.get(xml_text(a).decode()), tags.get(xml_text(b).decode())
    if ta is None or tb is None or ta == tb:
        return xml
    return xml.replace(ta, b"\x00A").replace(tb, ta).replace(b"\x00A", tb)


SHIFTS = [-4, -3, -2, -1, 1, 2, 3, 4]


@fuzz()
@given(data=st.data())
def test_rows_inserted_or_deleted(bases: dict[str, Base], data: st.DataObject) -> None:
    base = data.draw(bases_strategy(bases), label="base")
    book = Book(base)
    for _ in range(data.draw(st.integers(1, 2), label="steps")):
        sheet = data.draw(st.sampled_from(list(base.sheets)), label="sheet")
        at = data.draw(st.integers(1, 45), label="at")
        delta = data.draw(st.sampled_from(SHIFTS), label="delta")
        merges = data.draw(st.booleans(), label="merges too")
        book.edit(book.part(sheet), lambda x, a=at, d=delta, m=merges: shift_rows(x, a, d, m))
    check_everywhere(book.bytes())


@fuzz()
@given(data=st.data())
def test_labels_changed(bases: dict[str, Base], data: st.DataObject) -> None:
    base = data.draw(bases_strategy(bases), label="base")
    book = Book(base)
    changed_label = False
    for _ in range(data.draw(st.integers(1, 4), label="steps")):
        op = data.draw(st.sampled_from(["shared text", "shared drop", "shared add",
                                        "shared count", "label cell", "label number"]))
        if op.startswith("shared") and "xl/sharedStrings.xml" in book.members:
            book.edit("xl/sharedStrings.xml", lambda x, o=op: _shared_strings(x, o, data))
        elif op == "label cell":
            sheet, ref = data.draw(st.sampled_from(LABEL_CELLS), label="label")
            text = data.draw(odd_text, label="text")
            book.set(sheet, ref, inline_cell(ref, text))
            changed_label = changed_label or text.strip() != ""
        elif op == "label number":
            sheet, ref = data.draw(st.sampled_from(LABEL_CELLS), label="label")
            book.set(sheet, ref, number_cell(ref, data.draw(number_text)))
    results = check_everywhere(book.bytes())
    if changed_label:
        assert all(r["status"] != "valid" for r in results), results


def _shared_strings(xml: bytes, op: str, data: st.DataObject) -> bytes:
    items = list(re.finditer(rb"<si>.*?</si>", xml, re.S))
    if not items:
        return xml
    m = items[data.draw(st.integers(0, len(items) - 1), label="string")]
    if op == "shared text":
        new = b'<si><t xml:space="preserve">' + xml_text(data.draw(odd_text)) + b"</t></si>"
        return xml[: m.start()] + new + xml[m.end():]
    if op == "shared drop":  # every later index now points at the next string
        return xml[: m.start()] + xml[m.end():]
    if op == "shared add":
        return xml[: m.start()] + "<si><t>插入的文字</t></si>".encode() + xml[m.start():]
    count = str(data.draw(st.sampled_from([0, 1, -1, 10**9]))).encode()
    return re.sub(rb'(count|uniqueCount)="\d+"', lambda g: g.group(1) + b'="' + count + b'"',
                  xml)


@fuzz()
@given(data=st.data())
def test_random_bytes_in_members(bases: dict[str, Base], data: st.DataObject) -> None:
    base = data.draw(bases_strategy(bases), label="base")
    book = Book(base)
    names = [n for n, _ in base.members]
    for _ in range(data.draw(st.integers(1, 4), label="steps")):
        name = data.draw(st.sampled_from(names), label="member")
        op = data.draw(st.sampled_from(["overwrite", "insert", "delete", "drop", "rename"]))
        if name not in book.members:
            continue
        if op == "drop":
            book.drop(name)
        elif op == "rename":
            book.rename(name, data.draw(st.sampled_from(
                [name.upper(), name + ".bak", name.replace("xl/", "xl//"), "/" + name,
                 name.replace("sheet", "Sheet")])))
        else:
            content = book.members[name]
            at = data.draw(st.integers(0, max(0, len(content) - 1)), label="at")
            blob = data.draw(st.binary(min_size=1, max_size=64), label="bytes")
            if op == "overwrite":
                content = content[:at] + blob + content[at + len(blob):]
            elif op == "insert":
                content = content[:at] + blob + content[at:]
            else:
                content = content[:at] + content[at + len(blob):]
            book.members[name] = content
    check_everywhere(book.bytes(level=data.draw(st.sampled_from([0, 6]), label="level")))


@fuzz()
@given(data=st.data())
def test_truncated(bases: dict[str, Base], data: st.DataObject) -> None:
    base = data.draw(bases_strategy(bases), label="base")
    how = data.draw(st.sampled_from(["file", "file-stored", "member", "middle"]), label="how")
    if how in ("file", "file-stored"):
        blob = base.data if how == "file" else Book(base).bytes(level=0)
        cut = data.draw(st.integers(0, len(blob) - 1), label="cut")
        results = check_everywhere(blob[:cut])
        assert all(r["status"] == "unusable" for r in results), (cut, results)
    elif how == "member":
        book = Book(base)
        name = data.draw(st.sampled_from(sorted(book.members)), label="member")
        content = book.members[name]
        book.members[name] = content[: data.draw(st.integers(0, len(content)), label="cut")]
        check_everywhere(book.bytes())
    else:
        at = data.draw(st.integers(0, len(base.data) - 1), label="at")
        size = data.draw(st.integers(1, 2048), label="size")
        check_everywhere(base.data[:at] + base.data[at + size:])


@fuzz()
@given(data=st.data())
def test_huge_and_not_finite_numbers(bases: dict[str, Base], data: st.DataObject) -> None:
    base = data.draw(bases_strategy(bases), label="base")
    book = Book(base)
    cells = data.draw(st.lists(st.sampled_from(NUMERIC_INPUTS), min_size=1,
                               max_size=6, unique=True), label="cells")
    all_bad = True
    for _fid, sheet, ref in cells:
        text = data.draw(number_text, label="number")
        how = data.draw(st.sampled_from(["v", "str", "inline", "cached"]), label="as")
        if how == "v":
            book.set(sheet, ref, number_cell(ref, text))
        elif how == "str":
            book.set(sheet, ref, typed_cell(ref, "str", text))
        elif how == "inline":
            book.set(sheet, ref, inline_cell(ref, text))
        else:  # a formula whose cached result is the odd number
            book.set(sheet, ref, formula_cell(ref, "1+1", text))
        all_bad = all_bad and how == "v" and text in HUGE[:9] + NOT_FINITE
    # and a cached total that lies the same way
    if data.draw(st.booleans(), label="odd cached total"):
        sheet, ref = data.draw(st.sampled_from(FORMULA_CELLS), label="total")
        lie = data.draw(number_text, label="cached")
        book.edit(book.part(sheet), lambda x: _set_cached(x, ref, lie))
    results = check_everywhere(book.bytes())
    if all_bad:  # none of these is a figure a report could hold
        assert all(r["status"] != "valid" for r in results), (cells, results)


def _set_cached(xml: bytes, ref: str, text: str) -> bytes:
    m = _cell_re(ref).search(xml)
    if not m or b"<f" not in m.group(0):
        return xml
    cell = re.sub(rb"<v>.*?</v>|<v/>", b"", m.group(0), flags=re.S)
    cell = re.sub(rb'\st="[^"]*"', b"", cell, count=1)
    cell = cell.replace(b"</c>", b"<v>" + xml_text(text) + b"</v></c>")
    return xml[: m.start()] + cell + xml[m.end():]


FORMULAS = ["1+1", "SUM(A1:A3)", "主动公开!B6*2", "B6", "1/0", "INDIRECT(\"A1\")",
            "HYPERLINK(\"http://example.invalid\",\"点我\")", "WEBSERVICE(\"http://x\")",
            "_xlfn.CONCAT(\"a\",\"b\")", "\"文字\"", "", "=", "((((", "A1:XFD1048576",
            "SUM(" + "1," * 2000 + "1)", "_xlfn._xlws.FILTER(A1:A2,A1:A2>0)"]


@fuzz()
@given(data=st.data())
def test_formulas_and_pictures_in_inputs(bases: dict[str, Base], data: st.DataObject) -> None:
    base = data.draw(bases_strategy(bases), label="base")
    book = Book(base)
    cells = data.draw(st.lists(st.sampled_from(ALL_INPUTS), min_size=1, max_size=5,
                               unique=True), label="cells")
    pictures = []
    for fid, sheet, ref in cells:
        picture = data.draw(st.booleans(), label="picture")
        if picture:
            ident = data.draw(st.sampled_from(
                ["ID_x", "ID_5C1F0A3B2D7E4F60", "ID_", "ID_\u202e", 'ID_"x"']), label="id")
            formula = f'_xlfn.DISPIMG("{ident}",1)'
            cached = data.draw(st.sampled_from(["#NAME?", "=DISPIMG(\"ID_x\",1)", None]))
            kind = "e" if cached == "#NAME?" else "str"
            book.set(sheet, ref, formula_cell(ref, formula, cached, kind))
            pictures.append(fid)
        else:
            formula = data.draw(st.one_of(st.sampled_from(FORMULAS), odd_text), label="f")
            cached = data.draw(st.one_of(st.none(), number_text, odd_text), label="cached")
            kind = data.draw(st.sampled_from(["n", "str", "e", "b", "array"]), label="t")
            if kind == "array":
                book.set(sheet, ref, lambda s, r=ref, f=formula: (
                    b'<c r="' + r.encode() + b'"' + s + b'><f t="array" ref="' + r.encode()
                    + b'">' + xml_text(f) + b"</f><v>1</v></c>"))
            else:
                book.set(sheet, ref, formula_cell(ref, formula, cached, kind))
    if data.draw(st.booleans(), label="remove a total's formula"):
        sheet, ref = data.draw(st.sampled_from(FORMULA_CELLS), label="total")
        book.set(sheet, ref, number_cell(ref, "7"))
    results = check_everywhere(book.bytes())
    numeric = {fid for fid, _, _ in NUMERIC_INPUTS}
    for res, codes in zip(results, codes_of(results), strict=True):
        if res["usable"] and any(f in numeric for f in pictures):
            assert "VALUE_PICTURE" in codes, (pictures, res)
        if res["usable"]:
            assert res["status"] != "valid", res  # a formula in an input is an error


@fuzz()
@given(data=st.data())
def test_odd_unicode(bases: dict[str, Base], data: st.DataObject) -> None:
    base = data.draw(bases_strategy(bases), label="base")
    book = Book(base)
    targets = st.one_of(st.sampled_from([(s, r) for _, s, r in ALL_INPUTS]),
                        st.sampled_from([(s, r) for s, r, _ in META_CELLS]),
                        st.sampled_from(LABEL_CELLS))
    for _ in range(data.draw(st.integers(1, 6), label="cells")):
        sheet, ref = data.draw(targets, label="cell")
        text = data.draw(odd_text, label="text")
        how = data.draw(st.sampled_from(["inline", "inline raw", "str", "shared"]), label="as")
        if how == "shared" and "xl/sharedStrings.xml" in book.members:
            index = _append_shared(book, text)
            book.set(sheet, ref, typed_cell(ref, "s", str(index)))
        elif how == "str":
            book.set(sheet, ref, typed_cell(ref, "str", text))
        else:
            book.set(sheet, ref, inline_cell(ref, text, raw=how == "inline raw"))
    check_everywhere(book.bytes())


def _append_shared(book: Book, text: str) -> int:
    xml = book.members["xl/sharedStrings.xml"]
    count = len(re.findall(rb"<si>", xml))
    book.members["xl/sharedStrings.xml"] = xml.replace(
        b"</sst>", b'<si><t xml:space="preserve">' + xml_text(text) + b"</t></si></sst>")
    return count


PROSE = ("本机关坚持以公开为常态、不公开为例外，"
         "围绕优化营商环境、保障和改善民生等重点工作，持续深化政务公开。\n")


@fuzz()
@given(data=st.data())
def test_long_prose(bases: dict[str, Base], data: st.DataObject) -> None:
    base = data.draw(bases_strategy(bases), label="base")
    book = Book(base)
    length = data.draw(st.sampled_from([32_767, 32_767, 32_768, 100_000]), label="length")
    filler = data.draw(st.sampled_from([PROSE, "\u202e" + PROSE, "a\u0301" * 7, "𠀀"]))
    text = (filler * (length // len(filler) + 1))[:length]
    _, sheet, ref = data.draw(st.sampled_from(TEXT_INPUTS), label="text cell")
    book.set(sheet, ref, inline_cell(ref, text))
    if data.draw(st.booleans(), label="also elsewhere"):
        sheet, ref = data.draw(st.one_of(
            st.sampled_from([(s, r) for _, s, r in NUMERIC_INPUTS]),
            st.sampled_from([(s, r) for s, r, _ in META_CELLS]),
            st.sampled_from(LABEL_CELLS)), label="other cell")
        book.set(sheet, ref, inline_cell(ref, text))
    check_everywhere(book.bytes())


@fuzz(max(2, EXAMPLES // 4))
@given(data=st.data())
@example(data=None)  # the 50,000-cell case on LibreOffice's file: see below
def test_thousands_of_extra_cells(bases: dict[str, Base], data: st.DataObject | None
                                  ) -> None:
    if data is None:  # explicit: 50,000 cells appended to 依申请公开 of a LibreOffice return
        base = bases.get("lo-valid") or bases["rendered-issued"]
        sheet, cells, width, kind, dimension = "依申请公开", 50_000, 20, "number", False
    else:
        base = data.draw(bases_strategy(bases), label="base")
        sheet = data.draw(st.sampled_from(list(base.sheets)), label="sheet")
        cells = data.draw(st.sampled_from([1_000, 5_000, 20_000, 50_000]), label="cells")
        width = data.draw(st.sampled_from([1, 7, 50, 300]), label="width")
        kind = data.draw(st.sampled_from(["number", "shared", "inline", "formula"]))
        dimension = data.draw(st.booleans(), label="lying dimension")
    book = Book(base)
    book.edit(book.part(sheet), lambda x: _append_cells(x, cells, width, kind))
    if dimension:
        book.edit(book.part(sheet), lambda x: re.sub(rb'<dimension ref="[^"]*"/>',
                                                      b'<dimension ref="A1:A1"/>', x))
    check_everywhere(book.bytes())


def _append_cells(xml: bytes, cells: int, width: int, kind: str) -> bytes:
    last = max((int(r) for r in re.findall(rb'<row r="(\d+)"', xml)), default=0)
    rows, n, r = [], 0, last + 1
    while n < cells:
        parts = []
        for c in range(1, width + 1):
            if n >= cells:
                break
            ref = f"{col_letters(c)}{r}".encode()
            if kind == "number":
                parts.append(b'<c r="' + ref + b'"><v>' + str(n % 997).encode() + b"</v></c>")
            elif kind == "shared":
                parts.append(b'<c r="' + ref + b'" t="s"><v>' + str(n % 5).encode() + b"</v></c>")
            elif kind == "inline":
                parts.append(b'<c r="' + ref + b'" t="inlineStr"><is><t>\xe5\xa1\xab'
                             + str(n).encode() + b"</t></is></c>")
            else:
                parts.append(b'<c r="' + ref + b'"><f>A1+' + str(n).encode() + b"</f><v>"
                             + str(n).encode() + b"</v></c>")
            n += 1
        rows.append(b'<row r="' + str(r).encode() + b'">' + b"".join(parts) + b"</row>")
        r += 1
    body = b"".join(rows)
    if b"<sheetData/>" in xml:
        return xml.replace(b"<sheetData/>", b"<sheetData>" + body + b"</sheetData>", 1)
    return xml.replace(b"</sheetData>", body + b"</sheetData>", 1)


MUTATIONS = ["sheet", "rows", "label", "bytes", "number", "formula", "unicode", "meta"]


@fuzz()
@given(data=st.data())
def test_mixed_mutations(bases: dict[str, Base], data: st.DataObject) -> None:
    """Several kinds at once, as a broken file from the field would combine them."""
    base = data.draw(bases_strategy(bases), label="base")
    book = Book(base)
    for kind in data.draw(st.lists(st.sampled_from(MUTATIONS), min_size=2, max_size=5)):
        if kind == "sheet":
            sheet = data.draw(st.sampled_from(list(base.sheets)))
            q = re.escape(xml_text(sheet))
            book.edit("xl/workbook.xml", lambda x, q=q: re.sub(
                rb'<sheet name="' + q + rb'"[^>]*/>', b"", x))
        elif kind == "rows":
            sheet = data.draw(st.sampled_from(list(base.sheets)))
            at, d = data.draw(st.integers(1, 40)), data.draw(st.sampled_from(SHIFTS))
            book.edit(book.part(sheet), lambda x, a=at, d=d: shift_rows(x, a, d, True))
        elif kind == "label":
            sheet, ref = data.draw(st.sampled_from(LABEL_CELLS))
            book.set(sheet, ref, inline_cell(ref, data.draw(odd_text)))
        elif kind == "bytes":
            name = data.draw(st.sampled_from(sorted(book.members)))
            content = book.members[name]
            at = data.draw(st.integers(0, max(0, len(content) - 1)))
            junk = data.draw(st.binary(min_size=1, max_size=16))
            book.members[name] = content[:at] + junk + content[at + 1:]
        elif kind == "number":
            _, sheet, ref = data.draw(st.sampled_from(NUMERIC_INPUTS))
            book.set(sheet, ref, number_cell(ref, data.draw(number_text)))
        elif kind == "formula":
            _, sheet, ref = data.draw(st.sampled_from(ALL_INPUTS))
            book.set(sheet, ref, formula_cell(ref, '_xlfn.DISPIMG("ID_x",1)', "#NAME?", "e"))
        elif kind == "unicode":
            _, sheet, ref = data.draw(st.sampled_from(ALL_INPUTS))
            book.set(sheet, ref, inline_cell(ref, data.draw(odd_text)))
        else:  # one _meta value changed
            sheet, ref, _ = data.draw(st.sampled_from(META_CELLS))
            book.set(sheet, ref, inline_cell(ref, data.draw(st.one_of(
                odd_text, st.sampled_from(["ogi-annual-2021", "../../etc/passwd", "2021",
                                           "0.0.0", "", "x" * 70]))), raw=False))
    check_everywhere(book.bytes())


# --- the hostile cases through collect: judged, stored, fed back, never lost ------------------


def hostile_files(base: Base) -> dict[str, bytes]:
    """One deterministic file per class of this module, on a signed, issued base."""
    out: dict[str, bytes] = {}

    def made(name: str, fn: Callable[[Book], None], level: int = 6) -> None:
        book = Book(base)
        fn(book)
        out[name] = book.bytes(level)

    _, s6, r6 = next(c for c in NUMERIC_INPUTS if c[0] == "t2.licensing")
    _, st_, rt = next(c for c in TEXT_INPUTS if c[0] == "text.overview")
    prose = (PROSE * 400)[:32_767]
    made("prose.xlsx", lambda b: b.set(st_, rt, inline_cell(rt, prose)))
    made("huge.xlsx", lambda b: b.set(s6, r6, number_cell(r6, "1e308")))
    made("big-int.xlsx", lambda b: b.set(s6, r6, number_cell(r6, str(10**20))))
    # (1e309, read as inf, is left out: open core bug, see test_infinite_number_through_collect)
    made("nan-cached.xlsx", lambda b: b.edit(b.part(FORMULA_CELLS[0][0]), lambda x: _set_cached(
        x, FORMULA_CELLS[0][1], "NaN")))
    made("dispimg.xlsx", lambda b: b.set(s6, r6, formula_cell(
        r6, '_xlfn.DISPIMG("ID_x",1)', "#NAME?", "e")))
    made("formula.xlsx", lambda b: b.set(s6, r6, formula_cell(r6, "1+1", "2")))
    made("unicode.xlsx", lambda b: b.set(st_, rt, inline_cell(
        rt, "\u202e右到左\u200f a\u0301 _xD800_ \x00 \ud800 \U0001f600")))
    made("unicode-raw.xlsx", lambda b: b.set(st_, rt, inline_cell(rt, "NUL\x00", raw=True)))
    made("cells-50000.xlsx", lambda b: b.edit(b.part("依申请公开"), lambda x: _append_cells(
        x, 50_000, 20, "number")))
    made("rows-shifted.xlsx", lambda b: b.edit(b.part("依申请公开"), lambda x: shift_rows(
        x, 8, 2, True)))
    made("sheet-deleted.xlsx", lambda b: b.edit("xl/workbook.xml", lambda x: re.sub(
        rb'<sheet name="' + xml_text("复议诉讼") + rb'"[^>]*/>', b"", x)))
    made("label-changed.xlsx", lambda b: b.set(LABEL_CELLS[3][0], LABEL_CELLS[3][1],
                                               inline_cell(LABEL_CELLS[3][1], "改过的表头")))
    made("bytes.xlsx", lambda b: b.edit(b.part("主动公开"), lambda x: x[:500] + b"\xff\x00<"
                                        + x[503:]))
    out["truncated.xlsx"] = base.data[: len(base.data) // 3]
    return out


def test_hostile_cases_through_collect(bases: dict[str, Base], tmp_path: Path) -> None:
    """collect judges each hostile file (signature, identity, feedback workbook, receipt) in
    its sandbox: every one ends as one sighting, none as an overrun or crashed worker
    (FILE_TIMEOUT, INTERNAL_ERROR)."""
    base = bases.get("lo-valid") or bases["rendered-issued"]
    ws, ledger = make_workspace(tmp_path / "ws")
    (ws.root / ".nianbao" / "secret.key").write_text(KEY.hex() + "\n", encoding="ascii")
    files = hostile_files(base)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, data in files.items():
        (inbox / name).write_bytes(data)
    with ledger:
        report = collect(ws, ledger, [inbox], jobs=2, limits=SANDBOX,
                         received_at="2023-01-15T10:00:00+08:00")
        assert report.files == len(files)
        assert sum(report.outcomes.values()) == len(files)
        by_name = {Path(it["path"]).name: it for it in report.items}
        assert set(by_name) == set(files)
        crashed = {n: it["reason"] for n, it in by_name.items()
                   if it["reason"] in ("FILE_TIMEOUT", "INTERNAL_ERROR")}
        assert crashed == {}
        for row in ledger.rows():
            for f in row.verdict.findings:
                assert f["code"] in CATALOGUE and _CJK.search(f["message"]), f
        summary = {n: (it["outcome"], it["status"], it["reason"]) for n, it in by_name.items()}
    assert summary["truncated.xlsx"] == ("rejected", "rejected", "FILE_CORRUPT")
    for name in ("huge.xlsx", "big-int.xlsx", "dispimg.xlsx", "formula.xlsx",
                 "sheet-deleted.xlsx", "label-changed.xlsx", "rows-shifted.xlsx"):
        assert summary[name][1] in ("invalid", "rejected"), (name, summary[name])
    assert summary["prose.xlsx"] == ("stored", "valid", None), summary["prose.xlsx"]


def test_file_the_sandbox_gives_up_on_is_kept_and_rejected(tmp_path: Path) -> None:
    """A file whose reading overruns its deadline is rejected as FILE_TIMEOUT, its sighting
    recorded, its bytes kept when its child had kept them before the deadline (the parent
    never reads a file a child failed on; with this deadline of a millisecond the child
    rarely gets that far: `test_intake_hostile.py` proves the keeping deterministically).
    (The memory limit is not tested here: a forked child's limit is counted on top of the
    parent's mappings and reuses the parent's free heap, so whether a given file overruns
    it depends on what the test process did before.)
    """
    limits = Limits(memory=768 * MIB, timeout=0.001)
    ws, ledger = make_workspace(tmp_path / "ws")
    (ws.root / ".nianbao" / "secret.key").write_text(KEY.hex() + "\n", encoding="ascii")
    book = Book(Base("big", render(LAYOUT, issued_options())))
    book.edit(book.part("依申请公开"), lambda x: _append_cells(x, 50_000, 20, "number"))
    data = book.bytes()
    path = tmp_path / "slow.xlsx"
    path.write_bytes(data)
    with ledger:
        report = collect(ws, ledger, [path], limits=limits, received_at="2023-01-15T10:00:00+08:00")
        (item,) = report.items
        assert (item["outcome"], item["status"], item["reason"]) == (
            "rejected", "rejected", "FILE_TIMEOUT")
        assert ledger.counts() == {"rejected": 1}
        for row in ledger.rows():  # kept by the child before the deadline
            assert (ws.store_dir / row.stored).read_bytes() == data
            (finding,) = row.verdict.findings
            assert finding["severity"] == "fatal"
            assert finding["message"].startswith("读取文件超时或占用内存过多")


# --- regressions: core bugs this fuzz found (fixed upstream in 76b0428) --------------------


def test_number_of_5000_digits_as_text() -> None:
    """Was: normalise() returned a 5,000-digit int that _display() could not turn into
    text (ValueError: Exceeds the limit (4300 digits)), and check_bytes raised."""
    data = render(LAYOUT, RenderOptions(values={"t2.regulations.issued": "9" * 5000}))
    results = check_everywhere(data, skip_known=False)
    assert all("VALUE_TOO_LARGE" in codes for codes in codes_of(results))


def _infinite_count(base: bytes, value: str) -> bytes:
    """`base` with 主动公开!B6 (t2.regulations.issued, a count) holding `<v>value</v>`."""
    book = Book(Base("x", base))
    book.set("主动公开", "B6", number_cell("B6", value))
    return book.bytes()


@pytest.mark.parametrize("value", ["1e309", "-1e309"])
def test_infinite_number_in_an_input(value: str) -> None:
    """Was: `<v>1e309</v>` (read as inf) reached rules.evaluate.invalid_count, whose int(v)
    raised OverflowError; check_bytes raised, collect rejected the file as INTERNAL_ERROR."""
    data = _infinite_count(render(LAYOUT, issued_options()), value)
    results = check_everywhere(data, skip_known=False)
    assert all("VALUE_WRONG_TYPE" in codes for codes in codes_of(results))


def test_fraction_in_a_count_through_collect(tmp_path: Path) -> None:
    """Was: a count typed as 2.5 gave UNBALANCED findings holding Decimal values, which the
    ledger's json.dumps refused: collect died in its own process and lost the whole batch,
    good files too, again on every re-run."""
    ws, ledger = make_workspace(tmp_path / "ws")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = render(LAYOUT, issue_options(LAYOUT, {"unit.code": "330599-003", "unit.name":
                                                 NAMES["330599-003"], "year": YEAR},
                                        ws.key, OFFICE, values=complete_values()))
    fraction = render(LAYOUT, issue_options(
        LAYOUT, {"unit.code": UNIT, "unit.name": NAMES[UNIT], "year": YEAR}, ws.key, OFFICE,
        values=complete_values(t3__new__business=2.5)))
    (inbox / "a_good.xlsx").write_bytes(good)
    (inbox / "b_fraction.xlsx").write_bytes(fraction)
    with ledger:
        report = collect(ws, ledger, [inbox], received_at="2023-01-15T10:00:00+08:00")
        assert report.outcomes == {"stored": 2}
        assert [r.verdict.status for r in ledger.rows()] == ["valid", "invalid"]


# --- open core bugs, pinned ------------------------------------------------------------------


def test_excel_escaped_carriage_return_in_text() -> None:
    base = Base("x", render(LAYOUT, issued_options(complete_values(
        text__overview="第一行MARK第二行"))))
    book = Book(base)
    book.edit("xl/sharedStrings.xml", lambda x: x.replace(
        "第一行MARK第二行".encode(), "第一行_x000D_\n第二行".encode()))
    result = check_bytes(book.bytes(), "crlf.xlsx")
    assert result.values["text.overview"] == "第一行\n第二行"


def test_infinite_number_through_collect(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    (ws.root / ".nianbao" / "secret.key").write_text(KEY.hex() + "\n", encoding="ascii")
    path = tmp_path / "inf.xlsx"
    path.write_bytes(_infinite_count(render(LAYOUT, issued_options()), "1e309"))
    with ledger:
        report = collect(ws, ledger, [path], received_at="2023-01-15T10:00:00+08:00")
    (item,) = report.items
    assert (item["outcome"], item["status"], item["reason"]) == ("stored", "invalid", None)
    assert Path(item["feedback"]).is_file()
