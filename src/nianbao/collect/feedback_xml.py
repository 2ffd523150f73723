"""The parts of a feedback workbook's package as xlsxwriter writes them: cells, shared
strings, comments' text, 问题清单 rows and links, the probes that preparation renders, and
the zip container. Plain functions of text and bytes, used by feedback_package.py."""

from __future__ import annotations

import io
import math
import re
import struct
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xlsxwriter.utility import _preserve_whitespace
from xlsxwriter.xmlwriter import XMLwriter

from nianbao import deflate
from nianbao.collect.issue_list import IssueList, IssueRow
from nianbao.render.workbook import page_header
from nianbao.spec.layout import Layout
from nianbao.spec.model import NUMERIC_KINDS
from nianbao.untrusted import looks_like_formula

XML = XMLwriter()  # xlsxwriter's own escaping, so text is written exactly as it writes it
MAX_TEXT = 16_000     # xlsxwriter cuts longer strings (UTF-16 length 32767): render those
MAX_LINK = 255        # xlsxwriter refuses long link locations
ERROR_CODES = ("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!")
CELL = re.compile(r'<c r="([A-Z]+)(\d+)"(?: s="(\d+)")?([^>]*?)(/>|>(.*?)</c>)', re.S)
SI = re.compile(r"<si>.*?</si>", re.S)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Slot = tuple[Any, ...]  # a dynamic cell of a sheet template (feedback_package.py)


class CannotPatch(Exception):
    """This feedback (or this layout) is one the patcher does not write exactly."""


# --- cells, written as xlsxwriter writes them ----------------------------------------------


class Strings:
    """The shared string table of one workbook: the prepared strings, then new ones."""

    def __init__(self, static: Mapping[str, int], n_static: int) -> None:
        self.static, self.n = static, n_static
        self.new: dict[str, int] = {}
        self.count = 0

    def index(self, text: str) -> int:
        """The index of `text`, compared as the <si> xlsxwriter would write for it."""
        self.count += 1
        if len(text) > MAX_TEXT or (text.startswith("<r>") and text.endswith("</r>")):
            raise CannotPatch("text xlsxwriter would cut or take as rich text")
        si = si_element(text)
        i = self.static.get(si)
        if i is None:
            i = self.new.get(si)
            if i is None:
                i = self.new[si] = self.n + len(self.new)
        return i

    def xml(self, head: str, body: str, count_static: int) -> str:
        total = count_static + self.count
        unique = self.n + len(self.new)
        head = re.sub(r'count="\d+" uniqueCount="\d+"',
                      f'count="{total}" uniqueCount="{unique}"', head, count=1)
        return head + body + "".join(self.new) + "</sst>"


def si_element(text: str) -> str:
    """A shared string <si> as xlsxwriter writes it."""
    text = XML._escape_control_characters(text)
    attr = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
    return f"<si><t{attr}>{XML._escape_data(text)}</t></si>"


def t_element(text: str) -> str:
    """A comment's <t> as xlsxwriter writes it."""
    attr = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
    return f"<t{attr}>{XML._escape_control_characters(XML._escape_data(text))}</t>"


def cell_start(ref: str, xf: str | None) -> str:
    return f'<c r="{ref}" s="{xf}"' if xf is not None else f'<c r="{ref}"'


def string_cell(ref: str, xf: str | None, text: str, strings: Strings) -> str:
    return f'{cell_start(ref, xf)} t="s"><v>{strings.index(text)}</v></c>'


def value_cell(ref: str, xf: str | None, value: Any, strings: Strings) -> str:
    """An input cell as render's _write_value has xlsxwriter write it."""
    if value is None or value == "":
        if xf is None:
            raise CannotPatch("a blank cell without a format is not written")
        return cell_start(ref, xf) + "/>"
    if isinstance(value, bool):
        raise CannotPatch("a boolean value")
    if isinstance(value, Decimal):
        value = float(value)
        if not math.isfinite(value):
            raise CannotPatch("a number out of range")
    if isinstance(value, int | float) and math.isfinite(value):
        return f"{cell_start(ref, xf)}><v>{value:.16G}</v></c>"
    return string_cell(ref, xf, str(value), strings)


def formula_cell(ref: str, xf: str | None, formula: str, value: Any, array: bool) -> str:
    """A formula with its cached result, as xlsxwriter's _write_cell writes it."""
    value = float(value) if isinstance(value, Decimal) else value
    t = ""
    if array:
        try:
            float(value)
        except ValueError:
            t = ' t="str"'
        except TypeError as exc:
            raise CannotPatch("an array formula without a value") from exc
        data = XML._escape_control_characters(XML._escape_data(value))
    else:
        if isinstance(value, bool):
            t, value = ' t="b"', int(value)
        elif isinstance(value, str) and value:
            t = ' t="e"' if value in ERROR_CODES else ' t="str"'
        data = XML._escape_data(value)
    return f"{cell_start(ref, xf)}{t}>{formula}<v>{data}</v></c>"


def issue_row(r: IssueRow, xf: str, quoted: str, strings: Strings) -> str:
    """One finding row of 问题清单, as issues_sheet has xlsxwriter write it."""
    n = 4 + r.number
    pixels = int(r.height * 4.0 / 3.0 + 0.5)
    height = f' ht="{pixels * 0.75:.16g}" customHeight="1"' if pixels != 20 else ""
    if r.link is not None and looks_like_formula(r.place):
        raise CannotPatch("a link shown with a quote prefix")
    cells = [f'<c r="A{n}" s="{xf}"><v>{r.number:.16G}</v></c>']
    for col, text in zip("BCDEF", (r.level, r.place, r.rule, r.message, r.found),
                         strict=True):
        cells.append(string_cell(f"{col}{n}", quoted if looks_like_formula(text) else xf,
                                  text, strings))
    return f'<row r="{n}" spans="1:6"{height}>{"".join(cells)}</row>'


def hyperlink_element(r: IssueRow) -> str:
    assert r.link is not None
    if len(r.link) > MAX_LINK or "#" in r.link or not r.place or CONTROL.search(
            r.link + r.place):  # xlsxwriter writes attributes without escaping those
        raise CannotPatch("a link xlsxwriter treats differently")
    return (f'<hyperlink ref="C{4 + r.number}" location="{XML._escape_attributes(r.link)}" '
            f'display="{XML._escape_attributes(r.place)}"/>')


# --- probes for preparation ----------------------------------------------------------------

PROBE_TEXTS = ["文字 <&> \"引号\"", " 前后空格 ", "控制\x01字符 _x0041_", "第一行\n第二行", ""]


def header_xml(identity: Mapping[str, Any], cover: bool) -> str:
    """The page header of a sheet (the cover, or another) as its XML holds it."""
    return XML._escape_data(page_header(identity, cover))


def probe_values(layout: Layout, variant: int) -> dict[str, Any]:
    """Values that exercise every way a cell is written: numbers, text, blanks, "/"."""
    out: dict[str, Any] = {}
    for i, (fid, cell) in enumerate(layout.inputs.items()):
        pick = (i + variant) % 6 if variant else 0
        if cell.kind in NUMERIC_KINDS:
            out[fid] = [i, Decimal("12.35"), None, "/", 1e20, "十二"][pick]
        else:
            out[fid] = [f"文本{i}", PROBE_TEXTS[i % len(PROBE_TEXTS)], None, "x", "", "/"][pick]
    return out


def probe_issues(layout: Layout, variant: int) -> IssueList:
    """A 问题清单 with one linked finding (variant 0, 1) or a mixed list (2), linked to
    input cells of the layout."""
    first, last = (c.area for c in (next(iter(layout.inputs.values())),
                                    list(layout.inputs.values())[-1]))
    rows = [IssueRow(1, "错误", f"'{first.sheet}'!{first.a1}", f"{first.sheet}!{first.a1}",
                     "R1 规则", "问题" * variant, "-1", 30)]  # quoted: its xf is learned
    if variant == 2:
        rows += [IssueRow(2, "提醒", None, "整个文件", "说明 <&>", " 消息\n第二行 " * 40, "12件",
                          180),
                 IssueRow(3, "提醒", f"'{last.sheet}'!{last.a1}", f"{last.sheet}!{last.a1}",
                          "R8", "负数", "-3", 45)]
    return IssueList(f"摘要 {variant} <&>", tuple(rows))


# --- helpers --------------------------------------------------------------------------------


def comment_places(layout: Layout) -> dict[str, list[tuple[str, int, int]]]:
    """Where render puts the comment of a marked field: its input cell, its formula cells."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    for fid, cell in layout.inputs.items():
        out.setdefault(fid, []).append(cell.area.key)
    for f in layout.formulas:
        if f.field is not None:
            out.setdefault(f.field, []).append(f.area.key)
    every = [key for keys in out.values() for key in keys]
    if len(every) != len(set(every)):
        raise CannotPatch("two fields comment the same cell")
    return out


def cells_of(xml: str) -> dict[tuple[int, int], tuple[str | None, str]]:
    return {(int(m.group(2)) - 1, col_index(m.group(1))): (m.group(3), m.group(0))
            for m in CELL.finditer(xml)}


def col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def rowcol(ref: str) -> tuple[int, int]:
    m = re.fullmatch(r"([A-Z]+)(\d+)", ref)
    assert m is not None
    return int(m.group(2)) - 1, col_index(m.group(1))


def merge_text(pieces: Iterable[str | Slot]) -> list[str | Slot]:
    out: list[str | Slot] = []
    for p in pieces:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        elif p != "":
            out.append(p)
    return out


def first_match(pattern: str, text: str) -> str:
    m = re.search(pattern, text)
    if not m:
        raise CannotPatch(f"{pattern} not found")
    return m.group(0)


def workbook_sheet_names(workbook_xml: str) -> list[str]:
    from xml.sax.saxutils import unescape

    return [unescape(n, {"&quot;": '"'}) for n in
            re.findall(r'<sheet name="([^"]*)" sheetId=', workbook_xml)]


def sst_elements(xml: str) -> list[str]:
    """The shared strings as their <si> elements (compared and copied, never parsed)."""
    return SI.findall(xml)


def read_zip(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def difference(mine: bytes, theirs: bytes) -> str | None:
    """The first difference of two packages, shared strings resolved in the sheets."""
    a, b = read_zip(mine), read_zip(theirs)
    if [n for n, _ in a] != [n for n, _ in b]:
        return f"parts {[n for n, _ in a]} != {[n for n, _ in b]}"
    sa = sst_elements(dict(a)["xl/sharedStrings.xml"].decode())
    sb = sst_elements(dict(b)["xl/sharedStrings.xml"].decode())
    for (name, x), (_, y) in zip(a, b, strict=True):
        if name == "xl/sharedStrings.xml":
            continue
        if name.startswith("xl/worksheets/sheet"):
            x, y = resolved(x.decode(), sa).encode(), resolved(y.decode(), sb).encode()
        if x != y:
            at = next((i for i, (p, q) in enumerate(zip(x, y, strict=False))
                       if p != q), min(len(x), len(y)))
            return f"{name} at {at}: {x[at - 60:at + 60]!r} != {y[at - 60:at + 60]!r}"
    return None


def resolved(xml: str, strings: list[str]) -> str:
    return re.sub(r'( t="s"><v>)(\d+)(</v>)',
                  lambda m: f"{m.group(1)}{strings[int(m.group(2))]}{m.group(3)}", xml)


# --- the zip container ---------------------------------------------------------------------

DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01, as xlsxwriter dates its members


@dataclass(frozen=True)
class Deflated:
    """A member compressed once, copied into every package."""

    data: bytes
    crc: int
    size: int


def deflated_part(raw: bytes, level: int = 6) -> Deflated:
    """Parts prepared once get zlib's default level; parts of one feedback level 1 (a
    tenth larger, half the time)."""
    return Deflated(deflate.deflated(raw, level), deflate.crc32(raw), len(raw))


def zip_members(members: list[tuple[str, bytes | Deflated]]) -> bytes:
    """A zip of deflated members (what zipfile writes for xlsxwriter, minus the work of
    compressing the parts that never change)."""
    out, central, offset = [], [], 0
    for name, member in members:
        d = member if isinstance(member, Deflated) else deflated_part(member, 1)
        fname = name.encode()
        header = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 8, 0, DOS_DATE,
                             d.crc, len(d.data), d.size, len(fname), 0)
        central.append(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 8, 0,
                                   DOS_DATE, d.crc, len(d.data), d.size, len(fname), 0, 0,
                                   0, 0, 0, offset) + fname)
        out += [header, fname, d.data]
        offset += len(header) + len(fname) + len(d.data)
    cd = b"".join(central)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(cd),
                      offset, 0)
    return b"".join(out) + cd + end
