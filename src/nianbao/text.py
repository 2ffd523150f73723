"""Decoding text files as Chinese offices save them."""

from __future__ import annotations


def decode_chinese(data: bytes) -> str | None:
    """UTF-16 (with its BOM), UTF-8 (with or without BOM) or GB18030 (what Excel and Notepad
    save on a Chinese Windows); None when it is none of them."""
    encodings = ("utf-16",) if data.startswith((b"\xff\xfe", b"\xfe\xff")) else (
        "utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None
