"""Turn what a filler typed into a value of the field's kind, saying what was assumed.

Blank, not applicable and 0 stay distinct. A number stored as text, full-width digits,
stray spaces, thousands separators, a leading apostrophe (`'12`) and a trailing unit (`12件`)
are read with a warning; text, negatives and fractions in counts are errors. Nothing is
guessed silently.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from nianbao.spec.model import AMOUNT, CODE, COUNT, TEXT, YEAR

MAX_COUNT = 10**12  # far above any published figure (a city's 3,985,758 行政处罚)


class NotApplicable:
    """The "not applicable" value (`/`, `—`, `无` where the form allows it); JSON "n/a"."""

    _instance: NotApplicable | None = None

    def __new__(cls) -> NotApplicable:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NA"

    def __reduce__(self) -> str:
        return "NA"


NA = NotApplicable()
NA_JSON = "n/a"

NA_CANONICAL = {"/", "—", "无"}  # what the template's own validation and live check accept
NA_WORDS = {"/", "\\", "—", "——", "-", "--", "―", "无", "不适用", "n/a", "na", "N/A", "NA"}
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
UNITS_COUNT = ("人次", "件", "个", "项", "次", "条", "份", "宗")
UNITS_AMOUNT = ("万元",)
_INT = re.compile(r"^[+-]?\d+$")
_DEC = re.compile(r"^[+-]?(\d+\.\d*|\.\d+)$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_SPACE = re.compile(r"\s+")
_APOSTROPHES = "'‘’`"  # (full-width ＇ is ' after NFKC)
_EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


@dataclass(frozen=True)
class Normalised:
    """The value read, and when something was assumed or is wrong, a finding code."""

    value: Any
    code: str | None = None
    detail: str = ""


def normalise(raw: Any, kind: str, not_applicable: bool = False) -> Normalised:
    """Read one raw cell value as a value of `kind` (count, amount, text, code, year)."""
    if kind in (COUNT, AMOUNT):
        return _number(raw, kind, not_applicable)
    if kind == YEAR:
        return _year(raw)
    return _text(raw, kind)


def _number(raw: Any, kind: str, na: bool) -> Normalised:
    if raw is None:
        return Normalised(None, "VALUE_BLANK")
    if isinstance(raw, bool):
        return Normalised(None, "VALUE_WRONG_TYPE", "逻辑值")
    if isinstance(raw, datetime | date | time):
        return Normalised(None, "VALUE_WRONG_TYPE", "日期或时间")
    if isinstance(raw, int):
        return _checked(Decimal(raw), kind, [])
    if isinstance(raw, float):
        if math.isnan(raw) or math.isinf(raw):
            return Normalised(None, "VALUE_WRONG_TYPE", "非有限数")
        return _checked(Decimal(repr(raw)), kind, [])
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            return Normalised(None, "VALUE_WRONG_TYPE", "非有限数")
        return _checked(raw, kind, [])
    if not isinstance(raw, str):
        return Normalised(None, "VALUE_WRONG_TYPE", type(raw).__name__)
    return _number_text(raw, kind, na)


def _number_text(raw: str, kind: str, na: bool) -> Normalised:
    notes: list[str] = []
    text = raw.translate(_INVISIBLE)
    if text != raw:
        notes.append("去掉了不可见字符")
    wide = unicodedata.normalize("NFKC", text)
    if wide != text:
        notes.append("全角字符按半角处理")
    text = wide
    squeezed = _SPACE.sub("", text)
    if squeezed != text:
        notes.append("去掉了空格或换行")
    text = squeezed
    if len(text) > 1 and text[0] in _APOSTROPHES:  # typed to keep a number as text, or
        text = text[1:]                           # a CSV export's formula guard: not data
        notes.append("去掉了开头的撇号")
    if not text:
        return Normalised(None, "VALUE_BLANK", "只有空格")
    if text in NA_WORDS or text.lower() in NA_WORDS:
        if not na:
            return Normalised(None, "VALUE_NA_NOT_ALLOWED")
        if raw in NA_CANONICAL:
            return Normalised(NA, "VALUE_NOT_APPLICABLE")
        # read as "not applicable", but the template's live check counts it as an error
        return Normalised(NA, "VALUE_NORMALISED", "按“不适用”处理，请改填“/”")
    for unit in UNITS_AMOUNT if kind == AMOUNT else UNITS_COUNT:
        if text.endswith(unit) and len(text) > len(unit):
            text = text[: -len(unit)]
            notes.append(f"去掉了单位“{unit}”")
            break
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
        notes.append("去掉了千分位逗号")
    if not (_INT.match(text) or _DEC.match(text)):
        return Normalised(None, "VALUE_TEXT")
    if len(text.lstrip("+-").split(".")[0].lstrip("0")) > 15:  # beyond any count, and beyond
        return Normalised(None, "VALUE_TOO_LARGE")            # what a spreadsheet keeps
    try:
        number = Decimal(text)
    except InvalidOperation:
        return Normalised(None, "VALUE_TEXT")
    notes.append("数字以文本形式存储")
    return _checked(number, kind, notes)


def _checked(number: Decimal, kind: str, notes: list[str]) -> Normalised:
    if number < 0:
        return Normalised(_plain(number), "VALUE_NEGATIVE")
    if abs(number) > MAX_COUNT:
        return Normalised(_plain(number), "VALUE_TOO_LARGE")
    if kind == COUNT:
        if number != number.to_integral_value():
            return Normalised(_plain(number), "VALUE_FRACTION")
        value: Any = int(number)
    else:
        value = _decimal(number)
    if notes:
        return Normalised(value, "VALUE_NORMALISED", "，".join(notes))
    return Normalised(value)


def _plain(number: Decimal) -> int | Decimal:
    """An integral Decimal as int; otherwise the Decimal without exponent noise."""
    if number == number.to_integral_value():
        return int(number)
    return Decimal(format(number.normalize(), "f"))


def _unescape(m: re.Match[str]) -> str:
    code = int(m.group(1), 16)
    # a lone surrogate is not text (no file system, database or UTF-8 can hold it)
    return "\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code)


def _decimal(number: Decimal) -> Decimal:
    """An amount keeps Decimal type, written without exponent ("100", "96171.6"); -0 is 0."""
    if number == 0:
        return Decimal(0)
    return Decimal(format(number.normalize(), "f"))


def _text(raw: Any, kind: str) -> Normalised:
    if raw is None:
        return Normalised(None, "TEXT_BLANK")
    if isinstance(raw, bool):
        text = "TRUE" if raw else "FALSE"
    elif isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    elif isinstance(raw, datetime | date | time):
        text = raw.isoformat()
    else:
        text = str(raw)
    # Excel stores characters XML cannot hold (a CR of pasted CR LF line breaks) as _xHHHH_;
    # a literal "_x0041_" it writes as "_x005F_x0041_", which this also undoes
    text = _EXCEL_ESCAPE.sub(_unescape, text)
    if kind == CODE:
        text = unicodedata.normalize("NFKC", text).strip()
    if not text.strip():
        return Normalised(None, "TEXT_BLANK")
    return Normalised(text.replace("\r\n", "\n") if kind == TEXT else text)


def _year(raw: Any) -> Normalised:
    if raw is None:
        return Normalised(None, "TEXT_BLANK")
    text = unicodedata.normalize("NFKC", str(raw)).strip().removesuffix("年").removesuffix(".0")
    if not re.fullmatch(r"\d{4}", text) or not 2000 <= int(text) <= 2100:
        return Normalised(None, "IDENTITY_INVALID", "应为四位数的年度，例如 2022")
    if not isinstance(raw, int) or isinstance(raw, bool):
        return Normalised(int(text), "VALUE_NORMALISED", "按年度数字读取")
    return Normalised(int(text))


def to_json(value: Any) -> Any:
    """A value as JSON: counts as integers, amounts as exact decimal strings, blank null,
    not applicable "n/a", text as text."""
    if value is NA:
        return NA_JSON
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


_JSON_AS_IS = frozenset({int, str, type(None)})


def json_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """to_json of every value of a record's identity, values or totals (a few hundred per
    file: whole numbers, text and blanks pass as they are, without a call)."""
    return {k: v if type(v) in _JSON_AS_IS else to_json(v) for k, v in values.items()}


def from_json(value: Any, kind: str) -> Any:
    """Inverse of to_json for one field kind."""
    if value is None:
        return None
    if value == NA_JSON and kind in (COUNT, AMOUNT):
        return NA
    if kind == AMOUNT:
        return _decimal(Decimal(str(value)))
    if kind in (COUNT, YEAR):
        return int(value)
    return value
