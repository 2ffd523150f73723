#!/usr/bin/env python3
"""Rebuild samples/: returned workbooks of one (invented) district, filled and saved by a real
LibreOffice, plus the roster of its reporting units and a manifest of what `nianbao check`
must say about each file.

    make samples            # or: .venv/bin/python scripts/make_samples.py

Every template is issued the way the office issues it (identity pre-filled and locked), then
LibreOffice types the unit's figures into it, recalculates and saves it, so the files carry
the cached results, formats and quirks of a real spreadsheet application. All figures are
fixed here: running the script again gives files with the same content, the same manifest and
roster. LibreOffice stamps the save time into each file and writes data validations in no
fixed order, so a new file whose content equals the one already in samples/returns is
dropped and the old bytes are kept: a rerun without a change leaves git with nothing to do.

samples/returns-manifest.json lists, per file, the expected status and the findings that must
be present (code, rule, sheet, cell, field), and the complete set of finding codes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from nianbao.collect.distribute import issue_options
from nianbao.collect.workspace import Config, config_text
from nianbao.render.workbook import render
from nianbao.spec.layout import Layout, layout_for
from nianbao.spec.load import build_form, load_form, spec_path
from nianbao.testing.libreoffice import Edit, LibreOffice

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
RETURNS = SAMPLES / "returns"
YEAR = 2022
DISTRICT = "青溪区"  # invented
OFFICE_CODE = "330599"  # the district government office: collects, and heads the roster
DEADLINE = "2023-01-20"  # the district office's internal deadline for its departments
WORKSPACE = SAMPLES / "workspace"
MANIFEST = SAMPLES / "returns-manifest.json"
# The demo workspace's signing key, committed so that `make demo` accepts the sample returns
# as issued by it. A real workspace's key is random and never leaves its folder.
DEMO_KEY = hashlib.sha256(b"nianbao demo workspace: not a secret").digest()

# the form's own groups of table 三 (templates/ogi-annual-2021.toml), not a second list
_T3 = load_form().table("t3")
APPLICANTS = _T3.groups["applicants"]
OUTCOMES = _T3.groups["outcomes"]
T4_BLOCKS = ("review", "suit_direct", "suit_after_review")
T4_PARTS = ("upheld", "corrected", "other", "pending")
T2_FIELDS = (
    "t2.regulations.issued", "t2.regulations.repealed", "t2.regulations.in_force",
    "t2.normative_docs.issued", "t2.normative_docs.repealed", "t2.normative_docs.in_force",
    "t2.licensing", "t2.penalty", "t2.enforcement", "t2.fees_wan_yuan",
)


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    contact: str
    parent: str = OFFICE_CODE  # the code of the unit above, empty for the top
    deadline: str = DEADLINE

    @property
    def identity(self) -> dict[str, Any]:
        return {"unit.code": self.code, "unit.name": self.name, "year": YEAR}


def unit(n: int, short: str, contact: str, mail: str, **kw: str) -> Unit:
    return Unit(f"330599-{n:03d}", DISTRICT + short, f"{contact} {mail}@qingxi.example", **kw)


OFFICE = Unit(OFFICE_CODE, f"{DISTRICT}人民政府办公室", "办公室 张敏 zfb@qingxi.example",
              parent="", deadline="")  # compiles the area's own report (due 31 March)
CULTURE = unit(12, "文化和广电旅游体育局", "办公室 沈洁", "wgltj")
EDUCATION = unit(3, "教育局", "办公室 李明", "jyj")
LAND = unit(21, "自然资源和规划分局", "法规科 周雯", "zrzyj")
MARKET = unit(24, "市场监督管理局", "办公室 钱磊", "scjgj")
HOUSING = unit(15, "住房和城乡建设局", "办公室 孙悦", "zjj")
STREET = unit(101, "城关街道办事处", "党政办 吴芳", "cgjd", deadline="2023-01-13")
HEALTH = unit(18, "卫生健康局", "办公室 郑洁", "wjj")
CIVIL = unit(7, "民政局", "办公室 王强", "mzj")
JUSTICE = unit(8, "司法局", "办公室 冯丽", "sfj")
AGRI = unit(16, "农业农村局", "办公室 陈刚", "nyncj")
TRANSPORT = unit(14, "交通运输局", "办公室 褚敏", "jtysj")
VETERANS = unit(27, "退役军人事务局", "办公室 卫东", "tyjrj")
DEVELOPMENT = unit(2, "发展和改革局", "办公室 蒋琳", "fgj")
AUDIT = unit(23, "审计局", "办公室 韩冰", "sjj")
# on the roster, never return a file (for the chasing of missing returns)
STATISTICS = unit(25, "统计局", "办公室 杨柳", "tjj")
CHENGNAN = unit(102, "城南街道办事处", "党政办 朱红", "cnjd", deadline="2023-01-13")

ROSTER = (OFFICE, DEVELOPMENT, EDUCATION, CIVIL, JUSTICE, CULTURE, TRANSPORT, HOUSING, AGRI, HEALTH,
          LAND, AUDIT, MARKET, STATISTICS, VETERANS, STREET, CHENGNAN)


# -- records -------------------------------------------------------------------------------

def t3_record(columns: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Table 三 inputs, balanced by construction: per applicant column give the outcomes,
    `carried_over` and `carry_forward`; `new` is what makes R1 hold. Unnamed cells are 0."""
    out: dict[str, int] = {}
    for col in APPLICANTS:
        spec = dict(columns.get(col, {}))
        carried = spec.pop("carried_over", 0)
        forward = spec.pop("carry_forward", 0)
        unknown = set(spec) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcome rows {sorted(unknown)}")
        new = sum(spec.values()) + forward - carried
        if new < 0:
            raise ValueError(f"column {col}: more carried over than handled")
        out[f"t3.new.{col}"] = new
        out[f"t3.carried_over.{col}"] = carried
        out[f"t3.carry_forward.{col}"] = forward
        for row in OUTCOMES:
            out[f"t3.{row}.{col}"] = spec.get(row, 0)
    return out


def t4_record(**blocks: Iterable[int]) -> dict[str, int]:
    out = {f"t4.{b}.{p}": 0 for b in T4_BLOCKS for p in T4_PARTS}
    for block, parts in blocks.items():
        out.update({f"t4.{block}.{p}": v for p, v in zip(T4_PARTS, parts, strict=True)})
    return out


def t2_record(regulations: tuple[Any, Any, Any], normative: tuple[int, int, int],
              licensing: int, penalty: int, enforcement: int, fees: Decimal | int
              ) -> dict[str, Any]:
    values = (*regulations, *normative, licensing, penalty, enforcement, fees)
    return dict(zip(T2_FIELDS, values, strict=True))


def record(t2v: Mapping[str, Any], t3v: Mapping[str, int], t4v: Mapping[str, int],
           overview: str, problems: str, other: str, **notes: str) -> dict[str, Any]:
    """One unit's figures and prose; `notes` fill the 说明 cells (t2="..." -> note.t2)."""
    texts = {"text.overview": overview, "text.problems": problems, "text.other": other}
    return {**t2v, **t3v, **t4v, **texts, **{f"note.{k}": v for k, v in notes.items()}}


NO_FEE = "本年度未收取信息处理费，未发出收费通知。"

EXAMPLE = record(
    t2_record((0, 0, 0), (1, 1, 3), 38, 23, 0, 0), t3_record({}), t4_record(),
    overview=("2022年，我局以区政府门户网站为政府信息公开第一平台，以局微信公众号为补充，"
              "建立科室报送、办公室审核、统一发布的工作机制，全年按时更新机构职能、"
              "行政许可、行政处罚等信息。本年度未收到政府信息公开申请，未发生行政复议、"
              "行政诉讼。"),
    problems=("部分信息发布不够及时。2023年将按时间节点发布信息，充实主动公开目录，"
              "加强公众关注度高的文旅信息梳理。"),
    other="本年度未收取信息处理费。",
)

SAMPLE_T3 = {
    "education": t3_record({
        "natural_person": {"granted": 9, "partial": 2, "unable.not_held": 3,
                           "not_processed.duplicate": 1, "carried_over": 2, "carry_forward": 1},
        "business": {"granted": 1},
    }),
    "land": t3_record({
        "natural_person": {"granted": 31, "partial": 6, "denied.third_party": 2,
                           "denied.process_info": 3, "unable.not_held": 17,
                           "unable.needs_creation": 2, "unable.unclear": 1,
                           "not_processed.petition": 4, "other.overdue_correction": 2,
                           "carried_over": 3, "carry_forward": 5},
        "business": {"granted": 4, "partial": 1, "unable.not_held": 2, "carry_forward": 1},
        "legal_service": {"granted": 2, "unable.not_held": 1, "carried_over": 1},
        "other_org": {"granted": 1},
    }),
    "market": t3_record({
        "natural_person": {"granted": 14, "partial": 3, "denied.enforcement_files": 2,
                           "unable.not_held": 5, "not_processed.petition": 6,
                           "not_processed.confirmation": 1, "carried_over": 1,
                           "carry_forward": 2},
        "business": {"granted": 5, "denied.third_party": 1, "unable.not_held": 1},
        "nonprofit": {"granted": 1},
        "legal_service": {"granted": 2, "partial": 1},
    }),
    "housing": t3_record({
        "natural_person": {"granted": 11, "partial": 2, "denied.process_info": 1,
                           "unable.not_held": 6, "unable.unclear": 1,
                           "other.overdue_fee": 1, "other.other": 1, "carry_forward": 2},
        "business": {"granted": 2, "unable.not_held": 1},
        "research": {"granted": 1},
    }),
    "street": t3_record({
        "natural_person": {"granted": 3, "unable.not_held": 1},
    }),
}

EDUCATION_RECORD = record(
    t2_record((0, 0, 0), (2, 0, 11), 156, 4, 0, 0), SAMPLE_T3["education"],
    t4_record(review=(1, 0, 0, 0)),
    overview=("2022年，区教育局围绕招生入学、教育收费、学校安全等群众关注事项主动公开信息"
              "186条，依法办理政府信息公开申请16件，均在法定期限内答复。"),
    problems="个别学校信息更新不及时，2023年将纳入年度考核并定期抽查。",
    other=NO_FEE,
)
LAND_RECORD = record(
    t2_record((0, 0, 0), (3, 1, 18), 1342, 87, 12, 0), SAMPLE_T3["land"],
    t4_record(review=(2, 1, 0, 1), suit_direct=(1, 0, 0, 1), suit_after_review=(1, 0, 0, 0)),
    overview=("2022年，我局主动公开国土空间规划、土地征收、不动产登记等信息，收到政府信息"
              "公开申请76件，上年结转4件，办结74件，6件结转下年度继续办理。"),
    problems="征地信息申请量大、答复周期长，2023年将完善征地信息公开专栏，减少重复申请。",
    other="本年度发出收费通知0件，未收取信息处理费。",
)
MARKET_RECORD = record(
    t2_record((0, 0, 0), (1, 0, 6), 5231, 412, 35, Decimal("12.35")), SAMPLE_T3["market"],
    t4_record(review=(1, 0, 1, 0)),
    overview=("2022年，我局公开行政许可、行政处罚、抽查检查结果等信息，全年收到政府信息"
              "公开申请42件，答复率100%。"),
    problems="依申请公开答复文书格式不够统一，2023年将制定答复文书范本。",
    other=NO_FEE,
)
HOUSING_RECORD = record(
    t2_record(("/", "/", "/"), (2, 1, 9), 623, 18, 3, 0), SAMPLE_T3["housing"],
    t4_record(suit_direct=(1, 0, 0, 0)),
    overview=("2022年，我局重点公开保障性住房、老旧小区改造、建筑市场监管等信息，收到政府"
              "信息公开申请29件。"),
    problems="政策解读形式较单一，2023年将增加图解和问答。",
    other=NO_FEE,
    t2="本局无规章制定权，表二“规章”一行填“/”。",
)
STREET_RECORD = record(
    t2_record((0, 0, 0), (0, 0, 0), 0, 6, 0, 0), SAMPLE_T3["street"], t4_record(),
    overview="2022年，街道通过政府门户网站街道专栏公开工作动态、财政预决算等信息112条。",
    problems="专栏栏目设置与基层政务公开标准目录衔接不够，2023年将逐项对照调整。",
    other=NO_FEE,
)
HEALTH_RECORD = record(
    t2_record((0, 0, 0), (1, 0, 4), 2210, 96, 0, 0), t3_record({
        "natural_person": {"granted": 8, "partial": 1, "unable.not_held": 4,
                           "not_processed.petition": 2, "carry_forward": 1},
        "business": {"granted": 2},
    }),
    t4_record(),
    overview="2022年，我局主动公开医疗机构执业、公共卫生、疫情防控等信息，收到申请18件。",
    problems="部分答复说理不够充分，2023年将加强答复审核。",
    other=NO_FEE,
)
# R1 broken in one applicant column: 20 new, but only 19 outcomes + 1 carried forward and
# 1 carried over recorded (the filler forgot one outcome).
HEALTH_RECORD["t3.new.natural_person"] += 1

CIVIL_RECORD = record(
    t2_record((0, 0, 0), (1, 0, 5), 73, 2, 0, 0), t3_record({
        "natural_person": {"granted": 12, "unable.not_held": 2},
        "nonprofit": {"granted": 1},
    }),
    t4_record(),
    overview="2022年，我局公开社会救助、养老服务、社会组织登记等信息，收到申请15件。",
    problems="基层社会救助信息公开不够及时，2023年将定期督促镇街更新。",
    other=NO_FEE,
)
CIVIL_TEXT = {"t3.granted.natural_person": "12件", "t4.review.other": "abc"}

# A negative carry-forward that makes R1 "balance": more outcomes than applications.
JUSTICE_RECORD = record(
    t2_record((0, 0, 0), (0, 0, 2), 12, 0, 0, 0), t3_record({
        "natural_person": {"granted": 3, "unable.not_held": 1, "carry_forward": 2},
    }),
    t4_record(),
    overview="2022年，我局公开法律援助、人民调解、公共法律服务等信息，收到申请4件。",
    problems="公共法律服务信息分散，2023年将集中公开。",
    other=NO_FEE,
)
JUSTICE_RECORD["t3.carry_forward.natural_person"] = -2
JUSTICE_RECORD["t3.new.natural_person"] = 2  # 2 + 0 = 4 + (-2)

AGRI_RECORD = record(
    t2_record((0, 0, 0), (1, 1, 7), 215, 31, 2, 0), t3_record({
        "natural_person": {"granted": 6, "partial": 1, "unable.not_held": 3, "carry_forward": 1},
        "business": {"granted": 3},
        "other_org": {"granted": 1},
    }),
    t4_record(),
    overview="2022年，我局公开惠农补贴、动物防疫、农产品质量安全等信息，收到申请15件。",
    problems="惠农补贴发放信息公开的颗粒度不够细，2023年将公开到村。",
    other=NO_FEE,
)
AGRI_NEW_TOTAL = 16  # typed over the 总计 formula of 一、本年新收 (the columns add up to 15)

TRANSPORT_RECORD = record(
    t2_record((0, 0, 0), (0, 1, 3), 488, 145, 7, 0), t3_record({
        "natural_person": {"granted": 4, "unable.not_held": 2},
        "business": {"granted": 1, "partial": 1},
    }),
    t4_record(),
    overview="2022年，我局公开道路运输许可、交通建设项目、执法检查等信息，收到申请8件。",
    problems="重大建设项目信息公开不够全面，2023年将按标准目录补齐。",
    other=NO_FEE,
)

VETERANS_RECORD = record(
    t2_record((0, 0, 0), (0, 0, 1), 0, 0, 0, 0), t3_record({
        "natural_person": {"granted": 2},
    }),
    t4_record(),
    overview="2022年，我局公开优待抚恤、褒扬纪念、就业创业扶持等信息，收到申请2件。",
    problems="政策解读覆盖面不够广，2023年将增加政策问答。",
    other=NO_FEE,
)

AUDIT_RECORD = record(
    t2_record((0, 0, 0), (0, 0, 1), 0, 0, 0, 0), t3_record({
        "natural_person": {"granted": 1, "unable.not_held": 1},
    }),
    t4_record(),
    overview="2022年，我局公开审计工作报告、审计结果公告等信息，收到申请2件。",
    problems="审计整改情况公开不够及时，2023年将按季度公开。",
    other=NO_FEE,
)


# -- samples -------------------------------------------------------------------------------

@dataclass
class Sample:
    file: str
    unit: Unit
    description: str
    status: str
    findings: list[dict[str, Any]]   # must be present (code, and where it matters, location)
    codes: list[str]                 # every code the file must produce, and no other
    values: dict[str, Any] = field(default_factory=dict)   # field id -> value typed
    strings: set[str] = field(default_factory=set)         # fields entered as text
    edits: list[tuple[str, str, Any, str]] = field(default_factory=list)  # raw cell edits
    form_data: dict[str, Any] | None = None                # render with another form


def filled_by(unit: Unit, layout: Layout) -> dict[str, str]:
    """The cover's 填报人 block (template 1.1.0 on) as the unit's contact would fill it."""
    person = unit.contact.split()[1] if len(unit.contact.split()) > 2 else unit.contact
    values = {"contact.filler": person, "contact.phone": f"0572-8{unit.code[-3:]}001",
              "contact.reviewer": "办公室主任", "contact.date": "2023-01-10"}
    return {fid: v for fid, v in values.items() if fid in layout.places}


def archived_form_data(version: str) -> dict[str, Any]:
    """An earlier version of the form kept in templates/archive (returns still read)."""
    path = spec_path().parent / "archive" / f"{spec_path().stem}-{version}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def entry_edits(layout: Layout, values: Mapping[str, Any], strings: set[str]) -> list[Edit]:
    """What a filler does: numbers typed into the cells (as if typed by hand), prose and
    notes pasted as text, and the `strings` fields entered as text on purpose."""
    edits = []
    for fid, value in values.items():
        area = layout.places[fid]
        if fid in strings:
            edits.append(Edit(area.sheet, area.a1, str(value), "string"))
        elif isinstance(value, str) and (fid.startswith(("text.", "note.", "contact."))
                                         or value == "/"):
            edits.append(Edit(area.sheet, area.a1, value, "auto"))
        elif isinstance(value, str):
            edits.append(Edit(area.sheet, area.a1, value, "typed"))
        else:
            edits.append(Edit(area.sheet, area.a1, str(value), "typed"))
    return edits


def where(layout: Layout, code: str, fid: str | None = None, rule: str | None = None,
          **extra: Any) -> dict[str, Any]:
    """An expected finding located at a field's cell (the anchor field for a rule)."""
    out: dict[str, Any] = {"code": code}
    if rule:
        out["rule"] = rule
    if fid:
        area = layout.places[fid]
        out.update(sheet=area.sheet, cell=area.a1, field=fid)
    out.update(extra)
    return out


def old_form_data() -> dict[str, Any]:
    """The form as an older release had it: version 0.9.0, and 行政规范性文件 still called
    规范性文件 (a structural change: the fingerprint differs)."""
    data = tomllib.loads(spec_path().read_text(encoding="utf-8"))
    data["form"]["version"] = "0.9.0"
    block = data["tables"][0]["blocks"][0]
    block["rows"][1]["path"] = ["规范性文件"]
    return data


def samples(layout: Layout) -> list[Sample]:
    normative = next(lb.area for lb in layout.labels if lb.text == "行政规范性文件")
    return [
        Sample(f"区{CULTURE.name.removeprefix(DISTRICT)}-{YEAR}.xlsx", CULTURE,
               "the figures of the published example report (all of table 三/四 zero)",
               "valid", [], [], EXAMPLE),
        Sample(f"区教育局{YEAR}年政府信息公开年报.xlsx", EDUCATION,
               "balanced, with carry-over and carry-forward, one 行政复议", "valid", [], [],
               EDUCATION_RECORD),
        Sample(f"区自然资源和规划分局-{YEAR}.xlsx", LAND,
               "many applications over 9 outcome rows and 4 applicant columns, litigation",
               "valid", [], [], LAND_RECORD),
        Sample(f"区市场监督管理局-{YEAR}.xlsx", MARKET,
               "balanced; 行政事业性收费 12.35 万元", "valid", [], [], MARKET_RECORD),
        Sample(f"区住房和城乡建设局-{YEAR}.xlsx", HOUSING,
               "规章 not applicable (/) with an explanation in the 说明 of table 二",
               "valid",
               [where(layout, "VALUE_NOT_APPLICABLE", f"t2.regulations.{c}")
                for c in ("issued", "repealed", "in_force")],
               ["VALUE_NOT_APPLICABLE"], HOUSING_RECORD),
        Sample(f"城关街道-{YEAR}年报（终稿）.xlsx", STREET,
               "a small street office, few applications, filled in a template of version "
               "1.0.0 (no 填报人 block): read with that version's layout",
               "valid", [{"code": "FORM_VERSION_OLDER"}], ["FORM_VERSION_OLDER"],
               STREET_RECORD, form_data=archived_form_data("1.0.0")),
        Sample(f"区卫生健康局-{YEAR}.xlsx", HEALTH,
               "R1 broken in the 自然人 column (the 总计 column's R1 follows: one error)",
               "invalid",
               [where(layout, "UNBALANCED", "t3.new.natural_person", "R1",
                      instance="R1:natural_person", diff=1),
                where(layout, "UNBALANCED", "t3.new.total", "R1", instance="R1:total",
                      diff=1)],
               ["UNBALANCED"], HEALTH_RECORD),
        Sample(f"区民政局-{YEAR}.xlsx", CIVIL,
               "“12件” typed into a count (read as 12, warning) and “abc” (an error)",
               "invalid",
               [where(layout, "VALUE_NORMALISED", "t3.granted.natural_person", value="12"),
                where(layout, "VALUE_TEXT", "t4.review.other", "R8")],
               ["VALUE_NORMALISED", "VALUE_TEXT"], {**CIVIL_RECORD, **CIVIL_TEXT}),
        Sample(f"区司法局-{YEAR}.xlsx", JUSTICE,
               "a negative 结转下年度 that makes R1 balance", "invalid",
               [where(layout, "VALUE_NEGATIVE", "t3.carry_forward.natural_person", "R8")],
               ["VALUE_NEGATIVE"], JUSTICE_RECORD),
        Sample(f"区农业农村局-{YEAR}.xlsx", AGRI,
               "a constant 16 typed over the 总计 formula of 一、本年新收 (the row adds up "
               "to 15)", "invalid",
               [where(layout, "FORMULA_CHANGED", "t3.new.total"),
                where(layout, "UNBALANCED", "t3.new.total", "R5", instance="R5:new", diff=1),
                where(layout, "UNBALANCED", "t3.new.total", "R1", instance="R1:total",
                      diff=1)],
               ["FORMULA_CHANGED", "UNBALANCED"], AGRI_RECORD,
               edits=[(layout.places["t3.new.total"].sheet, layout.places["t3.new.total"].a1,
                       str(AGRI_NEW_TOTAL), "typed")]),
        Sample(f"区交通运输局-{YEAR}.xlsx", TRANSPORT,
               "the row label 行政规范性文件 edited to 规范性文件", "invalid",
               [{"code": "LABEL_CHANGED", "sheet": normative.sheet, "cell": normative.a1,
                 "expected": "行政规范性文件", "found": "规范性文件"}],
               ["LABEL_CHANGED"], TRANSPORT_RECORD,
               edits=[(normative.sheet, normative.a1, "规范性文件", "string")]),
        Sample(f"区退役军人事务局-{YEAR}.xlsx", VETERANS,
               "filled in a template of an older form version (0.9.0, other structure)",
               "unusable", [{"code": "FORM_VERSION_MISMATCH"}], ["FORM_VERSION_MISMATCH"],
               VETERANS_RECORD, form_data=old_form_data()),
        Sample(f"区发展和改革局-{YEAR}.xlsx", DEVELOPMENT,
               "the issued template returned blank (nothing filled): not a report",
               "invalid",
               [{"code": "NOTHING_FILLED"},
                where(layout, "VALUE_BLANK", "t3.new.natural_person"),
                where(layout, "VALUE_BLANK", "t2.fees_wan_yuan"),
                where(layout, "TEXT_BLANK", "text.overview")],
               ["NOTHING_FILLED", "TEXT_BLANK", "VALUE_BLANK"]),
        Sample(f"区审计局-{YEAR}.xlsx", AUDIT,
               "filled, balanced, every number stored as text: warnings only", "valid",
               [where(layout, "VALUE_NORMALISED", "t3.granted.natural_person", value="1"),
                where(layout, "VALUE_NORMALISED", "t2.normative_docs.in_force", value="1")],
               ["VALUE_NORMALISED"], AUDIT_RECORD,
               strings={fid for fid, v in AUDIT_RECORD.items() if not isinstance(v, str)}),
    ]


# -- writing -------------------------------------------------------------------------------

def build(lo: LibreOffice, sample: Sample, work: Path, out: Path) -> None:
    form = build_form(sample.form_data) if sample.form_data else load_form()
    layout = layout_for(form)
    issued = work / f"issued-{sample.unit.code}.xlsx"
    issued.write_bytes(render(layout, issue_options(layout, sample.unit.identity, DEMO_KEY,
                                                    OFFICE.name)))
    values = {**filled_by(sample.unit, layout), **sample.values} if sample.values else {}
    edits = entry_edits(layout, values, sample.strings)
    edits += [Edit(*e) for e in sample.edits]
    lo.fill(issued, out / sample.file, edits, recalc=True)


_MODIFIED = re.compile(rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>")
_VALIDATION = re.compile(rb"<dataValidation .*?</dataValidation>", re.DOTALL)


def canonical(path: Path) -> dict[str, bytes]:
    """A workbook's zip members without what LibreOffice varies from save to save."""
    out = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            data = z.read(name)
            if name == "docProps/core.xml":
                data = _MODIFIED.sub(b"", data)
            elif name.startswith("xl/worksheets/"):
                rules = sorted(_VALIDATION.findall(data))
                data = _VALIDATION.sub(b"", data) + b"".join(rules)
            out[name] = data
    return out


def keep_unchanged(new_dir: Path, old_dir: Path) -> int:
    """Put back the old bytes of every file whose content did not change; return how many."""
    kept = 0
    for new in new_dir.glob("*.xlsx"):
        old = old_dir / new.name
        if old.is_file() and canonical(old) == canonical(new):
            shutil.copyfile(old, new)
            kept += 1
    return kept


def manifest(all_samples: list[Sample]) -> dict[str, Any]:
    return {
        "about": ("Returned workbooks of the invented district 青溪区, reporting year 2022, "
                  "filled and saved by LibreOffice (scripts/make_samples.py). For each file: "
                  "the status `nianbao check` must give, the findings that must be present "
                  "(every key given must match), and the complete set of finding codes."),
        "year": YEAR,
        "files": {
            s.file: {
                "unit.code": s.unit.code,
                "unit.name": s.unit.name,
                "description": s.description,
                "status": s.status,
                "findings": s.findings,
                "codes": sorted(s.codes),
            }
            for s in all_samples
        },
    }


def roster_csv() -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["code", "name", "parent", "contact", "deadline"])
    for u in sorted(ROSTER, key=lambda u: u.code):
        writer.writerow([u.code, u.name, u.parent, u.contact, u.deadline])
    return buf.getvalue()


def write_workspace() -> None:
    """samples/workspace: the collecting office's workspace the samples were issued from
    (config, roster, the demo key); `make demo` copies it and collects samples/returns."""
    (WORKSPACE / ".nianbao").mkdir(parents=True, exist_ok=True)
    (WORKSPACE / ".nianbao" / "secret.key").write_text(DEMO_KEY.hex() + "\n", encoding="ascii")
    config = Config(year=YEAR, form=load_form().id, office=OFFICE.name, office_code=OFFICE_CODE,
                    deadline=date.fromisoformat(DEADLINE), roster="roster.csv")
    (WORKSPACE / "nianbao.toml").write_text(config_text(config), encoding="utf-8")
    (WORKSPACE / "roster.csv").write_text(roster_csv(), encoding="utf-8")


def main() -> int:
    started = time.monotonic()
    layout = layout_for(load_form())
    all_samples = samples(layout)
    names = [s.file for s in all_samples]
    assert len(set(names)) == len(names), "two samples with one file name"
    on_roster = {u.code for u in ROSTER}
    assert all(s.unit.code in on_roster for s in all_samples), "a sample unit off the roster"
    SAMPLES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".make-samples-", dir=SAMPLES) as tmp:
        work, out = Path(tmp) / "work", Path(tmp) / "returns"
        work.mkdir()
        out.mkdir()
        with LibreOffice(workdir=Path(tmp)) as lo:
            for sample in all_samples:
                build(lo, sample, work, out)
        kept = keep_unchanged(out, RETURNS)
        # replace samples/returns as a whole: no stale file survives a rerun
        if RETURNS.exists():
            shutil.rmtree(RETURNS)
        shutil.move(str(out), RETURNS)
    # beside the returns, not among them: collecting samples/returns takes only returns
    MANIFEST.write_text(json.dumps(manifest(all_samples), ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
    (SAMPLES / "roster.csv").write_text(roster_csv(), encoding="utf-8")
    write_workspace()
    print(f"wrote {len(all_samples)} returns ({kept} unchanged), returns-manifest.json and "
          f"roster.csv ({len(ROSTER)} units) to {SAMPLES.relative_to(ROOT)}/ "
          f"in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
