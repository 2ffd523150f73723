"""The catalogue of finding codes and the Finding record every stage reports with.

A finding says where (file, sheet, cell, field), what (code, rule, values) and how to fix
it (a Chinese message). Codes are English and stable; messages come from one catalogue.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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


# code -> (severity, Chinese message template). Templates use str.format fields taken from
# the finding's location and values; {where} is the located prefix ("主动公开!C5" ...).
CATALOGUE: dict[str, tuple[Severity, str]] = {
    # --- the file itself (pre-check, before any XML parser runs) ---
    "FILE_MISSING": (Severity.FATAL, "找不到文件或无法打开：{detail}"),
    "FILE_EMPTY": (Severity.FATAL, "文件为空（0 字节），请重新保存后提交"),
    "FILE_TOO_LARGE": (
        Severity.FATAL,
        "文件过大（{size_mb} MB，上限 {limit_mb} MB），请删除多余内容后另存为 .xlsx 重新提交",
    ),
    "FILE_NOT_XLSX": (
        Severity.FATAL,
        "不是 Excel 工作簿（{detail}），请用本单位下发的模板填写并另存为 .xlsx 后重新提交",
    ),
    "FILE_CSV": (
        Severity.FATAL,
        "这是改了扩展名的 CSV 文本文件，不是 Excel 工作簿，请另存为 .xlsx 后重新提交",
    ),
    "FILE_HTML": (
        Severity.FATAL,
        "这是改了扩展名的网页（HTML）文件，不是 Excel 工作簿，请另存为 .xlsx 后重新提交",
    ),
    "FILE_XLS": (
        Severity.FATAL,
        "这是旧版 Excel 97-2003（.xls）格式，请在 Excel/WPS 中另存为 .xlsx 后重新提交",
    ),
    "FILE_ENCRYPTED": (
        Severity.FATAL,
        "文件设置了打开密码，无法读取，请取消密码（文件→信息→保护工作簿）后重新提交",
    ),
    "FILE_ODS": (
        Severity.FATAL,
        "这是 OpenDocument（.ods）格式，请另存为 Excel 工作簿（.xlsx）后重新提交",
    ),
    "FILE_WPS_ET": (
        Severity.FATAL,
        "这是 WPS 表格（.et）格式，请在 WPS 中另存为 Excel 工作簿（.xlsx）后重新提交",
    ),
    "FILE_MACROS": (
        Severity.FATAL,
        "文件含有宏（VBA），出于安全原因不予读取，请另存为不含宏的 .xlsx 后重新提交",
    ),
    "FILE_ZIP_BOMB": (
        Severity.FATAL,
        "文件内部数据异常（{detail}），可能已损坏或被篡改，请重新保存后提交",
    ),
    "FILE_DTD": (
        Severity.FATAL,
        "文件内部含有 Excel 不会写入的 XML 声明（{member}），可能被篡改，请用模板重新填写后提交",
    ),
    "FILE_CORRUPT": (
        Severity.FATAL,
        "文件已损坏，无法读取（{detail}），请重新保存后提交",
    ),
    "FILE_UNREADABLE": (
        Severity.FATAL,
        "读取文件时出错（{detail}），请用模板重新填写并另存为 .xlsx 后重新提交",
    ),
    "FILE_TIMEOUT": (
        Severity.FATAL,
        "读取文件超时或占用内存过多（{detail}），已放弃读取，请检查文件后重新提交",
    ),
    "FILE_EXTERNAL_LINKS": (
        Severity.WARNING,
        "文件含有指向其他工作簿的外部链接，nianbao 不读取链接内容，请确认数据已直接填入表格",
    ),
    "FILE_EMBEDDED_OBJECTS": (
        Severity.WARNING,
        "文件中嵌入了对象或图片，nianbao 不读取这些内容，请确认数据已直接填入表格",
    ),
    # --- which form is this ---
    "FORM_UNKNOWN": (
        Severity.FATAL,
        "不是本系统下发的年度报告模板（{detail}），请使用下发的模板填写",
    ),
    "FORM_OTHER": (
        Severity.FATAL,
        "这是「{form_id}」模板，不是本次收集的「{expected}」模板",
    ),
    "FORM_VERSION_MISMATCH": (
        Severity.ERROR,
        "模板版本为 {found}，当前版本为 {expected}，两者表格结构不同，请下载最新模板重新填报",
    ),
    "FORM_VERSION_COMPATIBLE": (
        Severity.INFO,
        "模板版本为 {found}（当前 {expected}），表格结构相同，已照常读取",
    ),
    "FORM_FINGERPRINT": (
        Severity.ERROR,
        "模板结构指纹与版本 {found} 不符，模板可能被修改过，请使用下发的原始模板",
    ),
    # --- structure against the template ---
    "SHEET_MISSING": (
        Severity.ERROR,
        "缺少工作表「{sheet}」，请勿删除或重命名模板中的工作表",
    ),
    "LABEL_CHANGED": (
        Severity.ERROR,
        "{where}：表格文字被改动，应为「{expected}」，现为「{found}」，请勿修改表格中的文字",
    ),
    "FORMULA_CHANGED": (
        Severity.ERROR,
        "{where}：此处应为自动计算的公式（{expected}），现为「{found}」，请勿改写合计与校验单元格",
    ),
    "CACHED_MISMATCH": (
        Severity.WARNING,
        "{where}：文件中保存的计算结果为「{found}」，重新计算应为「{expected}」"
        "（文件可能未重新计算或被改动），已按重新计算的结果处理",
    ),
    "CACHED_MISSING": (
        Severity.INFO,
        "文件中没有保存公式的计算结果（通常是由程序而非 Excel/WPS 保存的），"
        "nianbao 已按填写的数据重新计算全部合计与校验",
    ),
    # --- identity ---
    "IDENTITY_MISSING": (
        Severity.ERROR,
        "{where}：{label}未填写，请填写后重新提交",
    ),
    "IDENTITY_EDITED": (
        Severity.ERROR,
        "{where}：{label}被改为「{found}」，下发时为「{expected}」，请勿修改预填的单位信息",
    ),
    "IDENTITY_INVALID": (
        Severity.ERROR,
        "{where}：{label}「{found}」不正确，{detail}",
    ),
    # --- values typed by the filler (R8 and reading) ---
    "VALUE_BLANK": (
        Severity.WARNING,
        "{where}（{label}）未填写，已按 0 参与校验；没有发生的请填 0",
    ),
    "VALUE_NORMALISED": (
        Severity.WARNING,
        "{where}（{label}）填写为「{found}」，已按 {value} 读取（{detail}），请确认",
    ),
    "VALUE_NOT_APPLICABLE": (
        Severity.INFO,
        "{where}（{label}）填写为「{found}」，按「不适用」处理",
    ),
    "VALUE_NA_NOT_ALLOWED": (
        Severity.ERROR,
        "{where}（{label}）填写为「{found}」，此处不能填「不适用」，没有发生的请填 0",
    ),
    "VALUE_TEXT": (
        Severity.ERROR,
        "{where}（{label}）填写为「{found}」，不是数字；{rule_text}",
    ),
    "VALUE_NEGATIVE": (
        Severity.ERROR,
        "{where}（{label}）填写为 {found}，不能为负数；{rule_text}",
    ),
    "VALUE_FRACTION": (
        Severity.ERROR,
        "{where}（{label}）填写为 {found}，件数必须是整数；{rule_text}",
    ),
    "VALUE_TOO_LARGE": (
        Severity.ERROR,
        "{where}（{label}）填写为 {found}，数值过大，请核对",
    ),
    "VALUE_FORMULA": (
        Severity.ERROR,
        "{where}（{label}）中是公式「{found}」，填报单元格请直接填写数字",
    ),
    "VALUE_PICTURE": (
        Severity.ERROR,
        "{where}（{label}）中插入了图片，填报单元格请直接填写数字",
    ),
    "VALUE_WRONG_TYPE": (
        Severity.ERROR,
        "{where}（{label}）填写为「{found}」（{detail}），不是数字；{rule_text}",
    ),
    "TEXT_BLANK": (
        Severity.WARNING,
        "{where}（{label}）未填写",
    ),
    # --- balancing rules (R1, R5, R6, R7, ...): one code, the rule id says which ---
    "UNBALANCED": (
        Severity.ERROR,
        "{where}（{where_label}）：{rule_text}。现为 {lhs_expr} = {lhs}，{rhs_expr} = {rhs}，"
        "相差 {diff}。请核对 {cells}",
    ),
}


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
            "values": self.values,
            "message": self.message,
        }

    def with_file(self, file: str) -> Finding:
        return Finding(
            self.code, self.severity, self.message, file, self.sheet, self.cell,
            self.field, self.rule, self.values,
        )


def make(
    code: str,
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
    default_severity, template = CATALOGUE[code]
    where = f"{sheet}!{cell}" if sheet and cell else (sheet or "")
    context = {"where": where, "sheet": sheet or "", "cell": cell or "", **values}
    message = template.format_map(_Blank(context))
    kept = {k: v for k, v in values.items() if k not in ("label", "rule_text")}
    return Finding(code, severity or default_severity, message, file, sheet, cell, field,
                   rule, kept)


class _Blank(dict):
    """format_map helper: a missing template field renders as empty, never raises."""

    def __missing__(self, key: str) -> str:
        return ""


def worst(findings: list[Finding]) -> Severity | None:
    """The most severe level among findings, or None when there are none."""
    return max((f.severity for f in findings), key=lambda s: s.rank, default=None)


def blocking(findings: list[Finding]) -> bool:
    """True when a finding stops the submission from counting (error or fatal)."""
    return any(f.severity.rank >= Severity.ERROR.rank for f in findings)
