"""Small file-system helpers: atomic writes, so a crash never leaves half a file; bounded
reads of regular files only; a full disk told apart from other failures."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
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


_DEFERRED: list[list[tuple[str, str]]] = []  # open deferred_renames blocks, innermost last


@contextlib.contextmanager
def deferred_renames() -> Iterator[list[tuple[str, str]]]:
    """Inside the block, atomic_write leaves each file under its temporary name and lists
    (temporary, final) instead of renaming: the caller puts them in place later, or
    deletes them (collect: only the outputs of the file that became the submission)."""
    pending: list[tuple[str, str]] = []
    _DEFERRED.append(pending)
    try:
        yield pending
    finally:
        _DEFERRED.remove(pending)


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
        if _DEFERRED:
            _DEFERRED[-1].append((tmp, os.fspath(path)))
            return
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


class NotRegularFile(OSError):
    """The path is a pipe, a device, a socket or a folder: never read (a FIFO would block
    forever, /dev/zero never ends)."""


class FileTooLarge(OSError):
    """The file is over the size limit: refused from its size alone, without being read."""

    def __init__(self, size: int) -> None:
        super().__init__(errno.EFBIG, "file too large")
        self.size = size


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(
    os, "O_NONBLOCK", 0)  # opening a FIFO without a writer must not block


def read_regular(path: Path | str, limit: int, *, nofollow: bool = False) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. The size is taken from the
    opened file (fstat) before any byte is read; a file that grows while being read is
    refused too, so never more than `limit` + 1 bytes are read. `nofollow`: a symbolic link
    is refused rather than followed."""
    flags = _READ_FLAGS | (getattr(os, "O_NOFOLLOW", 0) if nofollow else 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, kind_of(st.st_mode), str(path))
        if st.st_size > limit:
            raise FileTooLarge(st.st_size)
        with open(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise FileTooLarge(len(data))
        return data
    finally:
        os.close(fd)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in the clerk's words."""
    if stat.S_ISFIFO(mode):
        return "命名管道（FIFO），不是普通文件"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "设备文件，不是普通文件"
    if stat.S_ISSOCK(mode):
        return "套接字，不是普通文件"
    if stat.S_ISDIR(mode):
        return "这是一个文件夹，不是文件"
    return "不是普通文件"


_SQLITE_FULL, _SQLITE_IOERR = 13, 10
_NEARLY_FULL = 1024 * 1024
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def disk_full(exc: BaseException, path: Path | str | None = None) -> bool:
    """A write failed because the disk (or the user's quota) is full. SQLite says so
    (SQLITE_FULL) when a write to the database fails, but only "disk I/O error" when it
    cannot grow its shared-memory file: with `path`, such an error on a disk with (almost)
    no free space left counts as full too. An error wrapped in another (the ledger's
    LedgerError) is judged by its cause."""
    cause = exc.__cause__
    if cause is not None and cause is not exc and disk_full(cause, path):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    code = getattr(exc, "sqlite_errorcode", None)  # sqlite3 is not imported here
    if code == _SQLITE_FULL or "database or disk is full" in str(exc):
        return True
    if code is not None and code & 0xFF == _SQLITE_IOERR and path is not None:
        try:
            return shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free < _NEARLY_FULL
        except OSError:
            return False
    return False
