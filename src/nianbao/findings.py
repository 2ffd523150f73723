"""The catalogue of finding codes and the Finding record every stage reports with.

A finding says where (file, sheet, cell, field), what (code, rule, values) and how to fix
it (a Chinese message). Codes are English and stable; messages come from one catalogue.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple


class Severity(StrEnum):
    """How much a finding matters: fatal (file unusable) > error (blocks) > warning > info."""

    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def label(self) -> str:
        return {"fatal": "无法读取", "error": "错误", "warning": "提醒", "info": "说明"}[self.value]

    @property
    def rank(self) -> int:
        return {"fatal": 3, "error": 2, "warning": 1, "info": 0}[self.value]


class Entry(NamedTuple):
    """One finding code: how much it matters, its short name (lists, tables, docs) and
    its Chinese message template (str.format fields from the finding's location and
    values; {where} is the located prefix, "主动公开!C5" ...)."""

    severity: Severity
    title: str
    template: str


CATALOGUE: dict[str, Entry] = {
    # --- the file itself (pre-check, before any XML parser runs) ---
    "FILE_MISSING": Entry(Severity.FATAL, "文件不存在或无法打开", "找不到文件或无法打开：{detail}"),
    "FILE_EMPTY": Entry(Severity.FATAL, "空文件", "文件为空（0 字节），请重新保存后提交"),
    "FILE_TOO_LARGE": Entry(Severity.FATAL, "文件过大",
        "文件过大（{size_mb} MB，上限 {limit_mb} MB），请删除多余内容后另存为 .xlsx 重新提交"),
    "FILE_NOT_XLSX": Entry(Severity.FATAL, "不是 Excel 工作簿",
        "不是 Excel 工作簿（{detail}），请用本单位下发的模板填写并另存为 .xlsx 后重新提交"),
    "FILE_CSV": Entry(Severity.FATAL, "CSV 改扩展名",
        "这是改了扩展名的 CSV 文本文件，不是 Excel 工作簿，请另存为 .xlsx 后重新提交"),
    "FILE_HTML": Entry(Severity.FATAL, "网页改扩展名",
        "这是改了扩展名的网页（HTML）文件，不是 Excel 工作簿，请另存为 .xlsx 后重新提交"),
    "FILE_XLS": Entry(Severity.FATAL, "旧版 .xls 格式",
        "这是旧版 Excel 97-2003（.xls）格式，请在 Excel/WPS 中另存为 .xlsx 后重新提交"),
    "FILE_ENCRYPTED": Entry(Severity.FATAL, "设置了打开密码",
        "文件设置了打开密码，无法读取，请取消密码（文件→信息→保护工作簿）后重新提交"),
    "FILE_ODS": Entry(Severity.FATAL, "ODS 格式",
        "这是 OpenDocument（.ods）格式，请另存为 Excel 工作簿（.xlsx）后重新提交"),
    "FILE_WPS_ET": Entry(Severity.FATAL, "WPS .et 格式",
        "这是 WPS 表格（.et）格式，请在 WPS 中另存为 Excel 工作簿（.xlsx）后重新提交"),
    "FILE_MACROS": Entry(Severity.FATAL, "含宏",
        "文件含有宏（VBA），出于安全原因不予读取，请另存为不含宏的 .xlsx 后重新提交"),
    "FILE_ZIP_BOMB": Entry(Severity.FATAL, "内部数据异常（疑似压缩炸弹）",
        "文件内部数据异常（{detail}），可能已损坏或被篡改，请重新保存后提交"),
    "FILE_DTD": Entry(Severity.FATAL, "含 DTD/实体声明",
        "文件内部含有 Excel 不会写入的 XML 声明（{member}），可能被篡改，请用模板重新填写后提"
        "交"),
    "FILE_CORRUPT": Entry(Severity.FATAL, "文件损坏",
        "文件已损坏，无法读取（{detail}），请重新保存后提交"),
    "FILE_UNREADABLE": Entry(Severity.FATAL, "无法读取",
        "读取文件时出错（{detail}），请用模板重新填写并另存为 .xlsx 后重新提交"),
    "FILE_TIMEOUT": Entry(Severity.FATAL, "读取超时或内存超限",
        "读取文件超时或占用内存过多（{detail}），已放弃读取，请检查文件后重新提交"),
    "INTERNAL_ERROR": Entry(Severity.FATAL, "nianbao 内部错误",
        "nianbao 处理此文件时出错（{detail}）。这不是填报单位的问题：文件已原样留存，请把此文"
        "件和这条信息交给技术支持"),
    "FILE_EXTERNAL_LINKS": Entry(Severity.WARNING, "含外部链接",
        "文件含有指向其他工作簿的外部链接，nianbao 不读取链接内容，请确认数据已直接填入表格"),
    "FILE_EMBEDDED_OBJECTS": Entry(Severity.WARNING, "含嵌入对象",
        "文件中嵌入了对象或图片，nianbao 不读取这些内容，请确认数据已直接填入表格"),
    # --- which form is this ---
    "FORM_UNKNOWN": Entry(Severity.FATAL, "不是下发的模板",
        "不是本系统下发的年度报告模板（{detail}），请使用下发的模板填写"),
    "FORM_OTHER": Entry(Severity.FATAL, "其他模板",
        "这是「{form_id}」模板，不是本次收集的「{expected}」模板"),
    "FORM_VERSION_MISMATCH": Entry(Severity.ERROR, "模板版本不符",
        "模板版本为 {found}，当前版本为 {expected}，两者表格结构不同，请下载最新模板重新填报"),
    "FORM_VERSION_COMPATIBLE": Entry(Severity.INFO, "模板版本不同但结构相同",
        "模板版本为 {found}（当前 {expected}），表格结构相同，已照常读取"),
    "FORM_VERSION_OLDER": Entry(Severity.INFO, "旧版模板（已按旧版读取）",
        "模板版本为 {found}（当前 {expected}），已按 {found} 版的表格读取；以后报送请使用新版"
        "模板"),
    "FORM_FINGERPRINT": Entry(Severity.ERROR, "模板结构指纹不符",
        "模板结构指纹与版本 {found} 不符，模板可能被修改过，请使用下发的原始模板"),
    # --- structure against the template ---
    "SHEET_MISSING": Entry(Severity.ERROR, "缺少工作表",
        "缺少工作表「{sheet}」，请勿删除或重命名模板中的工作表"),
    "LABEL_CHANGED": Entry(Severity.ERROR, "表格文字被改动",
        "{where}：表格文字被改动，应为「{expected}」，现为「{found}」，请勿修改表格中的文字"),
    "FORMULA_CHANGED": Entry(Severity.ERROR, "公式被改写",
        "{where}：此处应为自动计算的公式（{expected}），现为「{found}」，请勿改写合计与校验单"
        "元格"),
    "CACHED_MISMATCH": Entry(Severity.WARNING, "保存的计算结果不一致",
        "{where}：文件中保存的计算结果为「{found}」，重新计算应为「{expected}」（文件可能未重"
        "新计算或被改动），已按重新计算的结果处理"),
    "CACHED_MISSING": Entry(Severity.INFO, "没有保存计算结果",
        "文件中没有保存公式的计算结果（通常是由程序而非 Excel/WPS 保存的），nianbao 已按填写"
        "的数据重新计算全部合计与校验"),
    "NOTHING_FILLED": Entry(Severity.ERROR, "表格未填写",
        "表格中没有填写任何数字（{count} 个填报单元格全部为空），请填写后重新提交；没有发生的"
        "请填 0"),
    "CONTENT_IGNORED": Entry(Severity.INFO, "表格以外的内容未读取",
        "{where}：表格以外的内容未读取（{detail}）。只读取模板中的填报单元格，需要报告的数字"
        "请填入对应的单元格，需要说明的情况请写在“说明”栏中"),
    "CELLS_MERGED": Entry(Severity.WARNING, "填报单元格被合并",
        "{where}：填报单元格被合并（{detail}），合并后只保留左上角单元格的值，请取消合并后逐"
        "格填写"),
    # --- identity ---
    "IDENTITY_MISSING": Entry(Severity.ERROR, "单位信息未填写",
        "{where}：{label}未填写，请填写后重新提交"),
    "IDENTITY_EDITED": Entry(Severity.ERROR, "预填的单位信息被改动",
        "{where}：{label}被改为「{found}」，下发时为「{expected}」，请勿修改预填的单位信息"),
    "IDENTITY_INVALID": Entry(Severity.ERROR, "单位信息不正确",
        "{where}：{label}「{found}」不正确，{detail}"),
    # --- collection: is this file ours, from a unit we expect, for this year ---
    "SIGNATURE_MISSING": Entry(Severity.ERROR, "不是本办下发的模板",
        "文件不是本办下发给贵单位的模板（没有下发签名，可能是自行下载或转来的空白模板），请使"
        "用本办下发的模板重新填报"),
    "SIGNED_BY_OTHER_OFFICE": Entry(Severity.ERROR, "其他单位下发的模板",
        "这是「{office}」下发的模板，不是「{ours}」下发的，请使用本办下发给贵单位的模板重新填"
        "报"),
    "SIGNATURE_INVALID": Entry(Severity.ERROR, "下发信息被改动",
        "模板中的下发信息（单位、年度或模板版本）与下发时的签名不符，文件被改动过，请使用本办"
        "下发的原始模板重新填报"),
    "UNIT_UNKNOWN": Entry(Severity.ERROR, "单位不在名单中",
        "单位代码「{code}」（{name}）不在本次报送名单中，请与收集单位联系"),
    "UNIT_NOT_LINKED": Entry(Severity.ERROR, "不是本单位的文件",
        "这是单位代码「{code}」的文件，不是本链接所属单位（{expected} {name}）的文件，未受理"
        "；请通过本单位自己的报送链接上传本单位的文件"),
    "RETURNED_BY_OFFICE": Entry(Severity.ERROR, "收集单位退回",
        "收集单位退回：{reason}（{reviewer}，{at}）。请修改后重新报送"),
    "ACCEPTED_BY_OFFICE": Entry(Severity.INFO, "收集单位审核接受",
        "收集单位审核后接受：{reason}（{reviewer}，{at}）"),
    "YEAR_MISMATCH": Entry(Severity.ERROR, "报告年度不符",
        "报告年度为 {found}，本次收集的是 {expected} 年度的报告，请使用本年度下发的模板"),
    "DUPLICATE_FILE": Entry(Severity.INFO, "重复报送（同一文件）",
        "与 {received_at} 收到的第 {submission} 号提交完全相同，不重复入账"),
    "REPLAYED_FILE": Entry(Severity.WARNING, "旧文件重发",
        "这是 {received_at} 收到的第 {submission} 号提交的旧文件再次报送；该单位已于 {latest_"
        "received_at} 报送了更新的第 {latest} 号提交，仍以最新的为准，旧文件不重复入账"),
    # --- what collect was given (issue 15: links, blank templates, files seen before) ---
    "FILE_LINK_OUTSIDE": Entry(Severity.FATAL, "链接指向文件夹以外",
        "这是一个快捷方式（符号链接），指向所给文件夹以外的「{target}」，为安全起见未读取；请"
        "把文件本身放入文件夹后重新回收"),
    "TEMPLATE_BLANK": Entry(Severity.ERROR, "未填写的下发模板",
        "这是本办下发给「{unit}」的模板，尚未填写（所有填报单元格均为空，与下发时相同），不作"
        "为报送文件受理；请填写后重新报送"),
    "ALREADY_RECEIVED": Entry(Severity.INFO, "已收过",
        "已收过：同一位置、内容相同的文件已于 {received_at} 收到（第 {submission} 号提交），"
        "不重复入账"),
    # --- values typed by the filler (R8 and reading) ---
    "VALUE_BLANK": Entry(Severity.WARNING, "未填写",
        "{where}（{label}）未填写，已按 0 参与校验；没有发生的请填 0"),
    "VALUE_NORMALISED": Entry(Severity.WARNING, "已按数字读取（请确认）",
        "{where}（{label}）填写为「{found}」，已按 {value} 读取（{detail}），请确认"),
    "VALUE_NOT_APPLICABLE": Entry(Severity.INFO, "不适用",
        "{where}（{label}）填写为「{found}」，按「不适用」处理"),
    "VALUE_NA_NOT_ALLOWED": Entry(Severity.ERROR, "此处不能填不适用",
        "{where}（{label}）填写为「{found}」，此处不能填「不适用」，没有发生的请填 0"),
    "VALUE_TEXT": Entry(Severity.ERROR, "不是数字",
        "{where}（{label}）填写为「{found}」，不是数字；{rule_text}"),
    "VALUE_NEGATIVE": Entry(Severity.ERROR, "负数",
        "{where}（{label}）填写为 {found}，不能为负数；{rule_text}"),
    "VALUE_FRACTION": Entry(Severity.ERROR, "件数不是整数",
        "{where}（{label}）填写为 {found}，件数必须是整数；{rule_text}"),
    "VALUE_TOO_LARGE": Entry(Severity.ERROR, "数值过大",
        "{where}（{label}）填写为 {found}，数值过大，请核对"),
    "VALUE_FORMULA": Entry(Severity.ERROR, "填报单元格中有公式",
        "{where}（{label}）中是公式「{found}」，填报单元格请直接填写数字"),
    "VALUE_PICTURE": Entry(Severity.ERROR, "填报单元格中有图片",
        "{where}（{label}）中插入了图片，填报单元格请直接填写数字"),
    "VALUE_WRONG_TYPE": Entry(Severity.ERROR, "不是数字",
        "{where}（{label}）填写为「{found}」（{detail}），不是数字；{rule_text}"),
    "TEXT_BLANK": Entry(Severity.WARNING, "文字部分未填写", "{where}（{label}）未填写"),
    # --- balancing rules (R1, R5, R6, R7, ...): one code, the rule id says which ---
    "UNBALANCED": Entry(Severity.ERROR, "勾稽关系不平衡",
        "{where}（{where_label}）：{rule_text}。现为 {lhs_expr} = {lhs}，{rhs_expr} = {rhs}，"
        "相差 {diff}。请核对 {cells}"),
    # --- importing a published report (.docx/.html/text not made by nianbao) ---
    "IMPORT_UNREADABLE": Entry(Severity.FATAL, "报告无法读取",
        "{report}：无法作为年度报告读取（{detail}），请提供 PDF、Word（.docx）、网页（.html）"
        "或纯文本版本"),
    "IMPORT_TABLE_MISSING": Entry(Severity.ERROR, "缺少表格",
        "{report}：未找到表格「{sheet}」，该表数据未读取"),
    "IMPORT_ROW_MISSING": Entry(Severity.ERROR, "缺少一行",
        "{report}：表格「{sheet}」中未找到「{cell}」这一行，该行数据未读取"),
    "IMPORT_ROW_CELLS": Entry(Severity.ERROR, "一行的数据格数不符",
        "{report}：表格「{sheet}」中「{cell}」这一行只有 {found} 个数据格，应为 {expected} 个"
        "，该行数据未读取"),
    "IMPORT_ROW_UNREAD": Entry(Severity.WARNING, "读不出的行",
        "{report}：表格「{sheet}」中的一行「{found}」未能对应到官方格式的任何一行{detail}，未"
        "读取"),
    "IMPORT_RULE_UNCHECKED": Entry(Severity.WARNING, "无法核对",
        "{report}：勾稽关系 {rule_id}「{rule_text}」无法核对（有未读出的行），共 {count} 处未"
        "核对；未读出：{cells}"),
    "IMPORT_COLUMN_MISSING": Entry(Severity.WARNING, "表头缺列",
        "{report}：表格「{sheet}」的表头中未找到「{cell}」，已按官方格式的列顺序读取，请核对"),
    "IMPORT_VALUE": Entry(Severity.ERROR, "印出的数值有误",
        "{report}：表格「{sheet}」中「{cell}」印为「{found}」，{detail}；{rule_text}"),
    "IMPORT_VALUE_READ": Entry(Severity.WARNING, "已按数字读取（请核对）",
        "{report}：表格「{sheet}」中「{cell}」印为「{found}」，已按 {value} 读取（{detail}）"
        "，请核对"),
    "IMPORT_VALUE_BLANK": Entry(Severity.WARNING, "空白（未当作 0）",
        "{report}：表格「{sheet}」中「{cell}」为空白，按空白读取（未当作 0）"),
    "IMPORT_VALUE_NA": Entry(Severity.INFO, "不适用",
        "{report}：表格「{sheet}」中「{cell}」印为「{found}」，按「不适用」读取"),
    "IMPORT_SECTION_MISSING": Entry(Severity.WARNING, "缺少文字部分",
        "{report}：未找到「{label}」部分的标题，该部分文字未读取"),
    "IMPORT_IDENTITY_MISSING": Entry(Severity.WARNING, "未识别单位或年度",
        "{report}：未能从标题中识别{label}，请手工补充（命令行：--unit、--year）"),
    "IMPORT_IDENTITY_GUESSED": Entry(Severity.WARNING, "单位或年度取自页面标题",
        "{report}：正文中没有标题，{label}「{value}」取自页面标题「{found}」，请核对"),
    "IMPORT_OLD_FORMAT": Entry(Severity.WARNING, "旧格式的报告",
        "{report}：报告年度 {year} 早于本格式的首个适用年度 {first_year}，表格可能是旧格式，"
        "缺少的行和列请核对"),
    "PUBLISHED_DIFFERS": Entry(Severity.WARNING, "公布的数字与报送不一致",
        "{report}：表格「{sheet}」中「{cell}」公布为 {published}，而报送数据（提交编号 {submi"
        "ssion}）为 {submitted}"),
    "PUBLISHED_NOT_SUBMITTED": Entry(Severity.INFO, "没有报送数据可比",
        "{report}：台账中没有{unit}（{unit_code}）{year} 年度计入的报送数据，未与报送数据比对"),
    "PUBLISHED_UNIT_UNKNOWN": Entry(Severity.INFO, "未确定单位或年度",
        "{report}：未能确定是名单中的哪个单位或年度（{detail}），未与报送数据比对；请用 --uni"
        "t、--year 指定"),
    "IMPORT_HEADER_DIFFERS": Entry(Severity.WARNING, "表头括注不同",
        "{report}：表格「{sheet}」的表头「{found}」与官方格式「{expected}」的括注不同（例如计"
        "量单位），已按官方格式读取，请核对"),
}




def title(code: str) -> str:
    """The short Chinese name of a finding code (the code itself when it has none)."""
    entry = CATALOGUE.get(code)
    return entry.title if entry else code


@dataclass(frozen=True)
class Finding:
    """One thing found about one file, located as precisely as the case allows."""

    code: str
    severity: Severity
    message: str
    file: str | None = None
    sheet: str | None = None
    cell: str | None = None
    field: str | None = None
    rule: str | None = None
    values: dict[str, Any] = dataclasses.field(default_factory=dict)  # `field` is a column

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "file": self.file,
            "sheet": self.sheet,
            "cell": self.cell,
            "field": self.field,
            "rule": self.rule,
            "values": json_safe(self.values),
            "message": self.message,
        }

    def with_file(self, file: str) -> Finding:
        return Finding(
            self.code, self.severity, self.message, file, self.sheet, self.cell,
            self.field, self.rule, self.values,
        )


def make(
    code: str,
    /,
    *,
    file: str | None = None,
    sheet: str | None = None,
    cell: str | None = None,
    field: str | None = None,
    rule: str | None = None,
    severity: Severity | None = None,
    **values: Any,
) -> Finding:
    """Build a finding from the catalogue; `values` fill the message template and are kept."""
    default_severity, _, template = CATALOGUE[code]
    where = f"{sheet}!{cell}" if sheet and cell else (sheet or "")
    context = {"where": where, "sheet": sheet or "", "cell": cell or "", "file": file or "",
               **values}
    message = template.format_map(_Blank(context))
    kept = {k: v for k, v in values.items() if k not in ("label", "rule_text")}
    return Finding(code, severity or default_severity, message, file, sheet, cell, field,
                   rule, kept)


class _Blank(dict):
    """format_map helper: a missing template field renders as empty, never raises."""

    def __missing__(self, key: str) -> str:
        return ""


def json_safe(value: Any) -> Any:
    """Finding values as JSON can hold them: exact decimals as strings, floats that are
    not finite as strings, containers walked, anything else as its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def worst(findings: list[Finding]) -> Severity | None:
    """The most severe level among findings, or None when there are none."""
    return max((f.severity for f in findings), key=lambda s: s.rank, default=None)


def blocking(findings: list[Finding]) -> bool:
    """True when a finding stops the submission from counting (error or fatal)."""
    return any(f.severity.rank >= Severity.ERROR.rank for f in findings)
