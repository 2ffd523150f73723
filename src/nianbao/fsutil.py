"""Small file-system helpers: atomic writes, so a crash never leaves half a file."""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from pathlib import Path

_TEMPS = itertools.count()
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(
    os, "O_CLOEXEC", 0)


def atomic_write(path: Path | str, data: bytes, fsync: bool = True) -> None:
    """Write `data` to `path` via a temporary file in the same folder and a rename.

    With fsync=False the data may still be in the page cache after a power cut; callers
    that write many files (collect) flush them all at once before committing the ledger.
    The temporary name is this process's own (pid and a counter) rather than mkstemp's:
    collect writes three files per return and mkstemp cost more than the writing."""
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}-{next(_TEMPS)}.tmp")
    try:
        fd = os.open(tmp, _FLAGS, 0o600)
    except FileNotFoundError:  # the folder is new: made only when needed (one syscall less)
        os.makedirs(folder or ".", exist_ok=True)
        fd = os.open(tmp, _FLAGS, 0o600)
    except FileExistsError:  # left by a crashed process that had the same pid
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder or ".")
    try:
        with open(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path | str, text: str, fsync: bool = True) -> None:
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
