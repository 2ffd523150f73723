"""The neutral document every published format is read into: paragraphs and tables of rows
of cell texts, in reading order (plus a page title where the format has one)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from nianbao.text import decode_chinese


@dataclass
class DocTable:
    """One table: rows of cell texts (a merged cell once per row it covers, or once)."""

    rows: list[list[str]]


@dataclass
class Doc:
    """A published report as paragraphs (one line each) and tables, in order."""

    items: list[str | DocTable]
    title: str | None = None         # an HTML page's <title>, a PDF's document title


class Unreadable(Exception):
    """The file cannot be read as a report; the message says why, in Chinese."""

    def __init__(self, detail: str, fmt: str | None = None) -> None:
        super().__init__(detail)
        self.fmt = fmt


def decode_text(data: bytes) -> str:
    """The text of a file that is neither a package nor a PDF, or Unreadable."""
    text = decode_chinese(data)
    if text is None:
        raise Unreadable("既不是 .docx，也无法按 UTF-8 或 GB18030 解码为文字")
    control = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v")
    if "\x00" in text or control > max(2, len(text) // 100):
        raise Unreadable("文件含有二进制数据，不是 .docx、网页或文字文件")
    return text
