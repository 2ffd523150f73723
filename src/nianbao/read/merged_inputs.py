"""Input cells merged by the filler: a merged range keeps only its top-left value, so what was
typed into the others is gone (they read as blank). Said once per range (CELLS_MERGED).

Merged ranges are read from the worksheets' bytes, beside whichever reader read the cells,
so both readers give the same findings. Call only after the pre-check has passed (the
package is known to be a sane zip without DTDs).
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Mapping
from functools import lru_cache
from xml.etree.ElementTree import fromstring

from nianbao.cells import a1_range
from nianbao.findings import Finding, make
from nianbao.spec.layout import Area, Layout

_MERGE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref=\"([A-Z]{1,3}\d{1,7}):"
                    rb"([A-Z]{1,3}\d{1,7})\"")
_A1 = re.compile(r"^([A-Z]{1,3})(\d{1,7})$")
_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_MAX_RANGES = 1000  # more merged ranges than any form has: the rest are not looked at


def merged_inputs(data: bytes, members: Mapping[str, bytes], layout: Layout, file: str
                  ) -> list[Finding]:
    """CELLS_MERGED (warning) for each merged range of the file that the template does not
    have and that covers an input cell; [] when the package cannot be followed."""
    try:
        parts = _sheet_parts(members.get("xl/workbook.xml") or _member(data, "xl/workbook.xml"),
                             members.get("xl/_rels/workbook.xml.rels")
                             or _member(data, "xl/_rels/workbook.xml.rels"))
    except Exception:  # the readers report a broken package; this is only a note
        return []
    template = layout.derived("merged_areas", _template_merges)
    out = []
    for sheet, part in parts.items():
        inputs = template["inputs"].get(sheet)
        if not inputs:
            continue
        try:
            raw = members.get(part) or _member(data, part)
        except Exception:  # a sheet the readers could not read either: they say so
            continue
        own = template["merged"].get(sheet, set())
        for ref in _ranges(_merge_block(raw)):
            if ref in own:
                continue
            covered = [(fid, a) for fid, a in inputs if _overlaps(ref, a)]
            if covered and ref[0:2] != ref[2:4]:
                fid, first = covered[0]
                out.append(make("CELLS_MERGED", file=file, sheet=sheet, cell=first.a1,
                                field=fid, detail=f"{a1_range(*ref)}，含 {len(covered)} 个"
                                "填报单元格"))
    return out


def _merge_block(raw: bytes) -> bytes:
    """The mergeCells element (it follows the cell data, and no text holds "<"), found from
    the end of the sheet, or b"" without any."""
    last = raw.rfind(b"mergeCell")
    if last < 0:
        return b""
    opening = raw.rfind(b"mergeCells", 0, last)  # the element's start tag ...
    if opening < 0:
        opening = raw.find(b"mergeCell")  # ... or a lone mergeCell, searched from the start
    return raw[max(0, raw.rfind(b"<", 0, opening)):raw.find(b">", last) + 1]


def _template_merges(layout: Layout) -> dict[str, dict[str, list]]:
    """Per sheet: the template's own merged areas (row, col, last_row, last_col), and the
    input areas with their field ids."""
    merged: dict[str, set[tuple[int, int, int, int]]] = {}
    areas = [c.area for c in layout.labels] + [c.area for c in layout.formulas]
    areas += [c.area for c in layout.inputs.values()]
    for a in areas:
        if a.merged:
            merged.setdefault(a.sheet, set()).add((a.row, a.col, a.last_row, a.last_col))
    inputs: dict[str, list[tuple[str, Area]]] = {}
    for fid, c in layout.inputs.items():
        inputs.setdefault(c.area.sheet, []).append((fid, c.area))
    return {"merged": merged, "inputs": inputs}  # type: ignore[dict-item]


def _overlaps(ref: tuple[int, int, int, int], a: Area) -> bool:
    row, col, last_row, last_col = ref
    return not (last_row < a.row or row > a.last_row or last_col < a.col or col > a.last_col)


@lru_cache(maxsize=256)  # an untouched return has the same merged ranges as every other
def _ranges(raw: bytes) -> tuple[tuple[int, int, int, int], ...]:
    found = []
    for m in _MERGE.finditer(raw):
        (r1, c1), (r2, c2) = _key(m.group(1).decode()), _key(m.group(2).decode())
        found.append((min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)))
        if len(found) >= _MAX_RANGES:
            break
    return tuple(found)


def _key(ref: str) -> tuple[int, int]:
    m = _A1.match(ref)
    assert m is not None
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)) - 1, col - 1


@lru_cache(maxsize=64)
def _sheet_parts(book_raw: bytes, rels_raw: bytes) -> dict[str, str]:
    """Sheet name -> worksheet part, from workbook.xml and its relationships."""
    targets = {}
    for rel in fromstring(rels_raw):
        target = rel.get("Target") or ""
        targets[rel.get("Id")] = (target[1:] if target.startswith("/")
                                  else posixpath.normpath(posixpath.join("xl", target)))
    parts = {}
    for el in fromstring(book_raw).iter():
        name = el.get("name")
        if el.tag.rsplit("}", 1)[-1] == "sheet" and name is not None:
            target = targets.get(el.get(_REL_ID) or el.get("id"))
            if target:
                parts[name] = target
    return parts


def _member(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read(name)
