"""What a collect is given: every path accounted for, either a file to read or a path
skipped with the reason.

Folders are walked in name order. Skipped, and listed: hidden files and folders, genuine
office lock files (`~$…` of a few hundred bytes; a real workbook named `~$…` is read),
links to folders, and the workspace's own folders and files (its outbox templates,
feedback workbooks and store are never submissions). A symbolic link is followed only to
a regular file inside the folder given (for a file given by name: its own folder);
one pointing elsewhere is refused, not read. Pipes and devices are never read (see
`fsutil.read_regular`): they are refused by the reader, not here, so that every reader
refuses them alike.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nianbao.fsutil import storable

LOCK_FILE_BYTES = 1024  # Excel and WPS write ~165-byte owner files; a workbook is far larger

HIDDEN_FILE = "隐藏文件，未读取"
HIDDEN_FOLDER = "隐藏文件夹，未进入"
LOCK_FILE = "Office/WPS 打开文件时自动生成的锁定文件，不是报送文件"
LINKED_FOLDER = "指向文件夹的快捷方式（符号链接），未进入"
OWN_FOLDER = "工作区自身的文件夹（{name}），其中是本办的文件，不是报送文件"
OWN_FILE = "工作区自身的文件（{name}），不是报送文件"
OWN_FOLDERS = {"store": "存档", "outbox": "下发模板", "feedback": "反馈表和回执",
               ".nianbao": "密钥"}
# Inside an own folder, but taken in: what the portal received, waiting for the intake.
UPLOADS = os.path.join(".nianbao", "uploads")


@dataclass(frozen=True)
class Entry:
    """A file to take in: `path` is what the ledger and the clerk see, `source` what is
    opened (a link's target inside the folder); `outside` is set for a link refused."""

    path: str
    source: str
    outside: str = ""   # where a refused link points


@dataclass
class Inbox:
    files: list[Entry] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)   # {"path", "reason"}

    def skip(self, path: str, reason: str) -> None:
        self.skipped.append({"path": storable(path), "reason": reason})


@dataclass(frozen=True)
class Own:
    """The workspace's own folders and root files (real paths), never taken in."""

    root: str = ""
    folders: dict[str, str] = field(default_factory=dict)   # real path -> 用途
    files: dict[str, str] = field(default_factory=dict)     # name at the root -> 用途
    uploads: str = ""                                       # real path of the portal's uploads

    @classmethod
    def of(cls, root: Path, roster: str, ledger: str = "ledger.sqlite") -> Own:
        real = os.path.realpath(root)
        folders = {os.path.join(real, name): use for name, use in OWN_FOLDERS.items()}
        files = {"nianbao.toml": "配置", roster: "报送单位名单"}
        files.update({ledger + tail: "台账" for tail in ("", "-wal", "-shm", "-journal")})
        return cls(real, folders, files, os.path.join(real, UPLOADS))

    def folder(self, real: str) -> str | None:
        """The use of an own folder this real path is, or lies in (the portal's uploads
        are not: they are what units sent)."""
        if self.uploads and real.startswith(self.uploads + os.sep):
            return None
        for path, use in self.folders.items():
            if real == path or real.startswith(path + os.sep):
                return use
        return None


def walk(paths: Iterable[Path | str], own: Own | None = None) -> Inbox:
    """Every path given, accounted for: files to read (in order) and paths skipped."""
    own = own or Own()
    inbox = Inbox()
    for given in paths:
        path = os.path.abspath(os.fspath(given))
        real = os.path.realpath(path)
        use = own.folder(real)
        if use is not None:
            inbox.skip(path, OWN_FOLDER.format(name=use))
        elif os.path.isdir(path):
            _walk_folder(path, real, own, inbox)
        elif own.root and os.path.dirname(real) == own.root and \
                os.path.basename(real) in own.files:
            inbox.skip(path, OWN_FILE.format(name=own.files[os.path.basename(real)]))
        else:  # a file named by the clerk, even a hidden one; a link only within its folder
            inbox.files.append(_file(path, os.path.realpath(os.path.dirname(path)),
                                     os.path.islink(path)))
    return inbox


def _walk_folder(top: str, base: str, own: Own, inbox: Inbox) -> None:
    """`base`: the real path of the folder given, inside which links may point."""
    stack = [top]
    while stack:
        folder = stack.pop()
        at_root = own.root and os.path.realpath(folder) == own.root
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            inbox.skip(folder, f"无法打开此文件夹（{exc.strerror or type(exc).__name__}），"
                               "其中的文件未读取")
            continue
        subfolders = []
        for e in entries:
            reason = _skip_reason(e, own if at_root else None)
            if reason:
                inbox.skip(e.path, reason)
            elif e.is_dir(follow_symlinks=False):
                subfolders.append(e.path)
            else:
                inbox.files.append(_file(e.path, base, e.is_symlink()))
        stack.extend(reversed(subfolders))


def _skip_reason(e: os.DirEntry[str], own: Own | None) -> str:
    """Why a folder entry is not taken in ("" when it is)."""
    if own is not None and e.name in own.files:
        return OWN_FILE.format(name=own.files[e.name])
    if e.is_dir(follow_symlinks=False):
        use = own.folder(os.path.realpath(e.path)) if own is not None else None
        if use:
            return OWN_FOLDER.format(name=use)
        return HIDDEN_FOLDER if e.name.startswith(".") else ""
    if e.is_symlink():
        return LINKED_FOLDER if e.is_dir() else ""
    if e.name.startswith("."):
        return HIDDEN_FILE
    if e.name.startswith("~$") and _lock_sized(e):
        return LOCK_FILE
    return ""


def _lock_sized(e: os.DirEntry[str]) -> bool:
    try:
        st = e.stat(follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size < LOCK_FILE_BYTES


def _file(path: str, base: str, link: bool) -> Entry:
    """A file to read; a link is followed only to a target inside `base`."""
    if not link:
        return Entry(path, path)
    target = os.path.realpath(path)
    if not os.path.lexists(target):
        return Entry(path, path)  # dangling: the reader reports it as missing
    if target == base or not target.startswith(base.rstrip(os.sep) + os.sep):
        return Entry(path, "", outside=storable(target))
    return Entry(path, target)
