"""The content-addressed store of original files: every byte ever received, kept once."""

from __future__ import annotations

import hashlib
from pathlib import Path

from nianbao.fsutil import atomic_write


def blob_path(sha256: str) -> str:
    """Where a blob lives, relative to the store folder."""
    return f"{sha256[:2]}/{sha256}"


def put(store: Path, data: bytes, sha256: str | None = None, fsync: bool = True
        ) -> tuple[str, str]:
    """Keep `data` (once); return (sha256, path relative to the store). collect passes
    fsync=False and syncs a whole batch before committing it to the ledger."""
    digest = sha256 or hashlib.sha256(data).hexdigest()
    rel = blob_path(digest)
    target = store / rel
    if not target.exists():
        atomic_write(target, data, fsync)
    return digest, rel


def get(store: Path, rel: str) -> bytes:
    """The bytes of a stored blob; its hash is checked, so a damaged store is noticed."""
    data = (store / rel).read_bytes()
    if hashlib.sha256(data).hexdigest() != Path(rel).name:
        raise ValueError(f"存档文件 {rel} 已损坏（校验值不符）")
    return data
