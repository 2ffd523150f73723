"""The prose of a report (sections 一、五、六) from a text the office supplies: a .md or .txt
file, a .docx, or the 文字部分 sheet of a workbook made from the template.

A merged report has figures but no words of its own; the office writes those. Headings in
the text ("一、总体情况", "## 五、存在的主要问题及改进情况") say which section a paragraph
belongs to; a text without any heading is section 一.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from nianbao.spec.model import Form

PLACEHOLDER = "【待补充：{label}】"
_HEADING = re.compile(r"^\s*#*\s*([一二三四五六七八九十]+)、")


class ProseError(ValueError):
    """The text could not be read (the message names the file and why, in Chinese)."""


def read_prose(path: Path, form: Form) -> dict[str, str]:
    """Field id of each prose section -> its text, from the supplied file."""
    suffix = path.suffix.lower()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProseError(f"{path}：无法读取（{exc.strerror or exc}）") from None
    if suffix == ".xlsx":
        return _from_workbook(data, path, form)
    if suffix == ".docx":
        return split_sections(_docx_text(data, path), form)
    if suffix in (".md", ".txt", ".text"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ProseError(f"{path}：不是 UTF-8 编码的文本，请另存为 UTF-8 后再试") from None
        return split_sections(text, form)
    raise ProseError(f"{path}：文字部分应为 .md、.txt、.docx 或模板格式的 .xlsx 文件")


def split_sections(text: str, form: Form) -> dict[str, str]:
    """Paragraphs under each section heading of the form's prose (一、五、六)."""
    by_section = {f.section: f.id for f in form.prose.fields}
    labels = {f.section: f.label for f in form.prose.fields}
    out: dict[str, list[str]] = {}
    current = form.prose.fields[0].section if form.prose.fields else ""
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        m = _HEADING.match(line)
        if m and m.group(1) in by_section and _is_heading(line, labels[m.group(1)]):
            current = m.group(1)
            continue
        if m and m.group(1) not in by_section and len(line.strip()) <= 40:
            current = ""  # a heading of another section (the tables): not prose
            continue
        if current and line.strip():
            out.setdefault(current, []).append(line.strip())
    return {by_section[s]: "\n".join(lines) for s, lines in out.items()}


def _is_heading(line: str, label: str) -> bool:
    """A heading line: short, or the section's own label."""
    text = line.strip().lstrip("#").strip()
    return len(text) <= 40 or text.startswith(label)


def _docx_text(data: bytes, path: Path) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # any broken package is the file's problem, said plainly
        raise ProseError(f"{path}：无法作为 Word 文档读取（{type(exc).__name__}）") from None
    return "\n".join(p.text for p in document.paragraphs)


def _from_workbook(data: bytes, path: Path, form: Form) -> dict[str, str]:
    from nianbao.check import check_bytes

    result = check_bytes(data, path.name)
    if result.form is None:
        reasons = "；".join(f.message for f in result.findings[:2])
        raise ProseError(f"{path}：无法读取文字部分（{reasons}）")
    return {f.id: str(result.values[f.id]) for f in form.prose.fields
            if result.values.get(f.id)}
