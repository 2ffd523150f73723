"""The roster: the reporting units a collection expects, from CSV, text or XLSX.

As offices save it: CSV in UTF-8 (with or without BOM) or GB18030, Excel's 「Unicode 文本」
(UTF-16, tab-separated .txt), or .xlsx; a title or blank rows above the header; dates as
2023/1/20 or date cells. Codes are compared as they look (full-width, non-breaking and
zero-width spaces normalised); control characters are refused in every field. Every problem
is reported with its row, all at once.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from nianbao.errors import InputError
from nianbao.text import decode_chinese

COLUMNS = {
    "code": ("单位代码", "代码", "编码", "code", "unit_code", "unit.code"),
    "name": ("单位名称", "名称", "单位", "name", "unit_name", "unit.name"),
    "parent": ("上级单位代码", "上级单位", "上级", "parent", "parent_code"),
    "contact": ("联系人", "联系方式", "联系人及电话", "contact"),
    "deadline": ("截止日期", "报送截止日期", "deadline"),
}


class RosterError(InputError):
    """The roster cannot be used; `problems` lists every located problem."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file, self.problems = file, problems
        super().__init__(f"名单 {file} 有 {len(problems)} 处问题：\n" + "\n".join(problems))


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    parent: str = ""
    contact: str = ""
    deadline: date | None = None
    row: int = 0


def load_roster(path: Path) -> list[Unit]:
    """Read and validate a roster; raise RosterError listing every problem."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError(name, [f"无法读取：{exc.strerror or exc}"]) from None
    if data.startswith(_OLE):
        raise RosterError(name, ["这是旧版 Excel（.xls）或 WPS（.et）格式：请在 Excel 或 WPS 中"
                                 "另存为 .xlsx 或 CSV 后再用"])
    rows = _xlsx_rows(data, name) if data[:2] == b"PK" else _text_rows(data, name)
    return validate_rows(rows, name)


_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of .xls and .et files


def _text_rows(data: bytes, name: str) -> list[list[str]]:
    """CSV, or Excel's 「Unicode 文本」 / 「文本文件（制表符分隔）」: tab-separated .txt."""
    text = decode_chinese(data)
    if text is None:
        raise RosterError(name, ["无法识别文件编码（应为 UTF-8、GBK 或 Excel 的“Unicode 文本”）"])
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _xlsx_rows(data: bytes, name: str) -> list[list[str]]:
    from nianbao.read.precheck import precheck_bytes

    pre = precheck_bytes(data, name)
    if not pre.ok:
        raise RosterError(name, [f.message for f in pre.findings])
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), data_only=True, read_only=False)
    except Exception as exc:  # an unreadable roster is reported, not raised
        raise RosterError(name, [f"无法读取工作簿：{exc}"]) from None
    ws = wb.worksheets[0]
    # only the used range: asking for a fixed 100,000 x 30 would create every empty cell
    return [["" if v is None else _cell_text(v) for v in row]
            for row in ws.iter_rows(values_only=True, max_row=min(ws.max_row, 100_000),
                                    max_col=min(ws.max_column, 30))]


def _cell_text(value: Any) -> str:
    if isinstance(value, datetime | date):  # an Excel date cell
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


HEADER_SEARCH = 20  # non-blank rows above the header: a title, a date, a note ...


def _columns(row: list[str]) -> dict[str, int]:
    """Which column holds which field, by the header's names."""
    header = [_key(h) for h in row]
    columns: dict[str, int] = {}
    for field, aliases in COLUMNS.items():
        keys = {_key(a) for a in aliases}
        for i, h in enumerate(header):
            if h in keys:
                columns[field] = i
                break
    return columns


def _header(numbered: list[tuple[int, list[str]]], name: str) -> tuple[int, dict[str, int]]:
    """Index of the header row (the first with both code and name columns) and its columns;
    a roster without one is refused naming what the header must hold."""
    for index, (_, row) in enumerate(numbered[:HEADER_SEARCH]):
        columns = _columns(row)
        if "code" in columns and "name" in columns:
            return index, columns
    columns = _columns(numbered[0][1])
    problems = [f"缺少“{COLUMNS[f][0]}”列（表头应含：单位代码、单位名称）"
                for f in ("code", "name") if f not in columns]
    if len(numbered) > 1:
        problems.append(f"前 {min(len(numbered), HEADER_SEARCH)} 行中没有一行同时含"
                        "“单位代码”和“单位名称”：表头行应写明这两列")
    raise RosterError(name, problems)


def validate_rows(rows: list[list[str]], name: str) -> list[Unit]:
    # keep each row's number in the file: blank lines are skipped, not renumbered
    numbered = [(n, r) for n, r in enumerate(rows, start=1) if any(str(c).strip() for c in r)]
    if not numbered:
        raise RosterError(name, ["名单为空"])
    start, columns = _header(numbered, name)
    problems: list[str] = []
    units: list[Unit] = []
    seen: dict[str, int] = {}
    for number, row in numbered[start + 1:]:
        unit = _unit(number, row, columns, problems)
        if unit is None:
            continue
        if unit.code in seen:
            problems.append(f"第 {number} 行：单位代码“{unit.code}”重复（第 {seen[unit.code]} 行"
                            "已有）")
            continue
        seen[unit.code] = number
        units.append(unit)
    codes = {u.code for u in units}
    for u in units:
        if u.parent and u.parent not in codes:
            problems.append(f"第 {u.row} 行：上级单位代码“{u.parent}”不在名单中（单位 {u.code}）")
    problems.extend(_cycles(units))
    if problems:
        raise RosterError(name, problems)
    return units


LABELS = {"code": "单位代码", "name": "单位名称", "parent": "上级单位代码", "contact": "联系人",
          "deadline": "截止日期"}


def _unit(number: int, row: list[str], columns: dict[str, int],
          problems: list[str]) -> Unit | None:
    """One row as a unit, or None with its problems appended (each naming the row)."""
    fields: dict[str, str] = {}
    bad = False
    for field, i in columns.items():
        raw = row[i] if i < len(row) else ""
        text = _code(raw) if field in ("code", "parent") else _clean(raw)
        hidden = unsafe_text(text, code=field in ("code", "parent"))
        if hidden:
            problems.append(f"第 {number} 行：{LABELS[field]}“{shown_text(text)}”含有{hidden}")
            bad = True
        fields[field] = text
    code, unit_name = fields.get("code", ""), fields.get("name", "")
    if bad:
        return None
    if not code:
        problems.append(f"第 {number} 行：单位代码为空")
        return None
    if any(ch in code for ch in "/\\") or code in (".", ".."):
        problems.append(f"第 {number} 行：单位代码“{code}”含有不允许的字符（/ \\）")
        return None
    if not unit_name:
        problems.append(f"第 {number} 行：单位名称为空（单位代码 {code}）")
    deadline = None
    text = fields.get("deadline", "")
    if text:
        deadline = parse_date(text)
        if deadline is None:
            problems.append(f"第 {number} 行：截止日期“{text}”应写作 2023-01-20 的形式")
    return Unit(code, unit_name, fields.get("parent", ""), fields.get("contact", ""), deadline,
                number)


_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                   r"(?:[ T]0{1,2}:0{2}(?::0{2})?)?$")


def parse_date(text: str) -> date | None:
    """2023-01-20, 2023/1/20, 2023.1.20 or 2023年1月20日 (as Excel and WPS show dates); None
    when it is no real date."""
    m = _DATE.match(unicodedata.normalize("NFKC", text).strip())
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _cycles(units: list[Unit]) -> list[str]:
    parent = {u.code: u.parent for u in units if u.parent}
    row = {u.code: u.row for u in units}
    reported: set[str] = set()
    out = []
    for start in parent:
        path, code = [], start
        while code in parent and code not in path:
            path.append(code)
            code = parent[code]
        if code in path:
            loop = path[path.index(code):]
            if not reported.intersection(loop):
                reported.update(loop)
                rows = "、".join(str(row[c]) for c in sorted(loop, key=row.__getitem__))
                out.append(f"第 {rows} 行：上级单位关系形成循环："
                           + " → ".join([*loop, code]))
    return out


def _key(text: Any) -> str:
    return _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", str(text))).strip().lower(
        ).replace(" ", "")


# zero-width spaces and joiners, the word joiner and a stray BOM: invisible, so removed
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_SPACES = re.compile(r"[^\S\n\r\t\v\f\x1c-\x1f\x85]+")  # spaces, not control characters
# `_x0041_` is how a workbook escapes a character: Excel shows it as "A", so what the unit
# sees (and returns) would differ from what was signed
_XML_ESCAPE = re.compile(r"_x[0-9a-fA-F]{4}_")


def _clean(text: Any) -> str:
    """Trimmed text; names keep their official full-width punctuation (and are never
    compared: only codes identify a unit)."""
    return str(text).strip()


def _code(text: Any) -> str:
    """A code as compared: full-width letters and digits and non-breaking spaces made plain
    (NFKC), zero-width characters removed, runs of spaces made one, trimmed; two codes that
    look alike are equal."""
    plain = _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", str(text)))
    return _SPACES.sub(" ", plain).strip()


def unsafe_text(text: str, code: bool) -> str:
    """What makes `text` unusable in an issued template ('' when nothing): characters a
    workbook cannot hold or changes on the way back would make a genuine return look forged."""
    for ch in text:
        category = unicodedata.category(ch)
        # a code also refuses format characters (a right-to-left mark could make one code
        # look like another); a name may hold them, it is never compared
        if category in ("Cc", "Cs") or _noncharacter(ch) or (code and category == "Cf"):
            return f"不可见的控制字符（U+{ord(ch):04X}）"
    if _XML_ESCAPE.search(text):
        return "会被 Excel 改写的“_xHHHH_”字样"
    return ""


def _noncharacter(ch: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane: never text, and not
    allowed in a workbook's XML. (Not every unassigned code point: a rare character newer
    than this Python's Unicode tables is still a character.)"""
    point = ord(ch)
    return 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE


def shown_text(text: str) -> str:
    """Text with its invisible characters written as U+XXXX, for a message."""
    return "".join(f"<U+{ord(ch):04X}>" if unicodedata.category(ch)[0] == "C" else ch
                   for ch in text)


def subtree(units: list[Unit], root: str) -> list[Unit]:
    """A unit and everything under it, in roster order."""
    children: dict[str, list[str]] = {}
    for u in units:
        children.setdefault(u.parent, []).append(u.code)
    keep, todo = set(), [root]
    while todo:
        code = todo.pop()
        if code not in keep:
            keep.add(code)
            todo.extend(children.get(code, []))
    return [u for u in units if u.code in keep]
