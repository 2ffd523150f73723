"""Cells as openpyxl reads them, for both ways of reading a worksheet (the byte scan and
iterparse): positions, styles, values, formulas, rich text, merged ranges and hyperlinks
as elements. Leaf functions whose exact behaviour matters are openpyxl's own, imported."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

from openpyxl.cell.text import PhoneticText, RichText, Text
from openpyxl.formula.translate import Translator
from openpyxl.utils.cell import coordinate_to_tuple, range_boundaries, range_to_tuple
from openpyxl.utils.datetime import from_excel, from_ISO8601

from nianbao.read.cache import Memo
from nianbao.read.ooxml import KNOWN, RID, RPR, T, UnsupportedWorkbook, local_name

_LINK_ATTRS = frozenset({"ref", "location", "tooltip", "display", "id", "target"})


def _tricky(cls: type, elements: tuple[str, ...]) -> frozenset[str]:
    """Child tags openpyxl's Serialisable.from_tree would treat as something other than an
    element it knows (aliases, methods, attributes): it crashes or misreads them."""
    names = set()
    for name in dir(cls):
        try:
            value = getattr(cls, name)
        except AttributeError:  # pragma: no cover
            continue
        if value is not None and not isinstance(value, property):
            names.add(name)
    return frozenset(names - set(elements))


_TEXT_TRICKY = _tricky(Text, ("t", "r", "rPh", "phoneticPr"))
_RUN_TRICKY = _tricky(RichText, ("rPr", "t"))
_PHONETIC_TRICKY = _tricky(PhoneticText, ("t",))
_PHONETIC_PR_TYPES = frozenset({"halfwidthKatakana", "fullwidthKatakana", "Hiragana",
                                "noConversion", "none"})
_PHONETIC_PR_ALIGN = frozenset({"noControl", "left", "center", "distributed", "none"})


def coordinate(ref: str, coords: Memo) -> tuple[int, int, tuple[int, int]]:
    """(row, column, zero-based key) of a cell reference, remembered in `coords`."""
    found = coords.get(ref)
    if found is None:
        row, col = coordinate_to_tuple(ref)  # openpyxl's own parse, raises as it does
        found = (row, col, (row - 1, col - 1))
        coords.keep(ref, found)
    return found


def merge_bounds(ref: str, ranges: Memo) -> tuple[int, int, int, int]:
    """(min_row, min_col, max_row, max_col) of a mergeCell ref, as MergedCellRange finds it."""
    found = ranges.get(ref)
    if found is None:
        if "!" in ref:
            _, (min_col, min_row, max_col, max_row) = range_to_tuple(ref)
        else:
            min_col, min_row, max_col, max_row = range_boundaries(ref)
        if None in (min_col, min_row, max_col, max_row):  # "A:B" or "1:2": CellRange fails
            raise TypeError(f"{ref} is not a cell range")
        if min_col > max_col or min_row > max_row:
            raise ValueError(f"{ref}: the end must be after the start")
        if min_row < 1:  # worksheet.cell() refuses it
            raise ValueError("Row or column values must be at least 1")
        found = (min_row, min_col, max_row, max_col)
        ranges.keep(ref, found)
    return found


def style_flag(s: str, n_styles: int, dates: frozenset[int],
                timedeltas: frozenset[int]) -> int:
    """0 plain, 1 date, 2 timedelta, for a cell's `s` attribute; raises as openpyxl's
    `_cell_styles[style_id]` does for a style that does not exist."""
    if not s:
        raise TypeError("list indices must be integers or slices, not str")
    index = int(s)
    if not -n_styles <= index < n_styles:
        raise IndexError("list index out of range")
    if index in dates:
        return 2 if index in timedeltas else 1
    return 0


def style_index(s: str, n_styles: int) -> int:
    """`_cell_styles[int(s)]` as openpyxl evaluates it for a row or column style."""
    index = int(s)
    if not -n_styles <= index < n_styles:
        raise IndexError("list index out of range")
    return index


def check_col(min_: str | None, style: str | None, n_styles: int) -> None:
    """What openpyxl's parse_column_dimensions / bind_col_dimensions can fail on, given a
    col element's min and style attributes."""
    if min_ is None:
        raise KeyError("min")  # as openpyxl
    index = int(min_)  # ValueError, as openpyxl
    if not 1 <= index <= 18278:
        raise ValueError(f"Invalid column index {index}")
    if style is not None:
        style_index(style, n_styles)


def position(ref: str | None, col: int, row: int, coords: Memo
             ) -> tuple[int, tuple[int, int]]:
    """A cell's (1-based column, zero-based key): from its `r`, or next to the previous
    cell of its row when it has none (both parsing paths place cells this way)."""
    if ref:
        found = coordinate(ref, coords)
        return found[1], found[2]
    return col + 1, (row - 1, col)


def typed(t: str, text: str | None, strings: list[str], flag: int, epoch: Any) -> Any:
    """A cell's value from its <v> text and type, as openpyxl's data_only load holds it
    (both the byte scan and the iterparse path use this, so they cannot differ)."""
    if text is None:
        return None
    if t == "n":
        value: Any = float(text) if "." in text or "E" in text or "e" in text else int(text)
        return date_value(value, epoch, flag) if flag else value
    if t == "s":
        return strings[int(text)]
    if t == "b":
        return bool(int(text))
    if t == "d":
        return from_ISO8601(text)
    return text


def date_value(value: int | float, epoch: Any, flag: int) -> Any:
    try:
        return from_excel(value, epoch, timedelta=flag == 2)
    except (OverflowError, ValueError):
        return "#VALUE!"


def formula(f: Element, ref: str | None, shared: dict[str | None, Translator]) -> str:
    """The formula text without "=", as read_openpyxl derives it from WorkSheetParser."""
    return formula_text(f.get("t"), f.get("si"), "ref" in f.attrib, f.text, ref, shared)


def formula_text(kind: str | None, index: str | None, has_ref: bool, body: str | None,
                  ref: str | None, shared: dict[str | None, Translator]) -> str:
    """`formula` given the f element's t, si, whether it has a ref, and its text."""
    text = "=" + body if body is not None else "="
    if kind is None:
        return text[1:]
    if kind == "shared":
        translator = shared.get(index)
        if translator is not None:
            return translator.translate_formula(ref).removeprefix("=")
        if text != "=":
            shared[index] = Translator(text, ref)
        return text[1:]
    if kind == "dataTable":
        if not has_ref:
            raise TypeError("DataTableFormula.__init__() missing 1 required positional "
                            "argument: 'ref'")
        return "TABLE()"
    return text[1:]  # "array" (ArrayFormula text) and any other kind


def rich_text(node: Element) -> str:
    """openpyxl's Text.from_tree(node).content: the plain text, then the text of each run;
    phonetic runs and properties left out (but checked as openpyxl checks them). Children
    are matched by local name, as openpyxl's Serialisable.from_tree matches them."""
    attrib = node.attrib
    if attrib and any(k[0] != "{" for k in attrib):
        raise UnsupportedWorkbook("文本单元格含未知属性")
    plain = None
    runs: list[str] = []
    for el in node:
        tag = el.tag
        local = KNOWN.get(tag) or local_name(tag)
        if local == "t":
            plain = el.text
        elif local == "r":
            if el.attrib and any(k[0] != "{" for k in el.attrib):
                raise UnsupportedWorkbook("富文本含未知属性")
            run = None
            for sub in el:
                sub_tag = sub.tag
                if sub_tag == T:
                    run = sub.text
                elif sub_tag != RPR:  # run fonts are not validated (see the module doc)
                    sub_local = local_name(sub_tag)
                    if sub_local == "t":
                        run = sub.text
                    elif sub_local in _RUN_TRICKY:
                        raise UnsupportedWorkbook(f"富文本含未知元素 {sub_local}")
            if run is not None:
                runs.append(run)
        elif local == "rPh":
            _check_phonetic(el)
        elif local == "phoneticPr":
            _check_phonetic_pr(el)
        elif local in _TEXT_TRICKY:
            raise UnsupportedWorkbook(f"文本含未知元素 {local}")
    if not runs:
        return plain if plain is not None else ""
    return "".join([plain, *runs] if plain is not None else runs)


def _check_phonetic(el: Element) -> None:
    """PhoneticText.from_tree: sb and eb are required integers."""
    attrib = el.attrib
    if any(k[0] != "{" and k not in ("sb", "eb", "t") for k in attrib):
        raise UnsupportedWorkbook("拼音文本含未知属性")
    for sub in el:
        if local_name(sub.tag) in _PHONETIC_TRICKY:
            raise UnsupportedWorkbook("拼音文本含未知元素")
    for name in ("sb", "eb"):
        try:
            int(attrib.get(name))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError("expected <class 'int'>") from None


def _check_phonetic_pr(el: Element) -> None:
    """PhoneticProperties.from_tree: fontId a required integer, type/alignment enumerated."""
    attrib = el.attrib
    if len(el) or any(k[0] != "{" and k not in ("fontId", "type", "alignment") for k in attrib):
        raise UnsupportedWorkbook("拼音属性含未知内容")
    try:
        int(attrib.get("fontId"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError("expected <class 'int'>") from None
    kind, align = attrib.get("type"), attrib.get("alignment")
    if (kind is not None and kind not in _PHONETIC_PR_TYPES) or (
            align is not None and align not in _PHONETIC_PR_ALIGN):
        raise ValueError("Value must be one of the phonetic property values")


def merge_ref(el: Element) -> str:
    attrib = el.attrib
    if any(k[0] != "{" and k != "ref" for k in attrib):
        raise UnsupportedWorkbook("合并单元格含未知属性")
    if len(el):
        raise UnsupportedWorkbook("合并单元格含子元素")
    ref = attrib.get("ref")
    if ref is None:
        raise TypeError("CellRange needs a range string")
    return ref


def link(el: Element) -> dict[str, str]:
    attrib = el.attrib
    if any(k[0] != "{" and k not in _LINK_ATTRS for k in attrib):
        raise UnsupportedWorkbook("超链接含未知属性")
    if len(el):
        raise UnsupportedWorkbook("超链接含子元素")
    if attrib.get("ref") is None:
        raise TypeError("expected <class 'str'>")
    link = {k: v for k, v in attrib.items() if k[0] != "{"}
    if RID in attrib:
        link["id"] = attrib[RID]
    return link
