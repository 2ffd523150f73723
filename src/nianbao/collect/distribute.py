"""Distribute: one personalised, signed template per unit of the roster, with a manifest.

A template is rendered once per run; each unit's copy only differs in its identity and
signature, so those are patched into the rendered package instead of rendering it again.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape, unescape

from nianbao.collect.naming import inside, unique
from nianbao.collect.roster import Unit
from nianbao.collect.signing import key_id, sign
from nianbao.fsutil import atomic_write, atomic_write_text
from nianbao.render.workbook import RenderOptions, meta_values, render
from nianbao.spec.layout import Layout
from nianbao.untrusted import csv_bytes


def issue_options(layout: Layout, identity: Mapping[str, Any], key: bytes, office: str,
                  **extra: Any) -> RenderOptions:
    """Render options for a copy issued to one unit: identity locked, _meta signed."""
    opts = RenderOptions(identity=dict(identity), lock_identity=True, **extra)
    meta = meta_values(layout, opts)
    meta["office"] = f"{office}#{key_id(key)}"
    meta["signature"] = sign(key, meta)
    opts.meta = {"office": meta["office"], "signature": meta["signature"],
                 **{k: v for k, v in (extra.get("meta") or {}).items()}}
    return opts


def template_name(unit: Unit, year: int) -> str:
    return f"{unit.name}-{year}年政府信息公开工作年度报告.xlsx"


@dataclass
class Issued:
    unit: Unit
    path: Path
    sha256: str


class Personaliser:
    """Make per-unit copies fast: render once with placeholder identity, then swap the
    placeholders for each unit's values inside the package (same bytes as rendering)."""

    PLACE: ClassVar[dict[str, str]] = {"unit.code": "\u2060NB-CODE\u2060",
                                       "unit.name": "\u2060NB-NAME\u2060"}
    SIG = "\u2060NB-SIGNATURE\u2060"

    def __init__(self, layout: Layout, year: int, key: bytes, office: str,
                 password: str | None = None) -> None:
        self.layout, self.year, self.key, self.office = layout, year, key, office
        self.password = password
        identity = {**self.PLACE, "year": year}
        opts = RenderOptions(identity=identity, lock_identity=True, password=password,
                             meta={"office": f"{office}#{key_id(key)}", "signature": self.SIG})
        self.base = render(layout, opts)
        self.members = _read_zip(self.base)
        self.patched = [n for n, data in self.members
                        if any(p.encode() in data for p in (*self.PLACE.values(), self.SIG))]
        self.strings = _shared_strings(dict(self.members).get("xl/sharedStrings.xml", b""))

    def copy_for(self, unit: Unit) -> bytes:
        identity = {"unit.code": unit.code, "unit.name": unit.name, "year": self.year}
        opts = issue_options(self.layout, identity, self.key, self.office,
                             password=self.password)
        if not self.patchable(unit):
            return render(self.layout, opts)
        swaps = {self.PLACE["unit.code"]: unit.code, self.PLACE["unit.name"]: unit.name,
                 self.SIG: opts.meta["signature"]}
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in self.members:
                if name in self.patched:
                    text = data.decode("utf-8")
                    for placeholder, value in swaps.items():
                        text = text.replace(placeholder, escape(value))
                    data = text.encode("utf-8")
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        return out.getvalue()


    def patchable(self, unit: Unit) -> bool:
        """Patching gives the rendered bytes only when the writer would have stored the
        values as new plain shared strings: no control characters (escaped `_xHHHH_` by the
        writer) and no value that already occurs as another string of the workbook."""
        values = (unit.code, unit.name)
        return (unit.code != unit.name and not any(v in self.strings for v in values)
                and "&" not in unit.name  # (doubled in page headers: rendered in full)
                and not any(ord(ch) < 32 for v in values for ch in v)
                and not any(_ESCAPE_LIKE.search(v) for v in values))


_SST_TEXT = re.compile(rb"<t(?: [^>]*)?>([^<]*)</t>")
_ESCAPE_LIKE = re.compile(r"_x[0-9A-Fa-f]{4}_")  # the writer escapes text looking like this


def _shared_strings(xml: bytes) -> set[str]:
    return {unescape(m.decode("utf-8")) for m in _SST_TEXT.findall(xml)}


def _read_zip(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def distribute(layout: Layout, units: list[Unit], year: int, key: bytes, office: str,
               outbox: Path, *, password: str | None = None,
               progress: Callable[[int], None] | None = None,
               links: Mapping[str, str] | None = None) -> list[Issued]:
    """Write one signed template per unit into `outbox`, plus manifest.csv/.json; `links`
    (unit code -> personal link of the portal) go into the manifest too."""
    personaliser = Personaliser(layout, year, key, office, password)
    taken: set[Path] = set()
    issued = []
    for unit in units:
        data = personaliser.copy_for(unit)
        path = unique(inside(outbox, template_name(unit, year)), taken)
        atomic_write(path, data)
        issued.append(Issued(unit, path, hashlib.sha256(data).hexdigest()))
        if progress:
            progress(1)
    write_manifest(outbox, issued, layout, year, links)
    return issued


def write_manifest(outbox: Path, issued: list[Issued], layout: Layout, year: int,
                   links: Mapping[str, str] | None = None) -> None:
    """manifest.json/.csv of the outbox; a partial run (--unit) updates its units' entries
    and keeps the others."""
    rows = [{"unit_code": i.unit.code, "unit_name": i.unit.name, "file": i.path.name,
             "sha256": i.sha256, **({"link": links.get(i.unit.code, "")} if links else {})}
            for i in issued]
    try:
        old = json.loads((outbox / "manifest.json").read_text(encoding="utf-8"))
        if old.get("form") == layout.form.id and old.get("year") == year:
            mine = {r["unit_code"] for r in rows}
            kept = [r for r in old.get("files", []) if r.get("unit_code") not in mine
                    and (outbox / str(r.get("file"))).is_file()]
            rows = kept + rows
    except (OSError, ValueError, AttributeError, TypeError):
        pass  # no manifest yet, or one we cannot read: write a fresh one
    atomic_write_text(outbox / "manifest.json", json.dumps(
        {"form": layout.form.id, "version": layout.form.version, "year": year,
         "fingerprint": layout.fingerprint, "files": rows}, ensure_ascii=False, indent=2))
    with_links = any("link" in r for r in rows)
    link_header = ["报送链接"] if with_links else []
    atomic_write(outbox / "manifest.csv", csv_bytes(
        ["单位代码", "单位名称", "文件", "SHA-256", *link_header],
        ([r["unit_code"], r["unit_name"], r["file"], r["sha256"]]
         + ([r.get("link", "")] if with_links else []) for r in rows)))
