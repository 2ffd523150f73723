"""What a returned file that is not a zip nor an OLE file is: a renamed CSV (in whatever
encoding it was exported), JSON, HTML, Excel 2003 XML, plain text, a PDF or an image.

Only bytes are looked at (the first 16 KB); the answer is a kind of Precheck and the finding
that names the format for the filler, so that "save it as .xlsx" is said about the right thing.
"""

from __future__ import annotations

import json
import re

from nianbao.findings import Finding, make

_TEXT_SAMPLE = 16 * 1024
_HTML_MARKERS = ("<html", "<!doctype html", "<table", "<head", "<body", "<meta")
_SPREADSHEETML_2003 = ("urn:schemas-microsoft-com:office:spreadsheet", "progid=\"excel.sheet\"")
_DELIMITERS = (",", "\t", ";")
# JSON starts with an object or an array of values; a CSV line hardly does (a first cell "[1]"
# would have to be followed by a valid JSON document to the end)
_JSON_START = re.compile(r'^(\{\s*("|\})|\[\s*(["{\[\]\d-]|true|false|null))')

OTHER_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "这是 PDF 文件"),
    (b"\x89PNG", "这是 PNG 图片"),
    (b"\xff\xd8\xff", "这是 JPEG 图片"),
    (b"GIF8", "这是 GIF 图片"),
    (b"Rar!", "这是 RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "这是 7z 压缩包"),
    (b"\x1f\x8b", "这是 gzip 压缩文件"),
    (b"{\\rtf", "这是 RTF 文档"),
)


def classify_text(data: bytes, name: str) -> tuple[str, Finding]:
    """(kind, fatal finding) of a file that is neither a zip nor an OLE compound file."""
    for magic, detail in OTHER_MAGICS:
        if data.startswith(magic):
            return "not-zip", make("FILE_NOT_XLSX", file=name, detail=detail)
    head = head_as_text(data)
    if head.startswith("<"):
        low = head[:4096].lower()
        if any(marker in low for marker in _HTML_MARKERS):
            return "html", make("FILE_HTML", file=name)
        if any(marker in low for marker in _SPREADSHEETML_2003):
            detail = "这是 Excel 2003 XML 表格（.xml），不是 .xlsx 工作簿"
            return "not-zip", make("FILE_NOT_XLSX", file=name, detail=detail)
        if low.startswith("<?xml"):
            return "not-zip", make("FILE_NOT_XLSX", file=name, detail="这是 XML 文本文件")
    text = decode_text(data)
    if text is not None and _mostly_printable(text):
        if _is_json(text.lstrip("\ufeff \t\r\n"), len(data) <= _TEXT_SAMPLE):
            return "not-zip", make("FILE_NOT_XLSX", file=name, detail="这是 JSON 文本文件")
        if any(d in text for d in _DELIMITERS):
            return "csv", make("FILE_CSV", file=name)
        return "not-zip", make("FILE_NOT_XLSX", file=name, detail="这是纯文本文件")
    if _csv_in_another_encoding(data[:_TEXT_SAMPLE]):  # (Big5 read as GB18030 is not text)
        return "csv", make("FILE_CSV", file=name)
    return "not-zip", make("FILE_NOT_XLSX", file=name, detail="无法识别的文件格式")


def head_as_text(data: bytes) -> str:
    """The start of the file with BOM and leading whitespace removed, for tag sniffing.

    Latin-1 keeps every ASCII byte as itself, so tags are found in any ASCII-compatible
    encoding (UTF-8, GBK, ...); UTF-16 is recognised by its BOM.
    """
    sample = data[:_TEXT_SAMPLE]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = sample.decode("utf-16", errors="replace")
    else:
        text = sample.decode("latin-1")
    return text.lstrip("\ufeff\xef\xbb\xbf \t\r\n\x00")


def decode_text(data: bytes) -> str | None:
    """The file's start as text, if it decodes as UTF-16 (BOM), UTF-8 or GB18030."""
    sample = data[:_TEXT_SAMPLE]
    complete = len(data) <= _TEXT_SAMPLE
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        text = _decode(sample, encoding, complete)
        if text is not None:
            return text
    return None


def _decode(sample: bytes, encoding: str, complete: bool) -> str | None:
    try:
        return sample.decode(encoding)
    except UnicodeDecodeError as exc:
        # A sample cut in the middle of a character is fine; anything else is not text.
        if complete or exc.start < len(sample) - 4:
            return None
        try:
            return sample[: exc.start].decode(encoding)
        except UnicodeDecodeError:
            return None


def _mostly_printable(text: str) -> bool:
    if not text:
        return False
    bad = sum(1 for ch in text if not (ch.isprintable() or ch in "\t\r\n\ufeff"))
    return bad <= len(text) * 0.02


def _is_json(text: str, complete: bool) -> bool:
    """A JSON document: it parses (when the whole file is in hand), or starts like one."""
    if not _JSON_START.match(text):
        return False
    if not complete:
        return True
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _csv_in_another_encoding(sample: bytes) -> bool:
    """Lines of text in a single-byte code page (LibreOffice exports CSV in the system's
    Western or other code page when nobody picks UTF-8: Chinese becomes "?" and curly
    quotes 0x93/0x94): no control bytes but line ends and tabs, and at least two lines that
    hold the same delimiter."""
    if not sample or any(b < 0x20 and b not in b"\t\r\n" for b in sample) or b"\x7f" in sample:
        return False
    lines = [line for line in sample.split(b"\n")[:50] if line.strip()]
    if len(lines) < 2:
        return False
    return any(sum(d in line for line in lines) >= max(2, len(lines) * 0.8)
               for d in (b",", b"\t", b";"))
