"""Reading what a filler typed: the exact value and code of each case seen in the wild.

Blank, not applicable and 0 stay distinct; nothing is guessed silently.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nianbao.read.normalise import (
    MAX_COUNT,
    NA,
    NA_JSON,
    NotApplicable,
    from_json,
    normalise,
    to_json,
)

COUNT, AMOUNT, TEXT, CODE, YEAR = "count", "amount", "text", "code", "year"
NORM = "VALUE_NORMALISED"

# raw, kind, not_applicable allowed, expected value, expected code
CASES = [
    (12, COUNT, False, 12, None),
    ("12", COUNT, False, 12, NORM),
    (" 12 ", COUNT, False, 12, NORM),
    ("\n0", COUNT, False, 0, NORM),
    ("0 ", COUNT, False, 0, NORM),
    ("１２", COUNT, False, 12, NORM),
    ("\u3000１２\u3000", COUNT, False, 12, NORM),
    ("12件", COUNT, False, 12, NORM),
    ("12 件", COUNT, False, 12, NORM),
    ("3人次", COUNT, False, 3, NORM),
    ("1,234", COUNT, False, 1234, NORM),
    ("3,985,758", COUNT, False, 3985758, NORM),
    ("+5", COUNT, False, 5, NORM),
    ("1.0", COUNT, False, 1, NORM),
    ("12.", COUNT, False, 12, NORM),
    ("'12", COUNT, False, 12, NORM),           # a literal apostrophe, as typed or exported
    ("＇１２", COUNT, False, 12, NORM),
    ("’12件", COUNT, False, 12, NORM),
    ("'96171.6", AMOUNT, False, Decimal("96171.6"), NORM),
    ("'", COUNT, False, None, "VALUE_TEXT"),
    ("'abc", COUNT, False, None, "VALUE_TEXT"),
    ("/", COUNT, True, NA, "VALUE_NOT_APPLICABLE"),
    ("/", COUNT, False, None, "VALUE_NA_NOT_ALLOWED"),
    ("—", COUNT, True, NA, "VALUE_NOT_APPLICABLE"),
    ("—", COUNT, False, None, "VALUE_NA_NOT_ALLOWED"),
    ("——", COUNT, True, NA, NORM),
    ("无", COUNT, True, NA, "VALUE_NOT_APPLICABLE"),
    ("无", COUNT, False, None, "VALUE_NA_NOT_ALLOWED"),
    (" / ", COUNT, True, NA, NORM),
    ("不适用", COUNT, True, NA, NORM),
    ("N/A", COUNT, True, NA, NORM),
    ("/", AMOUNT, True, NA, "VALUE_NOT_APPLICABLE"),
    ("/", AMOUNT, False, None, "VALUE_NA_NOT_ALLOWED"),
    (None, COUNT, False, None, "VALUE_BLANK"),
    ("", COUNT, False, None, "VALUE_BLANK"),
    ("   ", COUNT, False, None, "VALUE_BLANK"),
    ("\n\t", COUNT, True, None, "VALUE_BLANK"),
    ("abc", COUNT, False, None, "VALUE_TEXT"),
    ("abc", COUNT, True, None, "VALUE_TEXT"),
    ("十二", COUNT, False, None, "VALUE_TEXT"),
    ("1e3", COUNT, False, None, "VALUE_TEXT"),
    ("0x10", COUNT, False, None, "VALUE_TEXT"),
    ("1,23", COUNT, False, None, "VALUE_TEXT"),
    ("12万元", COUNT, False, None, "VALUE_TEXT"),
    ("件", COUNT, False, None, "VALUE_TEXT"),
    ("#DIV/0!", COUNT, False, None, "VALUE_TEXT"),
    (-3, COUNT, False, -3, "VALUE_NEGATIVE"),
    ("-3", COUNT, False, -3, "VALUE_NEGATIVE"),
    ("－3", COUNT, False, -3, "VALUE_NEGATIVE"),
    (-0.5, AMOUNT, False, Decimal("-0.5"), "VALUE_NEGATIVE"),
    (1.5, COUNT, False, Decimal("1.5"), "VALUE_FRACTION"),
    ("1.5", COUNT, False, Decimal("1.5"), "VALUE_FRACTION"),
    (".5", COUNT, False, Decimal("0.5"), "VALUE_FRACTION"),
    (3985758, COUNT, False, 3985758, None),
    (3985758.0, COUNT, False, 3985758, None),
    (12.0, COUNT, False, 12, None),
    (Decimal("12.000"), COUNT, False, 12, None),
    (96171.6, AMOUNT, False, Decimal("96171.6"), None),
    (96171.6, AMOUNT, True, Decimal("96171.6"), None),
    ("96171.6", AMOUNT, True, Decimal("96171.6"), NORM),
    ("96,171.6", AMOUNT, False, Decimal("96171.6"), NORM),
    ("12万元", AMOUNT, False, Decimal("12"), NORM),
    (0.1, AMOUNT, False, Decimal("0.1"), None),
    (100, AMOUNT, False, Decimal("100"), None),
    (96171.6, COUNT, False, Decimal("96171.6"), "VALUE_FRACTION"),
    (True, COUNT, False, None, "VALUE_WRONG_TYPE"),
    (False, AMOUNT, False, None, "VALUE_WRONG_TYPE"),
    (datetime(2022, 1, 1), COUNT, False, None, "VALUE_WRONG_TYPE"),
    (date(2022, 1, 1), COUNT, False, None, "VALUE_WRONG_TYPE"),
    (time(12, 0), AMOUNT, False, None, "VALUE_WRONG_TYPE"),
    (float("nan"), COUNT, False, None, "VALUE_WRONG_TYPE"),
    (float("inf"), COUNT, False, None, "VALUE_WRONG_TYPE"),
    (float("-inf"), AMOUNT, False, None, "VALUE_WRONG_TYPE"),
    (Decimal("NaN"), AMOUNT, False, None, "VALUE_WRONG_TYPE"),
    (10**13, COUNT, False, 10**13, "VALUE_TOO_LARGE"),
    ("10000000000000", COUNT, False, 10**13, "VALUE_TOO_LARGE"),
    (MAX_COUNT, COUNT, False, MAX_COUNT, None),
    (b"12", COUNT, False, None, "VALUE_WRONG_TYPE"),
]


@pytest.mark.parametrize(("raw", "kind", "na", "value", "code"), CASES,
                         ids=[f"{c[0]!r}-{c[1]}-{'na' if c[2] else 'strict'}" for c in CASES])
def test_normalise(raw, kind, na, value, code):
    result = normalise(raw, kind, na)
    assert result.code == code
    if value is NA:
        assert result.value is NA
    else:
        assert result.value == value
        assert type(result.value) is type(value)


@pytest.mark.parametrize(("raw", "detail"), [
    ("12", "数字以文本形式存储"),
    (" 12 ", "去掉了空格或换行，数字以文本形式存储"),
    ("１２", "全角字符按半角处理，数字以文本形式存储"),
    ("12件", "去掉了单位“件”，数字以文本形式存储"),
    ("1,234", "去掉了千分位逗号，数字以文本形式存储"),
    ("'12", "去掉了开头的撇号，数字以文本形式存储"),
    (True, "逻辑值"),
    (datetime(2022, 1, 1), "日期或时间"),
    (float("nan"), "非有限数"),
])
def test_detail_says_what_was_assumed(raw, detail):
    assert normalise(raw, COUNT).detail == detail


def test_amounts_keep_decimal_type_without_float_noise():
    for raw in (96171.6, 0.1, 0.3, 1234.5678, 100.0):
        value = normalise(raw, AMOUNT).value
        assert isinstance(value, Decimal)
        assert str(value) == repr(raw).removesuffix(".0")


# --- blank, not applicable and 0 are three different things -----------------------------------


def test_blank_na_and_zero_are_distinct():
    blank = normalise(None, COUNT, True)
    na = normalise("/", COUNT, True)
    zero = normalise(0, COUNT, True)
    assert (blank.value, blank.code) == (None, "VALUE_BLANK")
    assert (na.value, na.code) == (NA, "VALUE_NOT_APPLICABLE")
    assert (zero.value, zero.code) == (0, None)
    assert na.value is not None and na.value != 0 and blank.value != 0
    assert len({to_json(blank.value), to_json(na.value), to_json(zero.value)} - {None}) == 2
    assert [to_json(v) for v in (blank.value, na.value, zero.value)] == [None, NA_JSON, 0]


def test_na_is_a_singleton_that_survives_copy_and_pickle():
    import copy
    import pickle

    assert NotApplicable() is NA
    assert copy.deepcopy(NA) is NA
    assert pickle.loads(pickle.dumps(NA)) is NA
    assert repr(NA) == "NA"


# --- text, code, year --------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "kind", "value", "code"), [
    ("某局", TEXT, "某局", None),
    ("第一行\r\n第二行", TEXT, "第一行\n第二行", None),
    (None, TEXT, None, "TEXT_BLANK"),
    ("  ", TEXT, None, "TEXT_BLANK"),
    (" ３３０５０３-017 ", CODE, "330503-017", None),
    (330503.0, CODE, "330503", None),
    (2022, YEAR, 2022, None),
    (2022.0, YEAR, 2022, NORM),
    ("2022", YEAR, 2022, NORM),
    ("２０２２年", YEAR, 2022, NORM),
    ("二〇二二", YEAR, None, "IDENTITY_INVALID"),
    (1999, YEAR, None, "IDENTITY_INVALID"),
    (True, YEAR, None, "IDENTITY_INVALID"),
    (None, YEAR, None, "TEXT_BLANK"),
])
def test_text_code_year(raw, kind, value, code):
    result = normalise(raw, kind)
    assert (result.value, result.code) == (value, code)


# --- JSON -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "kind", "json_value"), [
    (None, COUNT, None),
    (NA, COUNT, "n/a"),
    (NA, AMOUNT, "n/a"),
    (0, COUNT, 0),
    (3985758, COUNT, 3985758),
    (Decimal("96171.6"), AMOUNT, "96171.6"),
    (Decimal("100"), AMOUNT, "100"),
    (Decimal("0.0001"), AMOUNT, "0.0001"),
    ("某局", TEXT, "某局"),
    (2022, YEAR, 2022),
])
def test_json_round_trip(value, kind, json_value):
    assert to_json(value) == json_value
    back = from_json(json_value, kind)
    assert back is NA if value is NA else (back == value and type(back) is type(value))


def test_from_json_accepts_a_float_for_an_amount():
    assert from_json(96171.6, AMOUNT) == Decimal("96171.6")


# --- properties -------------------------------------------------------------------------------

SPACE = st.sampled_from([" ", "\t", "\n", "\r\n", "\u3000", "\xa0"])
FULL = str.maketrans("0123456789", "０１２３４５６７８９")


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, MAX_COUNT), as_text=st.booleans(), full_width=st.booleans(),
       before=st.lists(SPACE, max_size=3), after=st.lists(SPACE, max_size=3),
       na=st.booleans())
def test_any_non_negative_int_reads_back(n, as_text, full_width, before, after, na):
    if as_text:
        text = str(n).translate(FULL) if full_width else str(n)
        raw: object = "".join(before) + text + "".join(after)
    else:
        raw = n
    result = normalise(raw, COUNT, na)
    assert result.value == n and type(result.value) is int
    assert result.code == (NORM if as_text else None)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, MAX_COUNT))
def test_any_non_negative_int_as_float_cell_reads_back(n):
    if float(n) == n:  # what a spreadsheet stores
        assert normalise(float(n), COUNT).value == n


@settings(max_examples=300, deadline=None)
@given(amount=st.decimals(min_value=0, max_value=MAX_COUNT - 1, places=4,
                          allow_nan=False, allow_infinity=False))
def test_any_decimal_amount_round_trips_through_json(amount):
    value = normalise(amount, AMOUNT).value
    assert isinstance(value, Decimal) and value == amount
    encoded = to_json(value)
    assert isinstance(encoded, str) and "E" not in encoded.upper()
    back = from_json(encoded, AMOUNT)
    assert back == amount and isinstance(back, Decimal)
    assert to_json(back) == encoded
    again = normalise(encoded, AMOUNT)  # the same amount typed as text
    assert (again.value, again.code) == (amount, NORM)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                 st.decimals(), st.datetimes(), st.binary(max_size=4)),
       st.sampled_from([COUNT, AMOUNT, TEXT, CODE, YEAR]), st.booleans())
def test_normalise_never_raises(raw, kind, na):
    result = normalise(raw, kind, na)
    if result.code is None and kind in (COUNT, AMOUNT):
        assert isinstance(result.value, int | Decimal) and not isinstance(result.value, bool)
        assert result.value >= 0
        if isinstance(result.value, Decimal):
            assert result.value.is_finite()
    if isinstance(raw, float) and not math.isfinite(raw) and kind in (COUNT, AMOUNT):
        assert result.code == "VALUE_WRONG_TYPE"


@given(st.dictionaries(st.text(max_size=5), st.one_of(
    st.none(), st.integers(), st.booleans(), st.text(max_size=5), st.just(NA),
    st.decimals(allow_nan=False, allow_infinity=False, places=2), st.floats())))
def test_json_values_is_to_json_of_each(values):
    from nianbao.read.normalise import json_values, to_json

    found = json_values(values)
    assert [(k, type(v), repr(v)) for k, v in found.items()] == [
        (k, type(to_json(v)), repr(to_json(v))) for k, v in values.items()]
