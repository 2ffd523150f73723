"""Check one returned workbook end to end: pre-check, read, verify, validate.

Never raises for a bad file: whatever happens becomes findings on the result, so a batch
always goes on.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nianbao.findings import Finding, blocking, make
from nianbao.fsutil import FileTooLarge, NotRegularFile, read_regular, storable
from nianbao.read.cache import ReadCache
from nianbao.read.fast_reader import read_auto
from nianbao.read.merged_inputs import merged_inputs
from nianbao.read.normalise import json_values
from nianbao.read.openpyxl_reader import TooManyCells
from nianbao.read.precheck import Limits, precheck_bytes, too_large
from nianbao.read.reader import Reader
from nianbao.read.submission import FormLookup, Submission, read_submission
from nianbao.spec.layout import layout_for
from nianbao.spec.load import SpecError, load_form, spec_path
from nianbao.spec.model import Form
from nianbao.validate.digest import link_consequences
from nianbao.validate.rules import check_rules

VALID, INVALID, UNUSABLE = "valid", "invalid", "unusable"
_FORM_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def known_form(form_id: str) -> Form | None:
    """The form with this id from the templates folder, or None (ids are checked first:
    a hostile file must not steer us to another path)."""
    if not _FORM_ID.match(form_id) or not spec_path(form_id).is_file():
        return None
    try:
        return load_form(form_id)
    except SpecError:
        return None


@dataclass
class CheckResult:
    """The verdict on one file, with its record and every finding."""

    file: str
    sha256: str
    size: int
    findings: list[Finding] = field(default_factory=list)
    submission: Submission | None = None

    @property
    def status(self) -> str:
        if self.submission is None or not self.submission.usable:
            return UNUSABLE
        return INVALID if blocking(self.findings) else VALID

    @property
    def form(self) -> Form | None:
        return self.submission.form if self.submission else None

    @property
    def values(self) -> dict[str, Any]:
        return self.submission.values if self.submission and self.submission.form else {}

    @property
    def identity(self) -> dict[str, Any]:
        return self.submission.identity if self.submission else {}

    def to_dict(self) -> dict[str, Any]:
        form = self.form
        meta = self.submission.meta if self.submission else {}
        return {
            "file": self.file,
            "sha256": self.sha256,
            "size": self.size,
            "status": self.status,
            "form": {"id": form.id if form else meta.get("form_id") or None,
                     "version": meta.get("form_version") or None},
            "identity": json_values(self.identity),
            "values": json_values(self.values),
            "findings": [f.to_dict() for f in self.findings],
        }


def check_bytes(data: bytes, name: str, *, forms: FormLookup = known_form,
                expected_form: str | None = None, reader: Reader = read_auto,
                limits: Limits | None = None, sha256: str | None = None,
                cache: ReadCache | None = None) -> CheckResult:
    """Check one file's bytes; `name` is how findings refer to it; `sha256`: the bytes'
    hash when the caller has it already (collect has stored them by it); `cache`: what the
    pre-check and the reader remember between files (default: the process's own)."""
    result = CheckResult(name, sha256 or hashlib.sha256(data).hexdigest(), len(data))
    pre = precheck_bytes(data, name, limits or Limits(), cache=cache)
    result.findings.extend(pre.findings)
    if not pre.ok:
        return result
    try:
        # the reader takes what the pre-check found: no member is inflated twice, and the
        # package is not opened again unless a member the pre-check did not keep is read
        book = reader(data, pre.unpacked, cache=cache)
    except MemoryError:
        result.findings.append(make("FILE_TIMEOUT", file=name, detail="内存超限"))
        return result
    except TooManyCells as exc:
        result.findings.append(make("FILE_ZIP_BOMB", file=name, detail=str(exc)))
        return result
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        result.findings.append(make("FILE_CORRUPT", file=name, detail=_brief(exc)))
        return result
    except Exception as exc:  # any parser failure on an untrusted file is a finding
        result.findings.append(make("FILE_UNREADABLE", file=name, detail=_brief(exc)))
        return result
    sub = read_submission(book, name, forms, expected_form)
    if sub.form is not None:  # (from the bytes, whichever reader read the cells)
        sub.findings += merged_inputs(data, pre.inflated, layout_for(sub.form), name)
    result.submission = sub
    result.findings.extend(sub.findings)
    if sub.usable and sub.form is not None:
        result.findings.extend(check_rules(sub.form, sub.values, file=name))
    if sub.form is not None:
        result.findings = link_consequences(sub.form, result.findings)
    return result


def check_file(path: Path, **kwargs: Any) -> CheckResult:
    """Check one file on disk; a missing or unreadable path is a finding, not an error."""
    name = storable(str(path))
    try:  # a pipe or a device is never read; a file over the limit is refused unread
        data = read_regular(path, (kwargs.get("limits") or Limits()).max_file_bytes)
    except OSError as exc:
        result = CheckResult(name, "", getattr(exc, "size", 0))
        result.findings.append(read_failure(exc, name, kwargs.get("limits")))
        return result
    return check_bytes(data, name, **kwargs)


def read_failure(exc: OSError, name: str, limits: Limits | None = None) -> Finding:
    """Why a path was not read: too large (refused from its size), or not there, not a
    regular file, not readable."""
    if isinstance(exc, FileTooLarge):
        return too_large(name, exc.size, limits or Limits()).findings[0]
    return make("FILE_MISSING", file=name, detail=os_reason(exc))


def check_files(paths: Iterable[Path], **kwargs: Any) -> Iterator[CheckResult]:
    for path in paths:
        yield check_file(path, **kwargs)


def exit_code(results: Iterable[CheckResult]) -> int:
    """0 all valid, 1 some file has a blocking finding, 2 some file is unusable."""
    statuses = {r.status for r in results}
    if UNUSABLE in statuses:
        return 2
    return 1 if INVALID in statuses else 0


def os_reason(exc: OSError) -> str:
    """Why a path could not be read, in the clerk's words."""
    if isinstance(exc, FileNotFoundError):
        return "文件不存在"
    if isinstance(exc, IsADirectoryError):
        return "这是一个文件夹，不是文件"
    if isinstance(exc, PermissionError):
        return "没有读取权限"
    if isinstance(exc, NotRegularFile):
        return exc.strerror or "不是普通文件"
    return _brief(exc)


def _brief(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "…"

