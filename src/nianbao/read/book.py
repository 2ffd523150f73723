"""One read in progress: the package, the members at hand, and what its small parts say
(shared strings, date epoch, date styles) that every cell is read with."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from openpyxl.utils.datetime import WINDOWS_EPOCH

from nianbao.read import package
from nianbao.read.cache import ReadCache
from nianbao.read.reader import Unpacked


class Book:
    """The state of one read, handed to each step (scan, parse, bind, remembered rows).

    `max_member_bytes`, `max_cells`: the reader's limits, fixed when the read starts."""

    def __init__(self, data: bytes, unpacked: Unpacked | None, cache: ReadCache,
                 max_member_bytes: int, max_cells: int) -> None:
        self.data = data
        self.cache = cache
        self.max_member_bytes, self.max_cells = max_member_bytes, max_cells
        self._archive: zipfile.ZipFile | None = None
        unpacked = unpacked or Unpacked()
        self.inflated = unpacked.members
        self.content_ids = unpacked.content_ids
        self.names = (unpacked.names if unpacked.names is not None
                      else set(self.archive.namelist()))
        self.strings: list[str] = []
        self.epoch: Any = WINDOWS_EPOCH
        self.n_styles = 1  # openpyxl's default: one style, no dates
        self.date_styles: frozenset[int] = frozenset()
        self.timedelta_styles: frozenset[int] = frozenset()
        self.count = 0  # cells read so far, in all sheets

    @property
    def archive(self) -> zipfile.ZipFile:
        """The package, opened when first needed."""
        if self._archive is None:
            self._archive = zipfile.ZipFile(io.BytesIO(self.data))
        return self._archive

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()

    def member(self, name: str) -> bytes:
        raw = self.inflated.get(name)
        if raw is not None:
            size = len(raw)
        else:
            info = self.archive.getinfo(name)  # KeyError when missing, as openpyxl
            size = info.file_size
        if size > self.max_member_bytes:
            raise ValueError(f"部件 {name} 解压后 {size} 字节，超过上限 "
                             f"{self.max_member_bytes} 字节")
        return raw if raw is not None else self.archive.read(info)

    def context(self) -> tuple[Any, ...]:
        """What reading a cell depends on besides its text and the shared strings."""
        return (self.n_styles, self.date_styles, self.timedelta_styles, self.epoch)

    # -- package parts ----------------------------------------------------------------------

    def content_types(self) -> tuple[str, str | None]:
        """(workbook part, shared strings part or None), as openpyxl's Manifest finds them."""
        raw = self.member("[Content_Types].xml")
        return package.cached(self.cache.parts, ("types", raw),
                              lambda: package.content_types(raw))

    def workbook(self, part: str) -> list[tuple[str, str, str | None]]:
        """(name, state, relationship id) of each sheet; sets the date epoch."""
        raw = self.member(part)
        self.epoch, sheets = package.cached(self.cache.parts, ("workbook", raw),
                                            lambda: package.workbook_sheets(raw))
        return list(sheets)

    def relationships(self, path: str) -> list[tuple[str | None, package.Rel]]:
        """(Id, relationship) of the part `path`, see `package.relationships`."""
        raw = self.member(path)
        return list(package.cached(self.cache.parts, ("rels", path, raw),
                                   lambda: package.relationships(path, raw)))

    def styles(self) -> None:
        """Which cell styles (cellXfs indexes) hold a date or time format."""
        if package.STYLES_PART not in self.names:
            return
        raw = self.member(package.STYLES_PART)
        memo = self.cache.styles
        found = memo.find(raw)
        if found is None:
            found = package.parse_styles(raw)
            if len(raw) <= 4 * package.PART_BYTES:
                memo.keep(raw, found)
        if found[0]:
            self.n_styles, self.date_styles, self.timedelta_styles = found
