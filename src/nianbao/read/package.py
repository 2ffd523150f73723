"""The small parts of a package, the same bytes in every return of a template, parsed as
openpyxl parses them: [Content_Types].xml, workbook.xml, relationships, styles.xml; each
remembered by its bytes (and what else its result depends on) in the cache's memos."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any
from xml.etree.ElementTree import fromstring

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH

from nianbao.read.cache import Memo
from nianbao.read.ooxml import (
    REL_NS,
    RID,
    STRICT_NAMESPACES,
    StrictOOXML,
    UnsupportedWorkbook,
    local_name,
)

_STRICT_MESSAGE = ("这是 Strict Open XML 格式的工作簿，无法读取；请在 Excel 中“另存为”"
                   "“Excel 工作簿(*.xlsx)”后重新提交")
_CT_SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.%s+xml"
_CT_WORKBOOKS = (  # openpyxl's order of preference
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
    _CT_SPREADSHEET % "template.main",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    _CT_SPREADSHEET % "sheet.main",
)
_CT_SHARED_STRINGS = _CT_SPREADSHEET % "sharedStrings"
STYLES_PART = "xl/styles.xml"
_DEFAULT_WORKBOOK_PART = "/xl/workbook.xml"
_SHEET_ATTRS = frozenset({"name", "sheetId", "state", "id"})
_REL_ATTRS = frozenset({"Id", "Type", "type", "Target", "TargetMode"})
PART_BYTES = 256 * 1024  # larger parts are parsed each time (not kept)


class Rel:
    __slots__ = ("target", "type")

    def __init__(self, type_: str, target: str) -> None:
        self.type, self.target = type_, target


def cached(parts: Memo, key: tuple[Any, ...], parse: Callable[[], Any]) -> Any:
    """parse(), remembered in `parts` by `key` (the part's bytes and what else the result
    depends on); failures are not remembered (each read raises them again)."""
    found = parts.find(key)
    if found is None:
        found = parse()
        if sum(len(k) for k in key if isinstance(k, bytes)) <= PART_BYTES:
            parts.keep(key, found)
    return found


def content_types(raw: bytes) -> tuple[str, str | None]:
    """(workbook part, shared strings part or None) from [Content_Types].xml."""
    root = fromstring(raw)
    defaults: list[str] = []
    overrides: list[tuple[str, str]] = []
    for el in root:
        local = local_name(el.tag)
        if local == "Default":
            ext, ctype = el.get("Extension"), el.get("ContentType")
            if ext is None or ctype is None:
                raise TypeError("expected <class 'str'>")
            defaults.append(ctype)
        elif local == "Override":
            part, ctype = el.get("PartName"), el.get("ContentType")
            if part is None or ctype is None:
                raise TypeError("expected <class 'str'>")
            overrides.append((part, ctype))
    by_type: dict[str, str] = {}
    for part, ctype in overrides:
        by_type.setdefault(ctype, part)
    workbook = next((by_type[ct] for ct in _CT_WORKBOOKS if ct in by_type), None)
    if workbook is None:
        if not defaults:  # openpyxl's default manifest has no workbook type either
            raise OSError("File contains no valid workbook part")
        if not set(defaults) & set(_CT_WORKBOOKS):
            raise OSError("File contains no valid workbook part")
        workbook = _DEFAULT_WORKBOOK_PART
    strings = by_type.get(_CT_SHARED_STRINGS)
    return workbook[1:], strings[1:] if strings is not None else None


def workbook_sheets(raw: bytes) -> tuple[Any, tuple[tuple[str, str, str | None], ...]]:
    """(date epoch, (name, state, relationship id) of each sheet) from workbook.xml."""
    epoch = WINDOWS_EPOCH
    root = fromstring(raw)
    if root.tag.startswith("{") and root.tag[1:].startswith(STRICT_NAMESPACES):
        raise StrictOOXML(_STRICT_MESSAGE)
    sheets_el = props = None
    for el in root:  # openpyxl matches children by local name; the last one wins
        local = local_name(el.tag)
        if local == "sheets":
            sheets_el = el
        elif local == "workbookPr":
            props = el
    if props is not None:
        flag = props.get("date1904")
        if flag is not None and flag not in ("false", "f", "0") and bool(flag):
            epoch = MAC_EPOCH
    sheets: list[tuple[str, str, str | None]] = []
    for el in sheets_el if sheets_el is not None else ():
        attrib = el.attrib
        if any(k[0] != "{" and k not in _SHEET_ATTRS for k in attrib):
            raise UnsupportedWorkbook("工作表声明含未知属性")
        name = attrib.get("name")
        if name is None:
            raise TypeError("expected <class 'str'>")
        sheet_id = attrib.get("sheetId")
        try:
            int(sheet_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError("expected <class 'int'>") from None
        for key in attrib:
            if key[0] == "{" and key != RID and key[1:].startswith(STRICT_NAMESPACES):
                raise StrictOOXML(_STRICT_MESSAGE)
        rid = attrib[RID] if RID in attrib else attrib.get("id")
        state = attrib.get("state", "visible")
        sheets.append((name, state, rid))
    return epoch, tuple(sheets)


def relationships(path: str, raw: bytes) -> tuple[tuple[str | None, Rel], ...]:
    """(Id, relationship) in order, targets made absolute as openpyxl's get_dependents
    makes them; no relationships at all when one is invalid (openpyxl warns)."""
    root = fromstring(raw)
    folder = posixpath.dirname(path)
    parent = posixpath.split(folder)[0]
    found: list[tuple[str | None, Rel]] = []
    for el in root:
        attrib = el.attrib
        if any(k[0] != "{" and k not in _REL_ATTRS for k in attrib):
            return ()
        type_ = attrib.get("Type")
        if attrib.get("type") is not None:
            type_ = f"{REL_NS}/{attrib['type']}"
        target = attrib.get("Target")
        if type_ is None or target is None:
            return ()
        if attrib.get("TargetMode") == "External":
            pass
        elif target.startswith("/"):
            target = target[1:]
        else:
            target = posixpath.normpath(posixpath.join(parent, target))
        found.append((attrib.get("Id"), Rel(type_, target)))
    return tuple(found)


def rels_path(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def parse_styles(raw: bytes) -> tuple[int, frozenset[int], frozenset[int]]:
    """(number of cellXfs, indexes with a date format, indexes with a timedelta format),
    following openpyxl's Stylesheet._normalise_numbers."""
    root = fromstring(raw)
    num_fmts = cell_xfs = None
    for el in root:
        local = local_name(el.tag)
        if local == "numFmts":
            num_fmts = el
        elif local == "cellXfs":
            cell_xfs = el
    custom: dict[int, str] = {}
    for el in num_fmts if num_fmts is not None else ():
        if local_name(el.tag) != "numFmt":
            continue
        code = el.get("formatCode")
        try:
            fmt_id = int(el.get("numFmtId"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError("expected <class 'int'>") from None
        if code is None:
            raise TypeError("expected <class 'str'>")
        custom[fmt_id] = code
    dates, timedeltas = set(), set()
    count = 0
    for el in cell_xfs if cell_xfs is not None else ():
        if local_name(el.tag) != "xf":
            continue
        try:
            fmt_id = int(el.get("numFmtId", 0))
        except (TypeError, ValueError):
            raise TypeError("expected <class 'int'>") from None
        fmt = custom[fmt_id] if fmt_id in custom else BUILTIN_FORMATS.get(fmt_id)
        if is_date_format(fmt):
            dates.add(count)
        if is_timedelta_format(fmt):
            timedeltas.add(count)
        count += 1
    return count, frozenset(dates), frozenset(timedeltas)
