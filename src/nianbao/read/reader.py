"""What a reader is: one way to call any of them (`check` calls every reader alike).

A reader takes a workbook's bytes and, from the pre-check, what it already has of the
package (`Unpacked`); it gives the `RawWorkbook`. The fast reader uses what it is handed
(no member is inflated twice) and remembers what it derives in a `ReadCache`; the
reference reader (openpyxl) reads the package on its own and remembers nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from nianbao.read.cache import ReadCache
from nianbao.read.rawbook import RawWorkbook


@dataclass(frozen=True)
class Unpacked:
    """What the pre-check has of a package (all of it about the very bytes being read).

    `members`: uncompressed members, CRC-checked; `names`: the name of every member (None:
    not known, the reader lists the archive); `content_ids`: for some of `members`, an id
    of its content: two members with the same id hold the same bytes, so what was derived
    from one holds for the other (the pre-check gives one id to every member it met with
    the same compressed bytes, size and CRC). Ids are never reused in a process, and mean
    nothing in another.
    """

    members: Mapping[str, bytes] = field(default_factory=dict)
    names: Collection[str] | None = None
    content_ids: Mapping[str, int] = field(default_factory=dict)


class Reader(Protocol):
    """A workbook reader, as `check_bytes` calls it."""

    def __call__(self, data: bytes, unpacked: Unpacked | None = None, *,
                 cache: ReadCache | None = None) -> RawWorkbook: ...
