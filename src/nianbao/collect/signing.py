"""Signing issued templates: an HMAC over form, version, unit, year and office key.

A returned file proves it was issued by this office to that unit: the signature in its
hidden _meta sheet must match the one this workspace's key computes for what it claims.
This guards against mistakes and casual forgery; the key never leaves the workspace.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def key_id(key: bytes) -> str:
    """A public name for the key (so a file signed by another office is recognised)."""
    return hashlib.sha256(b"nianbao-key-id:" + key).hexdigest()[:12]


def signed_text(meta: Mapping[str, str]) -> bytes:
    fields = ("form_id", "form_version", "fingerprint", "unit_code", "unit_name", "year",
              "office")
    return "\x1f".join(str(meta.get(k, "")) for k in fields).encode("utf-8")


def sign(key: bytes, meta: Mapping[str, str]) -> str:
    return hmac.new(key, signed_text(meta), hashlib.sha256).hexdigest()


def verify(key: bytes, meta: Mapping[str, str]) -> str:
    """'ok', 'unsigned', 'other-office' or 'forged'."""
    signature = meta.get("signature", "")
    if not signature:
        return "unsigned"
    office = meta.get("office", "")
    if office.rpartition("#")[2] != key_id(key):
        return "other-office"
    return "ok" if hmac.compare_digest(signature, sign(key, meta)) else "forged"
