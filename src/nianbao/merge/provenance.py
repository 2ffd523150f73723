"""Provenance of merged totals, level by level: which units' files made them.

A return made by `merge --into` carries, in its hidden _meta sheet, the tree of the
submissions that made its totals (unit, submission id, file hash), each with the tree of
its own file when that file was itself such a return. The level above reads it back from
the stored file, so its tree reaches every original unit file. What a file claims here is
never trusted for figures: it is read defensively and only shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nianbao.collect import store
from nianbao.collect.ledger import Row
from nianbao.errors import InputError
from nianbao.merge.totals import MergeResult
from nianbao.read.fast_reader import read_auto
from nianbao.read.precheck import Limits, precheck_bytes
from nianbao.read.submission import read_meta

FORMAT = "nianbao-provenance/1"
META_PREFIX = "provenance."     # _meta keys provenance.1, provenance.2, ...
CHUNK = 30_000                  # characters a cell (Excel keeps 32,767 at most)
MAX_CHUNKS = 400                # 12 million characters: a whole province's tree
MAX_DEPTH = 12                  # levels below an office (no real hierarchy is deeper)
MAX_NODES = 500_000
_TEXT_KEYS = ("code", "name", "status", "sha256", "file", "received_at", "form_version")
UNREADABLE = "来源信息无法读取"


class ProvenanceError(InputError):
    """A file's provenance is damaged or not in the expected shape (message in Chinese)."""


def contribution_nodes(result: MergeResult, store_dir: Path) -> list[dict[str, Any]]:
    """One node per contributing submission, with the tree its own file carries."""
    nodes = []
    for c in result.contributions:
        node: dict[str, Any] = {
            "code": c.unit.code, "name": c.unit.name, "status": c.status,
            "submission": c.row.id, "sha256": c.row.sha256, "file": c.row.file_name,
            "received_at": c.row.received_at, "form_version": c.row.verdict.form_version or ""}
        below = _stored_provenance(store_dir, c.row)
        if below is not None:
            node.update(below)
        nodes.append(node)
    return nodes


def provenance(result: MergeResult, office: dict[str, str], nodes: list[dict[str, Any]],
               include_invalid: bool) -> dict[str, Any]:
    """The provenance a return of `result` carries: this office, then the tree (`nodes`,
    from contribution_nodes)."""
    return {"format": FORMAT, "office": office, "year": result.year,
            "form": {"id": result.form.id, "version": result.form.version},
            "include_invalid": include_invalid, "units": nodes}


def meta_entries(prov: dict[str, Any]) -> dict[str, str]:
    """The provenance as _meta entries: compact JSON cut into cells."""
    text = json.dumps(prov, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    chunks = [text[i: i + CHUNK] for i in range(0, len(text), CHUNK)]
    if len(chunks) > MAX_CHUNKS:
        raise ProvenanceError(f"来源信息过大（{len(text)} 个字符），无法写入文件")
    return {f"{META_PREFIX}{i}": chunk for i, chunk in enumerate(chunks, start=1)}


def from_meta(meta: dict[str, str]) -> dict[str, Any] | None:
    """The provenance a file's _meta holds, checked; None when it holds none."""
    chunks = []
    while len(chunks) < MAX_CHUNKS and f"{META_PREFIX}{len(chunks) + 1}" in meta:
        chunks.append(meta[f"{META_PREFIX}{len(chunks) + 1}"])
    if not chunks:
        return None
    try:
        data = json.loads("".join(chunks))
    except ValueError:
        raise ProvenanceError(f"{UNREADABLE}（不是完整的 JSON）") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProvenanceError(f"{UNREADABLE}（格式不符）")
    office = data.get("office")
    counter = [0]
    return {"office": {k: _text(office.get(k)) for k in ("code", "name")}
            if isinstance(office, dict) else {"code": "", "name": ""},
            "include_invalid": data.get("include_invalid") is True,
            "units": _nodes(data.get("units"), 1, counter)}


def _nodes(items: Any, depth: int, counter: list[int]) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise ProvenanceError(f"{UNREADABLE}（单位列表格式不符）")
    if depth > MAX_DEPTH:
        raise ProvenanceError(f"{UNREADABLE}（层级超过 {MAX_DEPTH} 级）")
    out = []
    for item in items:
        counter[0] += 1
        if not isinstance(item, dict) or counter[0] > MAX_NODES:
            raise ProvenanceError(f"{UNREADABLE}（单位记录格式不符或过多）")
        node: dict[str, Any] = {k: _text(item.get(k)) for k in _TEXT_KEYS}
        sub = item.get("submission")
        node["submission"] = sub if isinstance(sub, int) and not isinstance(sub, bool) else None
        if "units" in item:
            office = item.get("office")
            node["office"] = ({k: _text(office.get(k)) for k in ("code", "name")}
                              if isinstance(office, dict) else {"code": "", "name": ""})
            node["include_invalid"] = item.get("include_invalid") is True
            node["units"] = _nodes(item["units"], depth + 1, counter)
        elif "provenance_error" in item:
            node["provenance_error"] = _text(item.get("provenance_error"))
        out.append(node)
    return out


def _text(value: Any) -> str:
    return value[:500] if isinstance(value, str) else ""


def _stored_provenance(store_dir: Path, row: Row) -> dict[str, Any] | None:
    """The provenance inside a stored submission (a return from the level below), or
    None for a unit's own file; a damaged one is noted on the node, not fatal."""
    try:
        data = store.get(store_dir, row.stored)
        pre = precheck_bytes(data, row.file_name, Limits())
        if not pre.ok:
            return None
        book = read_auto(data, pre.unpacked)
        meta = read_meta(book) or {}
        return from_meta(meta)
    except ProvenanceError as exc:
        return {"provenance_error": str(exc)}
    except Exception as exc:  # an unreadable stored file: say so on its node, go on
        return {"provenance_error": f"{UNREADABLE}（{type(exc).__name__}）"}


@dataclass(frozen=True)
class Leaf:
    """An original unit file the tree ends in, with the offices it went up through."""

    path: tuple[str, ...]   # unit codes from the top of the tree down to this one
    sha256: str


def leaves(nodes: list[dict[str, Any]], above: tuple[str, ...] = ()) -> list[Leaf]:
    """The files at the bottom of a tree (those that were not returns of a lower level)."""
    out = []
    for node in nodes:
        path = (*above, node["code"])
        if node.get("units"):
            out += leaves(node["units"], path)
        else:
            out.append(Leaf(path, node["sha256"]))
    return out


STATUS_WORDS = {"valid": "通过", "invalid": "有错误（按要求纳入）"}


def tree_lines(nodes: list[dict[str, Any]], indent: str = "") -> list[str]:
    """The tree as text lines (for a terminal): unit, submission, file hash, verdict."""
    lines = []
    for i, node in enumerate(nodes):
        last = i == len(nodes) - 1
        status = STATUS_WORDS.get(node.get("status") or "", node.get("status") or "")
        sub = node.get("submission")
        text = (f"{node['code']} {node['name']}  提交 {sub if sub is not None else '?'}  "
                f"{(node.get('sha256') or '')[:12]}  {status}  {node.get('file') or ''}")
        if node.get("units"):
            office = node.get("office") or {}
            text += f"  （{office.get('name') or '下级'}汇总 {len(leaves([node]))} 个单位）"
            if node.get("include_invalid"):
                text += "【含有错误的单位】"
        if node.get("provenance_error"):
            text += f"  【{node['provenance_error']}】"
        lines.append(f"{indent}{'└─ ' if last else '├─ '}{text}")
        if node.get("units"):
            lines += tree_lines(node["units"], indent + ("   " if last else "│  "))
    return lines
