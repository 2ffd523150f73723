"""Receive a multipart upload: each file streamed to disk while hashed, under a size cap.

Nothing is judged here: the saved files go to `collect` like any inbox. An upload over the
cap, cut off halfway or malformed leaves no file behind (the caller's folder is removed).
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from nianbao.collect.naming import safe_name

FIELD_LIMIT = 64 * 1024     # bytes of one text field (a reason, a CSRF token)
MAX_FILES = 200             # files in one office upload


class UploadError(Exception):
    """The upload cannot be taken; `status` is the HTTP status, the message is Chinese."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class SavedFile:
    name: str          # the name the sender gave (made safe for a file name)
    path: Path
    size: int
    sha256: str


@dataclass
class Upload:
    folder: Path
    files: list[SavedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def too_large(cap: int) -> UploadError:
    return UploadError(413, f"文件超过了大小上限（{cap // (1024 * 1024)} MB），未受理。"
                            "年报文件通常只有几十 KB，请确认选择的是填好的年报工作簿。")


class _Parts:
    """Callbacks of the multipart parser: headers of each part, then its data."""

    def __init__(self, upload: Upload, cap: int) -> None:
        self.upload, self.cap = upload, cap
        self.headers: dict[str, bytes] = {}
        self.header_name, self.header_value = b"", b""
        self.name = ""
        self.file: IO[bytes] | None = None
        self.saved: SavedFile | None = None
        self.digest: Any = None
        self.text = bytearray()
        self.total = 0

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self.begin, "on_header_field": self.hfield,
                "on_header_value": self.hvalue, "on_header_end": self.hend,
                "on_headers_finished": self.headers_done, "on_part_data": self.data,
                "on_part_end": self.end}

    def begin(self) -> None:
        self.headers, self.text, self.file, self.saved = {}, bytearray(), None, None

    def hfield(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def hvalue(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def hend(self) -> None:
        self.headers[self.header_name.decode("latin-1").lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def headers_done(self) -> None:
        _, params = parse_options_header(self.headers.get("content-disposition", b""))
        self.name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is None:
            return
        if len(self.upload.files) >= MAX_FILES:
            raise UploadError(400, f"一次最多上传 {MAX_FILES} 个文件")
        shown = safe_name(filename.decode("utf-8", "replace").replace("\\", "/")
                          .rsplit("/", 1)[-1] or "未命名.xlsx")
        sub = self.upload.folder / str(len(self.upload.files))
        sub.mkdir(parents=True)
        self.saved = SavedFile(shown, sub / shown, 0, "")
        self.file = open(self.saved.path, "wb")  # noqa: SIM115 (closed in end())
        self.digest = hashlib.sha256()

    def data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.file is not None and self.saved is not None:
            self.saved.size += len(chunk)
            if self.saved.size > self.cap:
                raise too_large(self.cap)
            self.digest.update(chunk)
            self.file.write(chunk)
        else:
            self.text += chunk
            if len(self.text) > FIELD_LIMIT:
                raise UploadError(413, "表单中的文字过长")

    def end(self) -> None:
        if self.file is not None and self.saved is not None:
            self.file.close()
            self.file = None
            self.saved.sha256 = self.digest.hexdigest()
            self.upload.files.append(self.saved)
        elif self.name:
            self.upload.fields[self.name] = self.text.decode("utf-8", "replace")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


async def receive(request: Request, folder: Path, cap: int) -> Upload:
    """Stream the request's multipart body into a new folder under `folder`. On any
    problem the folder is removed and UploadError raised (413 past the cap)."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadError(400, "请用页面上的上传表单提交文件（multipart/form-data）")
    declared = request.headers.get("content-length", "")
    # the body also carries part headers and small fields: allow a little beyond the cap
    slack = 256 * 1024
    if declared.isdigit() and int(declared) > cap * 2 + slack:
        raise too_large(cap)
    upload = Upload(folder / uuid.uuid4().hex)
    upload.folder.mkdir(parents=True)
    parts = _Parts(upload, cap)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > cap * 2 + slack:
                raise too_large(cap)
            parser.write(chunk)
        parser.finalize()
        if parts.file is not None:
            raise UploadError(400, "上传的内容不完整（连接中断），未受理，请重新上传")
    except ClientDisconnect:
        parts.close()
        upload.discard()
        raise UploadError(400, "上传中断，文件未受理，请重新上传") from None
    except UploadError:
        parts.close()
        upload.discard()
        raise
    except Exception as exc:  # the multipart parser's own errors: a malformed body
        parts.close()
        upload.discard()
        raise UploadError(400, f"上传的内容无法解析（{type(exc).__name__}），请重新上传") from None
    return upload
