"""The roster: the reporting units a collection expects, from CSV or XLSX.

Headers may be Chinese or English; CSV may be UTF-8 (with or without BOM) or GB18030, as
Excel saves it on a Chinese Windows. Every problem is reported with its row, all at once.
"""

from __future__ import annotations

import csv
import io
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
    rows = _xlsx_rows(data, name) if data[:2] == b"PK" else _csv_rows(data, name)
    return validate_rows(rows, name)


def _csv_rows(data: bytes, name: str) -> list[list[str]]:
    text = decode_chinese(data)
    if text is None:
        raise RosterError(name, ["无法识别文件编码（应为 UTF-8 或 GBK）"])
    return [row for row in csv.reader(io.StringIO(text))]


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
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def validate_rows(rows: list[list[str]], name: str) -> list[Unit]:
    # keep each row's number in the file: blank lines are skipped, not renumbered
    numbered = [(n, r) for n, r in enumerate(rows, start=1) if any(str(c).strip() for c in r)]
    if not numbered:
        raise RosterError(name, ["名单为空"])
    header = [_key(h) for h in numbered[0][1]]
    columns: dict[str, int] = {}
    for field, aliases in COLUMNS.items():
        keys = {_key(a) for a in aliases}
        for i, h in enumerate(header):
            if h in keys:
                columns[field] = i
                break
    problems = [f"缺少“{COLUMNS[f][0]}”列（表头应含：单位代码、单位名称）"
                for f in ("code", "name") if f not in columns]
    if problems:
        raise RosterError(name, problems)
    units: list[Unit] = []
    seen: dict[str, int] = {}
    for number, row in numbered[1:]:
        def get(field: str, row: list[str] = row) -> str:
            i = columns.get(field)
            return _clean(row[i]) if i is not None and i < len(row) else ""

        code, unit_name = unicodedata.normalize("NFKC", get("code")), get("name")
        if not code:
            problems.append(f"第 {number} 行：单位代码为空")
            continue
        if any(ch in code for ch in "/\\\x00") or code in (".", ".."):
            problems.append(f"第 {number} 行：单位代码“{code}”含有不允许的字符（/ \\）")
            continue
        if not unit_name:
            problems.append(f"第 {number} 行：单位名称为空（单位代码 {code}）")
        elif any(ord(ch) < 32 for ch in unit_name):
            problems.append(f"第 {number} 行：单位名称含有不可见的控制字符（单位代码 {code}）")
        if code in seen:
            problems.append(f"第 {number} 行：单位代码“{code}”重复（第 {seen[code]} 行已有）")
            continue
        seen[code] = number
        deadline = None
        text = get("deadline")
        if text:
            try:
                deadline = date.fromisoformat(text.replace("/", "-"))
            except ValueError:
                problems.append(f"第 {number} 行：截止日期“{text}”应写作 2023-01-20 的形式")
        units.append(Unit(code, unit_name, get("parent"), get("contact"), deadline, number))
    codes = {u.code for u in units}
    for u in units:
        if u.parent and u.parent not in codes:
            problems.append(f"第 {u.row} 行：上级单位代码“{u.parent}”不在名单中（单位 {u.code}）")
    problems.extend(_cycles(units))
    if problems:
        raise RosterError(name, problems)
    return units


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
    return unicodedata.normalize("NFKC", str(text)).strip().lower().replace(" ", "")


def _clean(text: Any) -> str:
    """Trimmed text; names keep their official full-width punctuation."""
    return str(text).strip()


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
