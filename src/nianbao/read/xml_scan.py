"""Scanning one zip member's XML for what no parser may see: a DTD or entity declaration (in
any encoding an XML parser would honour, or the encoding is refused) and the macroEnabled
content type. Streaming, chunk by chunk, so a huge member costs no memory (precheck.py)."""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Iterator

DTD_BYTES = re.compile(rb"<!(?:doctype|entity)", re.IGNORECASE)
DTD_TEXT = re.compile(r"<!(?:doctype|entity)", re.IGNORECASE)
BANG_TRIES = 64
MACRO_OVERLAP = 11  # len("macroenabled") - 1, longer than len("<!doctype") - 1
ENCODING_DECL = re.compile(rb"encoding[ \t\r\n]*=[ \t\r\n]*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
# Encodings in which "<!DOCTYPE" can only appear as its ASCII bytes. Office, WPS and
# LibreOffice write UTF-8; any other declared encoding (UTF-7, EBCDIC, ...) could hide a DTD
# from a byte scan, so it is refused.
ASCII_SAFE_ENCODINGS = frozenset({
    "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "iso8859-1", "latin-1", "latin1",
    "windows-1252", "cp1252", "gb2312", "gbk", "gb18030", "cp936",
})
UTF16_NO_BOM = {
    b"<\x00": "utf-16-le", b"\x00<": "utf-16-be",
    b" \x00": "utf-16-le", b"\x00 ": "utf-16-be",
    b"\t\x00": "utf-16-le", b"\x00\t": "utf-16-be",
    b"\r\x00": "utf-16-le", b"\x00\r": "utf-16-be",
    b"\n\x00": "utf-16-le", b"\x00\n": "utf-16-be",
}
XML_FIRST_BYTES = frozenset(b"< \t\r\n")
USUAL_DECLARATION = (  # what Excel, WPS, LibreOffice and xlsxwriter write
    b'<?xml version="1.0" encoding="UTF-8"', b"<?xml version='1.0' encoding='UTF-8'",
    b'<?xml version="1.0" encoding="utf-8"',
)


def scan_chunks(
    first: bytes, chunks: Iterator[bytes], xml_named: bool, find_macros: bool
) -> tuple[str | None, bool]:
    """(DTD problem or None, whether "macroEnabled" was seen) for one member's chunks.

    A member that is neither named like XML nor starts like XML is not read past its
    first chunk: no XML parser would accept it.
    """
    encoding = sniff_encoding(first)
    if encoding is None:  # not XML by its first bytes
        if not xml_named:
            return None, False
        encoding = "bytes"
    if encoding.startswith("refuse:"):
        return encoding.removeprefix("refuse:"), False
    macros = False
    if encoding == "bytes":
        tail = b""
        for chunk in itertools.chain((first,), chunks):
            window = tail + chunk if tail else chunk
            if markup_declaration(window) and DTD_BYTES.search(window):
                return "DTD", macros
            if find_macros and not macros:
                macros = b"macroenabled" in window.lower()
            tail = chunk[-MACRO_OVERLAP:]
        return None, macros
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text_tail = ""
    for chunk in itertools.chain((first,), chunks):
        text = decoder.decode(chunk)
        window = text_tail + text
        if DTD_TEXT.search(window):
            return f"DTD（{encoding.upper()} 编码）", macros
        if find_macros and not macros:
            macros = "macroenabled" in window.lower()
        text_tail = text[-MACRO_OVERLAP:]
    return None, macros


def markup_declaration(window: bytes) -> bool:
    """Whether b"<!" is in `window`, quickly: "<" is everywhere in XML, "!" is rare (found by
    memchr); after BANG_TRIES of them, the plain substring search."""
    at = window.find(b"!")
    for _ in range(BANG_TRIES):
        if at < 0:
            return False
        if at and window[at - 1] == 0x3C:  # "<"
            return True
        at = window.find(b"!", at + 1)
    return b"<!" in window


def sniff_encoding(first: bytes) -> str | None:
    """How to scan a member: "bytes", a UTF-16 codec, "refuse:<why>", or None (not XML)."""
    if first.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        return "refuse:UTF-32 编码"
    if first.startswith(b"\xff\xfe"):
        return "utf-16-le"
    if first.startswith(b"\xfe\xff"):
        return "utf-16-be"
    utf16 = UTF16_NO_BOM.get(first[:2])
    if utf16 is not None:
        return utf16
    if first.startswith(b"\x4c\x6f\xa7\x94"):  # "<?xm" in EBCDIC
        return "refuse:EBCDIC 编码"
    body = first[3:] if first.startswith(b"\xef\xbb\xbf") else first
    if not body or body[0] not in XML_FIRST_BYTES:
        return None
    if first.startswith(USUAL_DECLARATION):
        return "bytes"
    body = body.lstrip(b" \t\r\n")
    if not body.startswith(b"<?xml"):
        return "bytes"  # no declaration: UTF-8
    end = body.find(b"?>")
    if end < 0:
        return "refuse:XML 声明不完整"
    declaration = body[:end]
    if b"encoding" not in declaration:
        return "bytes"
    declared = ENCODING_DECL.search(declaration)
    if declared is None:
        return "refuse:XML 编码声明无法识别"
    encoding = declared.group(1).decode("ascii").lower().replace("_", "-")
    if encoding not in ASCII_SAFE_ENCODINGS:
        return f"refuse:声明为 {declared.group(1).decode('ascii')} 编码"
    return "bytes"
