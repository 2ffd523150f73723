"""Small file-system helpers: atomic writes, so a crash never leaves half a file."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import stat
import tempfile
from pathlib import Path

_TEMPS = itertools.count()
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(
    os, "O_CLOEXEC", 0)


def write_target(path: Path | str) -> str:
    """Where writing `path` must go: a symlink is written through (its target is replaced,
    the link stays); a device, pipe or folder is refused, never replaced by a file."""
    target = os.path.realpath(path) if os.path.islink(path) else os.fspath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "这是一个文件夹，不能写成文件", os.fspath(path))
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "这不是普通文件（设备或管道），不会写入或替换它",
                      os.fspath(path))
    return target


def atomic_write(path: Path | str, data: bytes, fsync: bool = True, mode: int = 0o666) -> None:
    """Write `data` to `path` via a temporary file in the same folder and a rename.

    The file gets `mode` less the user's umask, as any program's new file does (the signing
    key passes 0o600). A symlink is written through, a device or pipe refused (write_target).

    With fsync=False the data may still be in the page cache after a power cut; callers
    that write many files (collect) flush them all at once before committing the ledger.
    The temporary name is this process's own (pid and a counter) rather than mkstemp's:
    collect writes three files per return and mkstemp cost more than the writing."""
    path = write_target(path)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}-{next(_TEMPS)}.tmp")
    try:
        fd = os.open(tmp, _FLAGS, mode)
    except FileNotFoundError:  # the folder is new: made only when needed (one syscall less)
        os.makedirs(folder or ".", exist_ok=True)
        fd = os.open(tmp, _FLAGS, mode)
    except FileExistsError:  # left by a crashed process that had the same pid
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder or ".")
        os.chmod(tmp, mode & ~_umask())
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


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


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
