"""Rosters as offices really save them: Excel's 「Unicode 文本」 (UTF-16, tabs), GBK text,
title rows above the header, dates as Excel and WPS write them, codes with full-width,
non-breaking and zero-width characters; control characters refused in every field. Any code
and name the roster accepts comes back from an issued template as signed: a genuine return
can never be called forged."""

from __future__ import annotations

import datetime
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from nianbao.check import check_file
from nianbao.collect.roster import Unit, load_roster, parse_date
from nianbao.collect.signing import verify
from tests.collect_helpers import issue, make_workspace
from tests.test_roster import problems_of, write

EXPECTED = [
    Unit("330599", "青溪区人民政府办公室", "", "办公室 张敏", None, 2),
    Unit("330599-002", "青溪区发展和改革局", "330599", "办公室 蒋琳", date(2023, 1, 18), 3),
]
LINES = [["单位代码", "单位名称", "上级单位代码", "联系人", "截止日期"],
         ["330599", "青溪区人民政府办公室", "", "办公室 张敏", ""],
         ["330599-002", "青溪区发展和改革局", "330599", "办公室 蒋琳", "2023/1/18"]]


def text_of(lines: list[list[str]], sep: str = ",") -> str:
    return "\r\n".join(sep.join(line) for line in lines) + "\r\n"


@pytest.mark.parametrize(("encoding", "sep"), [
    ("utf-16", "\t"),       # Excel: 另存为「Unicode 文本」(.txt): UTF-16 LE with BOM, tabs
    ("utf-16-be", "\t"),
    ("gbk", "\t"),          # Excel: 「文本文件（制表符分隔）」 on a Chinese Windows
    ("gb18030", ","),       # Excel / WPS: CSV on a Chinese Windows
    ("utf-8-sig", ","),     # Excel: 「CSV UTF-8」
    ("utf-8", ","),
])
def test_text_rosters_as_excel_and_wps_save_them(tmp_path: Path, encoding: str,
                                                  sep: str) -> None:
    data = text_of(LINES, sep).encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    assert load_roster(write(tmp_path, data, "名单.txt")) == EXPECTED


def test_a_title_and_blank_rows_above_the_header(tmp_path: Path) -> None:
    lines = [["2022年度政府信息公开工作年度报告报送单位名单", "", "", "", ""],
             ["", "", "", "", ""], ["制表：政务公开办", "", "", "", "2023-01-03"], *LINES]
    units = load_roster(write(tmp_path, text_of(lines).encode("gb18030")))
    assert units == [Unit(u.code, u.name, u.parent, u.contact, u.deadline, u.row + 3)
                     for u in EXPECTED]


def test_xlsx_with_a_title_row_date_cells_and_numbers(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["青溪区报送单位名单（2022年度）"])
    ws.merge_cells("A1:E1")
    ws.append([])
    ws.append(LINES[0])
    ws.append([330599, "青溪区人民政府办公室", None, "办公室 张敏", None])
    ws.append(["330599-002", "青溪区发展和改革局", 330599.0, "办公室 蒋琳",
               datetime.datetime(2023, 1, 18)])
    ws.append(["330599-003", "青溪区教育局", "330599", None, datetime.date(2023, 1, 19)])
    ws["E6"].number_format = "yyyy/m/d"
    wb.save(tmp_path / "名单.xlsx")
    assert load_roster(tmp_path / "名单.xlsx") == [
        Unit(u.code, u.name, u.parent, u.contact, u.deadline, u.row + 2) for u in EXPECTED
    ] + [Unit("330599-003", "青溪区教育局", "330599", "", date(2023, 1, 19), 6)]


def test_no_header_row_says_what_is_expected(tmp_path: Path) -> None:
    text = "青溪区报送单位名单\n\n代号,机构\n330599,青溪区人民政府办公室\n"
    assert problems_of(write(tmp_path, text.encode())) == [
        "缺少“单位代码”列（表头应含：单位代码、单位名称）",
        "缺少“单位名称”列（表头应含：单位代码、单位名称）",
        "前 3 行中没有一行同时含“单位代码”和“单位名称”：表头行应写明这两列",
    ]


def test_an_old_xls_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "名单.xls")
    assert problems_of(path) == [
        "这是旧版 Excel（.xls）或 WPS（.et）格式：请在 Excel 或 WPS 中另存为 .xlsx 或 CSV 后再用"]


@pytest.mark.parametrize(("text", "expected"), [
    ("2023-01-20", date(2023, 1, 20)), ("2023/1/20", date(2023, 1, 20)),
    ("2023.1.2", date(2023, 1, 2)), ("2023年1月20日", date(2023, 1, 20)),
    ("２０２３／１／２０", date(2023, 1, 20)), ("2023/1/20 0:00", date(2023, 1, 20)),
    ("2023-01-20 00:00:00", date(2023, 1, 20)),
    ("2023/2/30", None), ("20230120", None), ("1/20/2023", None), ("44946", None),
    ("下周五", None), ("2023/1/20 9:30", None),
])
def test_dates_as_offices_write_them(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


def test_codes_are_compared_as_they_look(tmp_path: Path) -> None:
    text = ("单位代码,单位名称,上级单位代码\n"
            "\u200b330599\ufeff,青溪区人民政府办公室,\n"
            "３３０５９９－００２\u00a0,青溪区发展和改革局,３３０５９９\n"
            "330599-003\u3000,青溪区教育局,330599\u200d\n")
    assert [(u.code, u.name, u.parent) for u in load_roster(write(tmp_path, text.encode()))] == [
        ("330599", "青溪区人民政府办公室", ""), ("330599-002", "青溪区发展和改革局", "330599"),
        ("330599-003", "青溪区教育局", "330599")]


def test_two_codes_that_look_identical_are_one_unit(tmp_path: Path) -> None:
    text = ("单位代码,单位名称\n330599-002,青溪区发展和改革局\n"
            "３３０５９９-００２,青溪区发改局\n330599-\u200b002,发改局\n330599-002\u00a0,发改\n"
            "A 1,甲\nA\u00a0\u3000 1,乙\n")
    assert problems_of(write(tmp_path, text.encode())) == [
        *(f"第 {n} 行：单位代码“330599-002”重复（第 2 行已有）" for n in (3, 4, 5)),
        "第 7 行：单位代码“A 1”重复（第 6 行已有）"]


@pytest.mark.parametrize(("row", "expected"), [
    ("330599-0\x0b02,甲,,,",
     "第 3 行：单位代码“330599-0<U+000B>02”含有不可见的控制字符（U+000B）"),
    ("330599-002\x7f,甲,,,",
     "第 3 行：单位代码“330599-002<U+007F>”含有不可见的控制字符（U+007F）"),
    ("330599-00\u202e2,甲,,,",
     "第 3 行：单位代码“330599-00<U+202E>2”含有不可见的控制字符（U+202E）"),
    ("330599-002\u00ad,甲,,,",
     "第 3 行：单位代码“330599-002<U+00AD>”含有不可见的控制字符（U+00AD）"),
    ('"330599-\n002",甲,,,',
     "第 3 行：单位代码“330599-<U+000A>002”含有不可见的控制字符（U+000A）"),
    ('330599-002,"甲\r\n局",,,',
     "第 3 行：单位名称“甲<U+000D><U+000A>局”含有不可见的控制字符（U+000D）"),
    ("330599-002,甲\x1b]0;x\x07局,,,",
     "第 3 行：单位名称“甲<U+001B>]0;x<U+0007>局”含有不可见的控制字符（U+001B）"),
    ("330599-002,甲,330599\x00,,",
     "第 3 行：上级单位代码“330599<U+0000>”含有不可见的控制字符（U+0000）"),
    ("330599-002,甲,,张\x08三,",
     "第 3 行：联系人“张<U+0008>三”含有不可见的控制字符（U+0008）"),
    ("330599-002,甲,,,2023-01-2\x0c0",
     "第 3 行：截止日期“2023-01-2<U+000C>0”含有不可见的控制字符（U+000C）"),
    ("330599-002,甲\ufffe,,,",
     "第 3 行：单位名称“甲<U+FFFE>”含有不可见的控制字符（U+FFFE）"),
    ("_x0041_,甲,,,",
     "第 3 行：单位代码“_x0041_”含有会被 Excel 改写的“_xHHHH_”字样"),
    ("330599-002,甲_x000D_局,,,",
     "第 3 行：单位名称“甲_x000D_局”含有会被 Excel 改写的“_xHHHH_”字样"),
])
def test_invisible_and_rewritten_characters_are_refused_with_the_row(
        tmp_path: Path, row: str, expected: str) -> None:
    text = "单位代码,单位名称,上级单位代码,联系人,截止日期\n330599,青溪区人民政府办公室,,,\n" + row
    assert problems_of(write(tmp_path, text.encode())) == [expected]


# Codes and names that a roster accepts, however odd: each must come back as it was signed.
ODD = [
    ("３３０５９９－Ａ１", "青溪区（发改）局"), ("\u200b330599-002\u00a0", "发改局\u200d"),
    ("=1+1", "<&>\"'局"), ("@SUM(A1)", "-1+1"), ("😀", "𠀀局"), ("a" * 64, "名" * 120),
    ("330599-003", "  青溪区　教育局  "), ("x_x12_", "甲_x00_局"), ("'330599", "’局"),
    ("A 1", "\u202e局育教区溪青"), ("tab", "名称\u200e"),
    ("330599-9", "\U00031350局"),  # CJK Extension H (Unicode 15): maybe unknown to this Python
]


def test_a_genuine_template_of_any_accepted_unit_is_never_called_forged(tmp_path: Path) -> None:
    lines = ["单位代码,单位名称"] + ['"{}","{}"'.format(c, n.replace('"', '""')) for c, n in ODD]
    units = load_roster(write(tmp_path, "\n".join(lines).encode("utf-8")))
    assert len(units) == len(ODD)
    ws, _ = make_workspace(tmp_path / "ws", "\n".join(lines) + "\n")
    for unit in units:
        path = tmp_path / "return.xlsx"
        path.write_bytes(issue(ws, unit.code, name=unit.name))
        result = check_file(path)
        assert result.submission is not None
        assert verify(ws.key, result.submission.meta) == "ok", unit
        assert result.identity["unit.code"] == unit.code
        assert result.identity["unit.name"] == unit.name
