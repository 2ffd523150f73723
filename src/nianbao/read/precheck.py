"""Classify a returned file before any XML parser sees it.

`precheck_bytes` looks only at bytes: magic numbers, the zip central directory, and
a bounded byte scan of the XML members. It does not parse XML. The result says whether
the file can go to an xlsx reader (`ok`), what kind of file it is (`kind`), and the findings
to show the clerk. A file whose `ok` is False must not be opened by any reader. When it is
ok, the XML members the scan inflated whole (the small ones, up to a total) come with it
(`inflated`), so that the reader does not inflate them again.

What makes a file not ok, checked in this order:
  empty, too large, OLE compound file (password-protected OOXML, old .xls, WPS .et, .doc),
  not a zip (HTML, CSV/TSV, other), broken zip, duplicate member names, zip-level password,
  unusual compression method, zip bomb (member count, sizes, ratio), ODS, missing parts
  (.docx/.pptx/.xlsb or no [Content_Types].xml / xl/workbook.xml), macros, DTD or entity
  declarations (or an XML encoding that would hide them) in any XML member.
External links and embedded objects only add warnings.

Nothing here raises: an unexpected error becomes a FILE_CORRUPT or FILE_UNREADABLE finding.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nianbao import deflate
from nianbao.findings import Finding, make
from nianbao.fsutil import FileTooLarge, NotRegularFile, read_regular
from nianbao.read.cache import ReadCache, default_cache, new_content_id
from nianbao.read.reader import Unpacked
from nianbao.read.text_files import classify_text
from nianbao.read.xml_scan import scan_chunks

MB = 1024 * 1024

#: Every value `Precheck.kind` can take.
KINDS = (
    "xlsx", "empty", "csv", "html", "xls", "encrypted", "ods", "et", "xlsm", "zip-bomb",
    "dtd", "not-zip", "corrupt", "missing-parts", "too-large", "missing",
)


@dataclass(frozen=True)
class Limits:
    """Size limits for a returned form (a filled form is ~10-60 KB); all configurable."""

    max_file_bytes: int = 20 * MB
    max_members: int = 200
    max_member_bytes: int = 50 * MB  # declared uncompressed size of one member
    max_total_bytes: int = 200 * MB  # sum of declared uncompressed sizes
    max_ratio: float = 200.0  # uncompressed / compressed, for members above ratio_min_bytes
    ratio_min_bytes: int = 1 * MB


@dataclass(frozen=True)
class Precheck:
    """The verdict on one file: safe for an xlsx reader or not, and why."""

    ok: bool  # True: safe to hand to an xlsx reader
    kind: str  # one of KINDS
    findings: list[Finding] = field(default_factory=list)  # fatal when not ok; else warnings
    members: dict[str, int] = field(default_factory=dict)  # zip member -> declared size
    #: The uncompressed bytes of the XML members the scan inflated whole (only when ok): a
    #: reader given them (`read_auto(data, pre.unpacked)`) does not inflate them again.
    inflated: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    #: For members of `inflated`: an id of the content, the same for every member met with
    #: the same compressed bytes, size and CRC (see `Unpacked.content_ids`).
    content_ids: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def unpacked(self) -> Unpacked:
        """What a reader takes of this verdict (`Reader`): the members at hand."""
        return Unpacked(self.inflated, self.members.keys(), self.content_ids)


# --- magic numbers -------------------------------------------------------------------------

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


_OLE_ENCRYPTED = (_utf16("EncryptedPackage"), _utf16("EncryptionInfo"))
_OLE_WORD = _utf16("WordDocument")
_OLE_BOOK = (_utf16("Workbook"), _utf16("Book\x00"))

# --- the XML scan ----------------------------------------------------------------------------

_XML_SUFFIXES = (".xml", ".rels", ".vml")
_CHUNK = 1 * MB  # most uncompressed bytes produced per step
_FIRST_INPUT = 4 * 1024  # compressed bytes fed first (enough to tell a non-XML member)
_NEXT_INPUT = 64 * 1024  # compressed bytes fed per step afterwards
# Members the scan inflates whole are kept for the reader, up to this many bytes in all
# (a return holds ~200 KB of XML): no member is held that the scan did not hold whole anyway,
# and a file of many small members cannot make the pre-check hold more than this.
_KEEP_BYTES = 8 * MB
# Parts no reader of cell values opens: not kept.
_NOT_KEPT = ("docprops/", "xl/theme/", "xl/drawings/", "xl/charts/", "xl/media/", "customxml/",
             "xl/printersettings/", "xl/externallinks/", "xl/comments", "xl/threadedcomments/",
             "xl/persons/", "xl/embeddings/", "xl/activex/", "xl/ctrlprops/")


# --- public API -----------------------------------------------------------------------------


def precheck_bytes(data: bytes, name: str, limits: Limits = Limits(), *,
                   cache: ReadCache | None = None) -> Precheck:
    """Classify `data` (the whole file) without parsing XML; `name` goes into every finding.
    `cache`: where small members met before are remembered (default: the process's own)."""
    try:
        if not isinstance(data, bytes):
            data = bytes(data)
        return _precheck(data, name, limits, cache or default_cache())
    except Exception as exc:  # report, don't raise: a pre-check bug must not stop a batch
        return _reject(
            "corrupt",
            make("FILE_UNREADABLE", file=name, detail=f"预检查时出错：{type(exc).__name__}",
                 error=repr(exc)[:200]),
        )


def precheck_file(
    path: Path | str, limits: Limits = Limits(), *, name: str | None = None
) -> Precheck:
    """Read `path` once and classify it; `name` (default: the file name) goes into findings.

    A missing, unreadable or non-regular file gives FILE_MISSING; a file above
    `limits.max_file_bytes` is rejected from its size alone, without being read.
    """
    try:
        path = Path(path)
        name = name if name is not None else path.name
        try:  # regular files only, sized by fstat of the opened file before any read
            data = read_regular(path, limits.max_file_bytes)
        except FileTooLarge as exc:
            return too_large(name, exc.size, limits)
        except NotRegularFile as exc:
            return _missing(name, f"{path}（{exc.strerror}）")
        except FileNotFoundError:
            return _missing(name, f"{path}（文件不存在）")
        except PermissionError:
            return _missing(name, f"{path}（没有读取权限）")
        except OSError as exc:
            return _missing(name, f"{path}（{exc.strerror or type(exc).__name__}）")
        return precheck_bytes(data, name, limits)
    except Exception as exc:  # report, don't raise
        shown = name if name is not None else str(path)
        return _reject(
            "missing",
            make("FILE_UNREADABLE", file=shown, detail=f"预检查时出错：{type(exc).__name__}",
                 error=repr(exc)[:200]),
        )


# --- the classification ---------------------------------------------------------------------


def _precheck(data: bytes, name: str, limits: Limits, cache: ReadCache) -> Precheck:
    if not data:
        return _reject("empty", make("FILE_EMPTY", file=name))
    if len(data) > limits.max_file_bytes:
        return too_large(name, len(data), limits)
    if data.startswith(_OLE_MAGIC):
        return _ole(data, name)
    if data[:4] in _ZIP_MAGICS:
        return _zip(data, name, limits, cache)
    return _not_zip(data, name)


def _ole(data: bytes, name: str) -> Precheck:
    """An OLE compound file: password-protected OOXML, old .xls, WPS .et, or not a workbook."""
    if any(marker in data for marker in _OLE_ENCRYPTED):
        return _reject("encrypted", make("FILE_ENCRYPTED", file=name))
    if name.lower().endswith((".et", ".ett")):
        return _reject("et", make("FILE_WPS_ET", file=name))
    if _OLE_WORD in data and not any(marker in data for marker in _OLE_BOOK):
        return _reject(
            "not-zip", make("FILE_NOT_XLSX", file=name, detail="这是 Word 97-2003 文档（.doc）")
        )
    return _reject("xls", make("FILE_XLS", file=name))


def _not_zip(data: bytes, name: str) -> Precheck:
    """CSV, JSON, HTML renamed to .xlsx, or something else entirely (see text_files)."""
    return _reject(*classify_text(data, name))


# --- zips -----------------------------------------------------------------------------------
#
# zipfile parses the central directory (names, sizes, offsets). Members are then read
# straight from `data`: the local header is checked the way zipfile.open checks it (magic,
# name), and the data is inflated with zlib in bounded steps, never past the declared size,
# with the CRC-32 checked at the end, so the bytes scanned are the bytes a reader would get.


_LOCAL_HEADER = struct.Struct("<4s2xH18xHH")  # signature, flags, name length, extra length


class _MemberError(Exception):
    """A member's local header or data is damaged (reported as FILE_CORRUPT)."""


def _zip(data: bytes, name: str, limits: Limits, cache: ReadCache) -> Precheck:
    declared = _declared_entry_count(data)
    if declared is not None and declared > limits.max_members:
        return _bomb(name, f"压缩包声明含 {declared} 个部件，上限 {limits.max_members} 个", {})
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:
        return _corrupt(name, "压缩结构不完整或已损坏，文件可能未完整保存或传输", {}, exc)
    with zf:
        infos = zf.infolist()
        end_of_data = zf.start_dir
    members = {info.filename: info.file_size for info in infos}
    verdict = _check_directory(infos, name, limits, members)
    if verdict is not None:
        return verdict
    starts = _locate_members(data, infos, end_of_data)
    if isinstance(starts, str):
        return _corrupt(name, starts, members)
    verdict = _check_parts(data, infos, starts, name, members)
    if verdict is not None:
        return verdict
    inflated: dict[str, bytes] = {}
    content_ids: dict[str, int] = {}
    verdict = _scan_members(data, infos, starts, name, members, inflated, content_ids, cache)
    if verdict is not None:
        return verdict
    warnings: list[Finding] = []
    lowered = [n.lower() for n in members]
    if any(n.startswith("xl/externallinks/") for n in lowered):
        warnings.append(make("FILE_EXTERNAL_LINKS", file=name))
    if any(n.startswith(("xl/embeddings/", "xl/activex/")) for n in lowered):
        warnings.append(make("FILE_EMBEDDED_OBJECTS", file=name))
    return Precheck(True, "xlsx", warnings, members, inflated, content_ids)


def _declared_entry_count(data: bytes) -> int | None:
    """The member count in the end-of-central-directory record, before zipfile parses it all."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if at < 0 or at + 22 > len(data):
        return None
    count = int.from_bytes(data[at + 10 : at + 12], "little")
    return None if count == 0xFFFF else count  # 0xFFFF: zip64, zipfile reads the real count


def _check_directory(
    infos: list[zipfile.ZipInfo], name: str, limits: Limits, members: dict[str, int]
) -> Precheck | None:
    """Member names, flags, methods and sizes, from the central directory alone."""
    if len(infos) > limits.max_members:
        return _bomb(
            name, f"压缩包含 {len(infos)} 个部件，上限 {limits.max_members} 个", members
        )
    seen: set[str] = set()
    for info in infos:
        key = info.filename.lower()  # part names are case-insensitive in OOXML
        if key in seen:
            return _corrupt(name, f"压缩包内有重名的部件 {info.filename}", members)
        seen.add(key)
    total = 0
    for info in infos:
        if info.flag_bits & 0x41:  # traditional or strong encryption
            return _reject("encrypted", make("FILE_ENCRYPTED", file=name), members)
        if info.flag_bits & 0x20 or info.compress_type not in (
            zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
        ):
            return _corrupt(
                name,
                f"部件 {info.filename} 使用了 Excel 不使用的压缩方式（{info.compress_type}）",
                members,
            )
        size, packed = info.file_size, info.compress_size
        if size > limits.max_member_bytes:
            return _bomb(
                name,
                f"部件 {info.filename} 解压后 {_mb(size)} MB，"
                f"超过单个部件上限 {_mb(limits.max_member_bytes)} MB",
                members,
            )
        if size > limits.ratio_min_bytes and size > limits.max_ratio * packed:
            ratio = f"{size / packed:.0f}" if packed else "无穷"
            return _bomb(
                name,
                f"部件 {info.filename} 压缩后 {packed} 字节、解压后 {_mb(size)} MB，"
                f"压缩比 {ratio} 倍，超过上限 {limits.max_ratio:g} 倍",
                members,
            )
        total += size
    if total > limits.max_total_bytes:
        return _bomb(
            name,
            f"全部部件解压后共 {_mb(total)} MB，超过上限 {_mb(limits.max_total_bytes)} MB",
            members,
        )
    return None


def _locate_members(
    data: bytes, infos: list[zipfile.ZipInfo], end_of_data: int
) -> dict[str, int] | str:
    """Where each member's data starts, or a Chinese detail if a local header is bad.

    Checks what zipfile.open checks (signature, the name matching the directory) and, in
    addition, that no member's data runs into the next member or the directory: overlapping
    members are how the smallest zip bombs are built.
    """
    starts: dict[str, int] = {}
    ordered = sorted(infos, key=lambda info: info.header_offset)
    for i, info in enumerate(ordered):
        at = info.header_offset
        if at < 0 or at + 30 > len(data):
            return f"部件 {info.filename} 的文件头损坏"
        signature, flags, name_len, extra_len = _LOCAL_HEADER.unpack_from(data, at)
        if signature != b"PK\x03\x04":
            return f"部件 {info.filename} 的文件头损坏"
        raw_name = data[at + 30 : at + 30 + name_len]
        try:
            local_name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
        except UnicodeDecodeError:
            local_name = None
        if local_name != info.orig_filename:
            return f"部件 {info.filename} 的名称在目录和文件头中不一致"
        start = at + 30 + name_len + extra_len
        limit = ordered[i + 1].header_offset if i + 1 < len(ordered) else end_of_data
        if start + info.compress_size > min(limit, len(data)):
            return f"部件 {info.filename} 的数据与其他部件重叠或超出文件末尾"
        starts[info.filename] = start
    return starts


def _member_chunks(data: bytes, info: zipfile.ZipInfo, start: int) -> Iterator[bytes]:
    """The member's uncompressed bytes in chunks, never more than its declared size.

    Raises _MemberError when the data ends early or the CRC-32 does not match (checked once
    the whole member has been produced).
    """
    size = info.file_size
    packed = memoryview(data)[start : start + info.compress_size]
    produced = crc = 0
    if info.compress_type == zipfile.ZIP_STORED:
        for at in range(0, min(size, len(packed)), _CHUNK):
            chunk = bytes(packed[at : min(at + _CHUNK, size)])
            produced += len(chunk)
            crc = deflate.crc32(chunk, crc)
            yield chunk
    else:
        inflater = deflate.inflater()
        at, step = 0, _FIRST_INPUT
        pending: bytes | memoryview = b""
        while produced < size and not inflater.eof:
            if not pending:  # feed the next bounded piece (b"" at the end: drain the output)
                pending = packed[at : at + step]
                at, step = at + len(pending), _NEXT_INPUT
            before = len(pending)
            try:
                chunk = inflater.decompress(pending, min(_CHUNK, size - produced))
            except deflate.ERRORS as exc:
                raise _MemberError(str(exc)) from exc
            pending = inflater.unconsumed_tail
            if chunk:
                produced += len(chunk)
                crc = deflate.crc32(chunk, crc)
                yield chunk
            elif len(pending) == before:
                break  # no progress (input used up, or undecodable): the data ends early
    if produced != size:
        raise _MemberError(f"数据长度 {produced} 与声明的 {size} 不符")
    if crc != info.CRC:
        raise _MemberError("CRC-32 校验不符")


def _member_bytes(data: bytes, info: zipfile.ZipInfo, start: int) -> bytes:
    return b"".join(_member_chunks(data, info, start))


def _small_member(data: bytes, info: zipfile.ZipInfo, start: int) -> bytes:
    """A small member (<= _CHUNK out, <= _NEXT_INPUT in) in one bounded step, CRC checked."""
    size = info.file_size
    packed = data[start : start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        content = packed[:size]
    else:
        try:
            content = deflate.inflater().decompress(packed, size)
        except deflate.ERRORS as exc:
            raise _MemberError(str(exc)) from exc
    if len(content) != size:  # all input used and still short: the data ends early
        raise _MemberError(f"数据长度 {len(content)} 与声明的 {size} 不符")
    if deflate.crc32(content) != info.CRC:
        raise _MemberError("CRC-32 校验不符")
    return content


def _check_parts(
    data: bytes,
    infos: list[zipfile.ZipInfo],
    starts: dict[str, int],
    name: str,
    members: dict[str, int],
) -> Precheck | None:
    """ODS, Word/PowerPoint/xlsb, missing parts, and macros by member name."""
    if 0 < members.get("mimetype", 0) <= 1024:
        info = next(info for info in infos if info.filename == "mimetype")
        try:
            mimetype = _member_bytes(data, info, starts["mimetype"])
        except _MemberError as exc:
            return _corrupt(name, "部件 mimetype 无法解压，数据已损坏", members, exc)
        if b"application/vnd.oasis.opendocument" in mimetype:
            return _reject("ods", make("FILE_ODS", file=name), members)
    if "xl/workbook.xml" not in members:
        if "word/document.xml" in members:
            detail = "这是 Word 文档（.docx），改了扩展名"
        elif "ppt/presentation.xml" in members:
            detail = "这是 PowerPoint 演示文稿（.pptx），改了扩展名"
        elif "[Content_Types].xml" not in members:
            detail = "缺少 [Content_Types].xml，不是 Office 文档"
        elif "xl/workbook.bin" in members:
            detail = "这是 Excel 二进制工作簿（.xlsb）"
        else:
            detail = "缺少工作簿部件 xl/workbook.xml"
        return _reject("missing-parts", make("FILE_NOT_XLSX", file=name, detail=detail), members)
    if "[Content_Types].xml" not in members:
        return _reject(
            "missing-parts",
            make("FILE_NOT_XLSX", file=name, detail="缺少 [Content_Types].xml"),
            members,
        )
    for member in members:
        low = member.lower()
        if low.endswith("vbaproject.bin") or low.startswith("xl/macrosheets/"):
            return _reject("xlsm", make("FILE_MACROS", file=name, member=member), members)
    return None


def _scan_members(
    data: bytes,
    infos: list[zipfile.ZipInfo],
    starts: dict[str, int],
    name: str,
    members: dict[str, int],
    inflated: dict[str, bytes],
    content_ids: dict[str, int],
    cache: ReadCache,
) -> Precheck | None:
    """Scan every XML member (by name or by its first bytes) for DTD/entity declarations.

    [Content_Types].xml goes first; it is also where a macro-enabled workbook shows. The
    XML members inflated whole (small ones) go into `inflated`, up to _KEEP_BYTES in all,
    with the id of their content in `content_ids`.
    """
    ordered = sorted(infos, key=lambda info: info.filename != "[Content_Types].xml")
    budget = _KEEP_BYTES
    for info in ordered:
        if info.file_size == 0:
            continue  # (not kept either: a reader checks an empty member's CRC itself)
        content_types = info.filename == "[Content_Types].xml"
        lowered = info.filename.lower()
        xml_named = content_types or lowered.endswith(_XML_SUFFIXES)
        keep = (budget >= info.file_size and xml_named and not lowered.endswith(".vml")
                and not lowered.startswith(_NOT_KEPT))
        try:
            problem, macros, content, content_id = _scan_member(
                data, info, starts[info.filename], xml_named, content_types, cache)
        except _MemberError as exc:
            return _corrupt(name, f"部件 {info.filename} 无法解压，数据已损坏", members, exc)
        if problem is not None:
            return _reject(
                "dtd",
                make("FILE_DTD", file=name, member=info.filename, detail=problem),
                members,
            )
        if macros:
            return _reject("xlsm", make("FILE_MACROS", file=name, member=info.filename), members)
        if keep and content is not None:
            inflated[info.filename] = content
            content_ids[info.filename] = content_id
            budget -= len(content)
    return None


def _scan_member(
    data: bytes, info: zipfile.ZipInfo, start: int, xml_named: bool, find_macros: bool,
    cache: ReadCache,
) -> tuple[str | None, bool, bytes | None, int | None]:
    """Scan one member: (problem, macros, content, content id). A small XML member is
    inflated in one step (and returned, CRC checked, with an id), others in chunks (None:
    never held whole).

    A small member whose compressed bytes, method, size and CRC are those of one scanned
    before (most parts of a template's returns: styles, relationships, unfilled sheets) has
    the same content and verdict: all are taken from `cache.scanned`, not inflated again."""
    if xml_named and info.file_size <= _CHUNK and info.compress_size <= _NEXT_INPUT:
        packed = data[start : start + info.compress_size]
        key = (packed, info.compress_type, info.file_size, info.CRC, find_macros)
        found = cache.scanned.find(key)
        if found is None:
            content = _small_member(packed, info, 0)
            found = (*scan_chunks(content, iter(()), xml_named, find_macros), content,
                     new_content_id())
            cache.scanned.keep(key, found, len(packed) + len(content))
        return found
    chunks = _member_chunks(data, info, start)
    try:
        return (*scan_chunks(next(chunks, b""), chunks, xml_named, find_macros), None, None)
    finally:
        chunks.close()


# --- results --------------------------------------------------------------------------------


def _reject(kind: str, finding: Finding, members: dict[str, int] | None = None) -> Precheck:
    return Precheck(False, kind, [finding], dict(members or {}))


def _missing(name: str, detail: str) -> Precheck:
    return _reject("missing", make("FILE_MISSING", file=name, detail=detail))


def too_large(name: str, size: int, limits: Limits) -> Precheck:
    return _reject(
        "too-large",
        make("FILE_TOO_LARGE", file=name, size_mb=_mb(size), limit_mb=_mb(limits.max_file_bytes)),
    )


def _bomb(name: str, detail: str, members: dict[str, int]) -> Precheck:
    return _reject("zip-bomb", make("FILE_ZIP_BOMB", file=name, detail=detail), members)


def _corrupt(
    name: str, detail: str, members: dict[str, int], exc: BaseException | None = None
) -> Precheck:
    extra = {"error": repr(exc)[:200]} if exc is not None else {}
    return _reject("corrupt", make("FILE_CORRUPT", file=name, detail=detail, **extra), members)


def _mb(size: int) -> float | int:
    value = round(size / MB, 1)
    return int(value) if value == int(value) else value


__all__ = ["KINDS", "Limits", "Precheck", "precheck_bytes", "precheck_file"]
