"""A corpus of bad (and a few good) returned files, with the pre-check verdict each must get.

`build_corpus(dst, good_xlsx)` writes every file of `EXPECTED` into `dst` and returns
name -> (path, expected precheck kind, expected finding code); the code is "" for a clean
file. The bad files are derived from `good_xlsx` (any valid workbook, e.g. from xlsxwriter)
or synthesised. The whole corpus builds in ~0.3 s; the zip bomb is streamed, never held in
memory.
"""

from __future__ import annotations

import io
import random
import warnings
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

# name -> (kind, code). The file name is also the `file` every finding must carry.
EXPECTED: dict[str, tuple[str, str]] = {
    "good.xlsx": ("xlsx", ""),
    "external_links.xlsx": ("xlsx", "FILE_EXTERNAL_LINKS"),
    "embedded_object.xlsx": ("xlsx", "FILE_EMBEDDED_OBJECTS"),
    "empty.xlsx": ("empty", "FILE_EMPTY"),
    "csv_utf8.xlsx": ("csv", "FILE_CSV"),
    "csv_gb18030.xlsx": ("csv", "FILE_CSV"),
    "unicode_text_utf16.xlsx": ("csv", "FILE_CSV"),
    "html_page.xlsx": ("html", "FILE_HTML"),
    "html_table_export.xls": ("html", "FILE_HTML"),
    "spreadsheetml_2003.xlsx": ("not-zip", "FILE_NOT_XLSX"),
    "plain_text.xlsx": ("not-zip", "FILE_NOT_XLSX"),
    "pdf_renamed.xlsx": ("not-zip", "FILE_NOT_XLSX"),
    "random_bytes.xlsx": ("not-zip", "FILE_NOT_XLSX"),
    "old_excel.xlsx": ("xls", "FILE_XLS"),
    "old_excel.xls": ("xls", "FILE_XLS"),
    "wps_table.et": ("et", "FILE_WPS_ET"),
    "word97.xlsx": ("not-zip", "FILE_NOT_XLSX"),
    "encrypted.xlsx": ("encrypted", "FILE_ENCRYPTED"),
    "zip_password.xlsx": ("encrypted", "FILE_ENCRYPTED"),
    "ods_renamed.xlsx": ("ods", "FILE_ODS"),
    "docx_renamed.xlsx": ("missing-parts", "FILE_NOT_XLSX"),
    "no_content_types.xlsx": ("missing-parts", "FILE_NOT_XLSX"),
    "no_workbook.xlsx": ("missing-parts", "FILE_NOT_XLSX"),
    "truncated.xlsx": ("corrupt", "FILE_CORRUPT"),
    "duplicate_member.xlsx": ("corrupt", "FILE_CORRUPT"),
    "bad_crc.xlsx": ("corrupt", "FILE_CORRUPT"),
    "macros.xlsm": ("xlsm", "FILE_MACROS"),
    "macro_content_type.xlsx": ("xlsm", "FILE_MACROS"),
    "zip_bomb.xlsx": ("zip-bomb", "FILE_ZIP_BOMB"),
    "ratio_bomb.xlsx": ("zip-bomb", "FILE_ZIP_BOMB"),
    "too_many_members.xlsx": ("zip-bomb", "FILE_ZIP_BOMB"),
    "billion_laughs.xlsx": ("dtd", "FILE_DTD"),
    "xxe_utf16.xlsx": ("dtd", "FILE_DTD"),
    "dtd_utf7.xlsx": ("dtd", "FILE_DTD"),
    "dtd_unlisted_member.xlsx": ("dtd", "FILE_DTD"),
}

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
BOMB_BYTES = 100 * 1024 * 1024  # uncompressed size of the zip bomb's member

_BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)
_XXE = '<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'

_CSV_ROWS = (
    "单位名称,年度,主动公开政府信息数\r\n某某市人民政府办公室,2023,128\r\n某某局,2023,56\r\n"
)


def build_corpus(dst: Path, good_xlsx: bytes) -> dict[str, tuple[Path, str, str]]:
    """Write the corpus into `dst`; return name -> (path, expected kind, expected code)."""
    dst.mkdir(parents=True, exist_ok=True)
    good = read_members(good_xlsx)
    sheet = next(n for n, _ in good if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    strings = "xl/sharedStrings.xml" if any(n == "xl/sharedStrings.xml" for n, _ in good) else sheet
    content_types = dict(good)["[Content_Types].xml"]

    files: dict[str, bytes | Callable[[Path], None]] = {
        "good.xlsx": good_xlsx,
        "external_links.xlsx": rezip(good, add=[(
            "xl/externalLinks/externalLink1.xml",
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<externalLink xmlns='
            b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><externalBook/>'
            b"</externalLink>",
        )]),
        "embedded_object.xlsx": rezip(good, add=[("xl/embeddings/oleObject1.bin", ole_file())]),
        "empty.xlsx": b"",
        "csv_utf8.xlsx": _CSV_ROWS.encode("utf-8-sig"),
        "csv_gb18030.xlsx": _CSV_ROWS.encode("gb18030"),
        "unicode_text_utf16.xlsx": _CSV_ROWS.replace(",", "\t").encode("utf-16"),
        "html_page.xlsx": (
            '<html xmlns:o="urn:schemas-microsoft-com:office:office">\n<head><meta charset='
            '"utf-8"></head><body><table><tr><td>单位名称</td><td>年度</td></tr></table>'
            "</body></html>\n"
        ).encode(),
        "html_table_export.xls": (
            "\ufeff\r\n  <TABLE border=1><TR><TD>单位名称</TD><TD>某某局</TD></TR></TABLE>\r\n"
        ).encode(),
        "spreadsheetml_2003.xlsx": (
            b'<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n<Workbook xmlns='
            b'"urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="Sheet1"/>'
            b"</Workbook>\n"
        ),
        "plain_text.xlsx": "请见附件。\n谢谢！\n".encode(),
        "pdf_renamed.xlsx": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        "random_bytes.xlsx": _random_bytes(4096),
        "old_excel.xlsx": ole_file(["Workbook", "\x05SummaryInformation"]),
        "old_excel.xls": ole_file(["Workbook"]),
        "wps_table.et": ole_file(["Workbook", "WpsCustomData"]),
        "word97.xlsx": ole_file(["WordDocument", "1Table"]),
        "encrypted.xlsx": ole_file(["EncryptionInfo", "EncryptedPackage", "\x06DataSpaces"]),
        "zip_password.xlsx": _set_encrypted_flag(good_xlsx),
        "ods_renamed.xlsx": _ods(),
        "docx_renamed.xlsx": _docx(),
        "no_content_types.xlsx": rezip(good, drop={"[Content_Types].xml"}),
        "no_workbook.xlsx": rezip(good, drop={"xl/workbook.xml"}),
        "truncated.xlsx": good_xlsx[: len(good_xlsx) // 2],
        "duplicate_member.xlsx": rezip(
            good, add=[("xl/workbook.xml", dict(good)["xl/workbook.xml"])]
        ),
        "bad_crc.xlsx": _corrupt_member_crc(good_xlsx, "xl/workbook.xml"),
        "macros.xlsm": rezip(
            good,
            replace={"[Content_Types].xml": _macro_content_types(content_types)},
            add=[("xl/vbaProject.bin", ole_file(["VBA", "PROJECT"]))],
        ),
        "macro_content_type.xlsx": rezip(
            good, replace={"[Content_Types].xml": _macro_content_types(content_types)}
        ),
        "zip_bomb.xlsx": lambda path: _write_bomb(path, good, BOMB_BYTES),
        "ratio_bomb.xlsx": rezip(good, add=[("xl/media/image9.bin", bytes(2 * 1024 * 1024))]),
        "too_many_members.xlsx": rezip(
            good, add=[(f"xl/media/pad{i}.bin", b"") for i in range(250)], level=0
        ),
        "billion_laughs.xlsx": rezip(
            good, replace={strings: _inject_after_declaration(dict(good)[strings], _BILLION_LAUGHS)}
        ),
        "xxe_utf16.xlsx": rezip(good, replace={sheet: _utf16_with_dtd(dict(good)[sheet])}),
        "dtd_utf7.xlsx": rezip(good, replace={sheet: (
            '<?xml version="1.0" encoding="UTF-7"?>'
            "+ADw-!DOCTYPE worksheet +AFs-+ADw-!ENTITY xxe SYSTEM +ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-"
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
        ).encode("ascii")}),
        "dtd_unlisted_member.xlsx": rezip(good, add=[(
            "xl/worksheets/sheet9.dat",
            _inject_after_declaration(dict(good)[sheet], _XXE),
        )]),
    }
    assert set(files) == set(EXPECTED), set(files) ^ set(EXPECTED)

    corpus: dict[str, tuple[Path, str, str]] = {}
    for name, content in files.items():
        path = dst / name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
        kind, code = EXPECTED[name]
        corpus[name] = (path, kind, code)
    return corpus


# --- building blocks (also useful to other tests) -------------------------------------------


def sample_xlsx(rows: int = 120) -> bytes:
    """A small valid workbook (~10 KB with the default rows), deterministic, from xlsxwriter."""
    import datetime

    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.set_properties({"created": datetime.datetime(2024, 1, 1)})
    bold = wb.add_format({"bold": True, "border": 1})
    cell = wb.add_format({"border": 1, "num_format": "0"})
    ws = wb.add_worksheet("主动公开")
    ws.write_row(0, 0, ["项目", "本年制发件数", "本年废止件数", "现行有效件数", "备注"], bold)
    for r in range(1, rows + 1):
        ws.write(r, 0, f"第{r}项", bold)
        ws.write_row(r, 1, [r * 3, r, r * 7], cell)
        ws.write_formula(r, 4, f"=B{r + 1}+C{r + 1}", cell, r * 4)
    ws.protect()
    wb.add_worksheet("说明").write(0, 0, "请按模板填写")
    wb.close()
    return buf.getvalue()


def read_members(xlsx: bytes) -> list[tuple[str, bytes]]:
    """The members of a zip, in order, as (name, bytes)."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def rezip(
    members: Iterable[tuple[str, bytes]],
    *,
    drop: Iterable[str] = (),
    replace: dict[str, bytes] | None = None,
    add: Iterable[tuple[str, bytes]] = (),
    level: int = 6,
) -> bytes:
    """A new zip from `members`, minus `drop`, with `replace`d contents, plus `add`."""
    replace, drop = replace or {}, set(drop)
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if level else zipfile.ZIP_STORED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is the point of one corpus file
        with zipfile.ZipFile(buf, "w", method, compresslevel=level or None) as zf:
            for name, data in members:
                if name not in drop:
                    zf.writestr(name, replace.get(name, data))
            for name, data in add:
                zf.writestr(name, data)
    return buf.getvalue()


def ole_file(streams: Iterable[str] = ("Workbook",)) -> bytes:
    """A minimal OLE compound file: header, a FAT sector, a directory naming `streams`."""
    header = bytearray(512)
    header[0:8] = OLE_MAGIC
    header[0x18:0x1A] = (0x3E).to_bytes(2, "little")  # minor version
    header[0x1A:0x1C] = (3).to_bytes(2, "little")  # major version 3: 512-byte sectors
    header[0x1C:0x1E] = b"\xfe\xff"  # little-endian
    header[0x1E:0x20] = (9).to_bytes(2, "little")  # sector shift
    header[0x20:0x22] = (6).to_bytes(2, "little")  # mini sector shift
    header[0x2C:0x30] = (1).to_bytes(4, "little")  # one FAT sector
    header[0x30:0x34] = (1).to_bytes(4, "little")  # directory starts at sector 1
    header[0x38:0x3C] = (4096).to_bytes(4, "little")  # mini stream cutoff
    header[0x3C:0x40] = b"\xfe\xff\xff\xff"  # no mini FAT
    header[0x44:0x48] = b"\xfe\xff\xff\xff"  # no DIFAT sectors
    header[0x4C:0x50] = (0).to_bytes(4, "little")  # FAT is sector 0
    header[0x50:0x200] = b"\xff" * (0x200 - 0x50)
    fat = bytearray(b"\xff" * 512)
    fat[0:4] = b"\xfd\xff\xff\xff"  # sector 0: FAT
    fat[4:8] = b"\xfe\xff\xff\xff"  # sector 1: directory, end of chain
    directory = bytearray()
    for i, stream in enumerate(["Root Entry", *streams]):
        entry = bytearray(128)
        encoded = (stream + "\x00").encode("utf-16-le")[:64]
        entry[0 : len(encoded)] = encoded
        entry[0x40:0x42] = len(encoded).to_bytes(2, "little")
        entry[0x42] = 5 if i == 0 else 2  # root storage / stream
        entry[0x44:0x50] = b"\xff" * 12  # no siblings, no child
        directory += entry
    directory += bytes(-len(directory) % 512)
    return bytes(header + fat + directory)


def _random_bytes(size: int) -> bytes:
    data = random.Random(20240601).randbytes(size)
    return b"\x93" + data[1:]  # never a zip, OLE, BOM or text start


def _set_encrypted_flag(xlsx: bytes) -> bytes:
    """The same zip with the "encrypted" flag set on every member (a zip-level password)."""
    data = bytearray(xlsx)
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            data[at + flag_at] |= 0x01
            at = data.find(signature, at + 4)
    return bytes(data)


def _corrupt_member_crc(xlsx: bytes, member: str) -> bytes:
    """The same zip with `member`'s stored CRC-32 changed in both headers."""
    data = bytearray(xlsx)
    encoded = member.encode()
    for signature, crc_at, name_at in ((b"PK\x03\x04", 14, 30), (b"PK\x01\x02", 16, 46)):
        at = data.find(signature)
        while at >= 0:
            if data[at + name_at : at + name_at + len(encoded)] == encoded:
                data[at + crc_at] ^= 0xFF
            at = data.find(signature, at + 4)
    return bytes(data)


def _ods() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")  # stored, first
        zf.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
            '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>',
            zipfile.ZIP_DEFLATED,
        )
        zf.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office='
            '"urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>',
            zipfile.ZIP_DEFLATED,
        )
    return buf.getvalue()


def _docx() -> bytes:
    return rezip([
        ("[Content_Types].xml",
         b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://'
         b'schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/'
         b'document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
         b'wordprocessingml.document.main+xml"/></Types>'),
        ("_rels/.rels",
         b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns='
         b'"http://schemas.openxmlformats.org/package/2006/relationships"/>'),
        ("word/document.xml",
         b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w='
         b'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>'),
    ])


def _macro_content_types(content_types: bytes) -> bytes:
    return content_types.replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    ).replace(
        b"<Default ",
        b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Default ',
        1,
    )


def _inject_after_declaration(xml: bytes, dtd: str) -> bytes:
    end = xml.find(b"?>") + 2 if xml.startswith(b"<?xml") else 0
    return xml[:end] + b"\n" + dtd.encode() + xml[end:]


def _utf16_with_dtd(xml: bytes) -> bytes:
    text = _inject_after_declaration(xml, _XXE).decode("utf-8")
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    return text.encode("utf-16")  # with a BOM


def _write_bomb(path: Path, members: list[tuple[str, bytes]], size: int) -> None:
    """The good workbook plus one member of `size` zeros, streamed (fast level-1 deflate)."""
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in members:
            zf.writestr(name, data)
        with zf.open("xl/media/image1.bin", "w", force_zip64=True) as fh:
            written = 0
            while written < size:
                piece = chunk[: min(len(chunk), size - written)]
                fh.write(piece)
                written += len(piece)
