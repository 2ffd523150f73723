"""The roster: CSV (UTF-8, BOM, GB18030) or XLSX, Chinese or English headers; every problem
located by its row and reported at once; subtrees of the unit hierarchy."""

from __future__ import annotations

import datetime
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from nianbao.collect.roster import RosterError, Unit, load_roster, subtree

HEADER_ZH = "单位代码,单位名称,上级单位代码,联系人,截止日期"
HEADER_EN = "code,name,parent,contact,deadline"
BODY = """330599,青溪区人民政府办公室,,办公室 张敏,
330599-002,青溪区发展和改革局,330599,办公室 蒋琳,2023-01-18
330599-101,青溪区城关街道办事处（便民服务中心）,330599,党政办 吴芳,2023/01/13
"""
EXPECTED = [
    Unit("330599", "青溪区人民政府办公室", "", "办公室 张敏", None, 2),
    Unit("330599-002", "青溪区发展和改革局", "330599", "办公室 蒋琳", date(2023, 1, 18), 3),
    Unit("330599-101", "青溪区城关街道办事处（便民服务中心）", "330599", "党政办 吴芳",
         date(2023, 1, 13), 4),
]


def write(tmp_path: Path, data: bytes, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(RosterError) as info:
        load_roster(path)
    assert info.value.file == str(path)
    assert f"名单 {path} 有 {len(info.value.problems)} 处问题" in str(info.value)
    return info.value.problems


# -- reading ---------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize("header", [HEADER_ZH, HEADER_EN])
def test_csv_in_every_encoding_with_either_header(tmp_path: Path, encoding: str,
                                                   header: str) -> None:
    data = (header + "\n" + BODY).encode(encoding)
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")  # really not UTF-8: the fallback is exercised
    assert load_roster(write(tmp_path, data)) == EXPECTED


def test_csv_with_crlf_and_header_aliases(tmp_path: Path) -> None:
    """Excel writes CRLF; headers may be aliases, padded, full-width or in another order."""
    text = ("联系人及电话, 单位　名称 ,ＣＯＤＥ,报送截止日期,上级单位\r\n"
            "办公室 张敏,青溪区人民政府办公室,330599,,\r\n"
            "办公室 蒋琳,青溪区发展和改革局,330599-002,2023-01-18,330599\r\n")
    units = load_roster(write(tmp_path, text.encode("gb18030")))
    assert units == [
        Unit("330599", "青溪区人民政府办公室", "", "办公室 张敏", None, 2),
        Unit("330599-002", "青溪区发展和改革局", "330599", "办公室 蒋琳", date(2023, 1, 18), 3),
    ]


def test_codes_are_nfkc_normalised_and_names_trimmed(tmp_path: Path) -> None:
    text = "单位代码,单位名称\n３３０５９９－００２ , 青溪区（发改）局 \n"
    assert load_roster(write(tmp_path, text.encode("utf-8"))) == [
        Unit("330599-002", "青溪区（发改）局", row=2)]


def _xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def xlsx_loads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Unit]]:
    """Each XLSX roster loaded once (openpyxl is slow to load)."""
    folder = tmp_path_factory.mktemp("xlsx")
    zh = _xlsx(folder / "名单.xlsx", HEADER_ZH.split(","), [
        [330599, "青溪区人民政府办公室", None, "办公室 张敏", None],
        ["330599-002", "青溪区发展和改革局", 330599, "办公室 蒋琳",
         datetime.datetime(2023, 1, 18)],
        ["330599-101", "青溪区城关街道办事处（便民服务中心）", "330599", "党政办 吴芳",
         "2023/01/13"],
    ])
    en = _xlsx(folder / "roster.xlsx", HEADER_EN.split(","),
               [line.split(",") for line in BODY.splitlines()])
    return {"zh": load_roster(zh), "en": load_roster(en)}


def test_xlsx_with_chinese_headers_numbers_and_dates(
        xlsx_loads: dict[str, list[Unit]]) -> None:
    assert xlsx_loads["zh"] == EXPECTED


def test_xlsx_with_english_headers(xlsx_loads: dict[str, list[Unit]]) -> None:
    assert xlsx_loads["en"] == EXPECTED


# -- problems, each located by its row --------------------------------------------------------

CASES = {  # body lines: code,name,parent,deadline
    "duplicate code": (
        "330599,甲,,\n330599-002,乙,,\n330599,丙,,\n",
        ["第 4 行：单位代码“330599”重复（第 2 行已有）"]),
    "empty name": (
        "330599,甲,,\n330599-002,,,\n",
        ["第 3 行：单位名称为空（单位代码 330599-002）"]),
    "empty code": (
        "330599,甲,,\n,乙,,\n",
        ["第 3 行：单位代码为空"]),
    "code with a slash": (
        "330599,甲,,\n../x,乙,,\n",
        ["第 3 行：单位代码“../x”含有不允许的字符（/ \\）"]),
    "code that is a dot-dot": (
        "330599,甲,,\n..,乙,,\n",
        ["第 3 行：单位代码“..”含有不允许的字符（/ \\）"]),
    "unknown parent": (
        "330599,甲,,\n330599-002,乙,330598,\n",
        ["第 3 行：上级单位代码“330598”不在名单中（单位 330599-002）"]),
    "bad deadline": (
        "330599,甲,,2023-02-30\n330599-002,乙,,下周五\n",
        ["第 2 行：截止日期“2023-02-30”应写作 2023-01-20 的形式",
         "第 3 行：截止日期“下周五”应写作 2023-01-20 的形式"]),
    "cycle": (
        "A,甲,B,\nB,乙,C,\nC,丙,A,\nD,丁,,\n",
        ["第 2、3、4 行：上级单位关系形成循环：A → B → C → A"]),
    "own parent": (
        "A,甲,A,\n",
        ["第 2 行：上级单位关系形成循环：A → A"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_problem_is_reported(tmp_path: Path, case: str) -> None:
    body, expected = CASES[case]
    text = "单位代码,单位名称,上级单位代码,截止日期\n" + body
    assert problems_of(write(tmp_path, text.encode("utf-8"))) == expected


def test_all_problems_at_once(tmp_path: Path) -> None:
    text = ("单位代码,单位名称,上级单位代码,联系人,截止日期\n"
            "330599,青溪区人民政府办公室,,,\n"
            "330599-002,,330599,,\n"               # 3: empty name
            "330599-003,青溪区教育局,330590,,\n"     # 4: unknown parent
            "330599-002,青溪区发展和改革局,330599,,\n"  # 5: duplicate
            "330599-007,青溪区民政局,330599,,2023-13-01\n"  # 6: bad deadline
            ",无代码单位,330599,,\n"                 # 7: empty code
            "X1,甲,X2,,\n"                            # 8, 9: a cycle
            "X2,乙,X1,,\n")
    assert problems_of(write(tmp_path, text.encode("gb18030"))) == [
        "第 3 行：单位名称为空（单位代码 330599-002）",
        "第 5 行：单位代码“330599-002”重复（第 3 行已有）",
        "第 6 行：截止日期“2023-13-01”应写作 2023-01-20 的形式",
        "第 7 行：单位代码为空",
        "第 4 行：上级单位代码“330590”不在名单中（单位 330599-003）",
        "第 8、9 行：上级单位关系形成循环：X1 → X2 → X1",
    ]


def test_missing_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "编号,单位全称\n1,甲\n".encode())
    assert problems_of(path) == [
        "缺少“单位代码”列（表头应含：单位代码、单位名称）",
        "缺少“单位名称”列（表头应含：单位代码、单位名称）",
        "前 2 行中没有一行同时含“单位代码”和“单位名称”：表头行应写明这两列",
    ]


def test_empty_and_missing_files(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path, b"\n ,\n")) == ["名单为空"]
    missing = tmp_path / "nope.csv"
    problems = problems_of(missing)
    assert len(problems) == 1 and problems[0].startswith("无法读取：")


def test_a_zip_that_is_no_workbook(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "not a workbook")
    problems = problems_of(path)
    assert len(problems) == 1 and "不是 Excel 工作簿" in problems[0]


def test_rows_are_numbered_as_in_the_file(tmp_path: Path) -> None:
    text = "单位代码,单位名称\n330599,甲\n\n330599-002,\n"  # the empty name is on line 4
    assert problems_of(write(tmp_path, text.encode())) == [
        "第 4 行：单位名称为空（单位代码 330599-002）"]


def test_cycle_names_its_rows(tmp_path: Path) -> None:
    text = "单位代码,单位名称,上级单位代码\n330599,甲,\nA,乙,B\nB,丙,A\n"
    problems = problems_of(write(tmp_path, text.encode()))
    assert len(problems) == 1
    assert problems[0].startswith("第 3、4 行：")


# -- subtree ------------------------------------------------------------------------------------

TREE = [
    Unit("G", "区政府", ""),
    Unit("D1", "发改局", "G"),
    Unit("S1", "街道", "G"),
    Unit("D1-1", "价格认证中心", "D1"),
    Unit("S1-1", "社区", "S1"),
    Unit("D1-1-1", "认证科", "D1-1"),
    Unit("X", "外单位", ""),
]


@pytest.mark.parametrize(("root", "expected"), [
    ("G", ["G", "D1", "S1", "D1-1", "S1-1", "D1-1-1"]),
    ("D1", ["D1", "D1-1", "D1-1-1"]),
    ("S1", ["S1", "S1-1"]),
    ("D1-1-1", ["D1-1-1"]),
    ("X", ["X"]),
    ("NOPE", []),
])
def test_subtree_in_roster_order(root: str, expected: list[str]) -> None:
    assert [u.code for u in subtree(TREE, root)] == expected


def test_subtree_of_a_loaded_roster(tmp_path: Path) -> None:
    units = load_roster(write(tmp_path, (HEADER_ZH + "\n" + BODY).encode()))
    assert subtree(units, "330599-002") == [EXPECTED[1]]
    assert subtree(units, "330599") == EXPECTED
