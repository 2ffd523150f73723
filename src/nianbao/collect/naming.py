"""File names a clerk recognises, that can never escape their folder."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

_BAD = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
MAX_BYTES = 200  # below the usual 255-byte limit of a name, leaving room for " (2)"
# Windows' device names, reserved with any extension and before trailing spaces ("NUL .txt"),
# including the superscript digits Windows also treats as devices
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
             *(f"{port}{n}" for port in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3")}


def safe_name(text: str, max_len: int = 80) -> str:
    """A single path component valid on Linux, Windows and SMB shares: no separators,
    control or Windows-forbidden characters, leading dots, trailing dots or spaces, or
    Windows-reserved names; trimmed to `max_len` characters, keeping the extension."""
    text = unicodedata.normalize("NFC", str(text))
    text = _BAD.sub("_", text).strip().strip(".")
    text = re.sub(r"\s+", " ", text)
    if not text or text.split(".")[0].rstrip(" ").upper() in _RESERVED:
        text = "_" + text
    stem, dot, suffix = text.rpartition(".")
    if not dot or not stem or len(suffix) > 8:
        stem, suffix = text, ""
    else:
        suffix = "." + suffix
    stem = stem[: max_len - len(suffix)]
    # file systems count bytes (255 in UTF-8): 80 four-byte characters would not fit
    while len((stem + suffix).encode("utf-8")) > MAX_BYTES:
        stem = stem[:-1]
    return (stem.rstrip(" .") or "_") + suffix


def inside(folder: Path, *parts: str) -> Path:
    """folder/part/... with every part made safe; guaranteed to stay under `folder`: a safe
    name has no separator and is never "." or "..", so the join cannot leave the folder."""
    names = [safe_name(p) for p in parts]
    if any(n in ("", ".", "..") or os.sep in n or (os.altsep and os.altsep in n)
           for n in names):
        raise ValueError(f"路径越出了输出文件夹：{parts}")
    return folder.joinpath(*names)


def unique(path: Path, taken: set[Path]) -> Path:
    """`path`, or `path` with " (2)", " (3)" ... when already taken in this run. Names that
    differ only by case are the same file on Windows and macOS: they count as taken."""
    candidate, n = path, 1
    while Path(str(candidate).casefold()) in taken:
        n += 1
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
    taken.add(Path(str(candidate).casefold()))
    return candidate
