"""Small file-system helpers: atomic writes, so a crash never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write `data` to `path` via a temporary file in the same folder and a rename.

    With fsync=False the data may still be in the page cache after a power cut; callers
    that write many files (collect) flush them all at once before committing the ledger."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, fsync: bool = True) -> None:
    atomic_write(path, text.encode("utf-8"), fsync)


def storable(text: str) -> str:
    """Text that can be printed and stored: a file name that is not valid UTF-8 (a zip
    extracted from a GBK Windows) arrives with surrogate escapes; it is decoded as GB18030
    when it is that, else with replacement characters, never lost."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace")
