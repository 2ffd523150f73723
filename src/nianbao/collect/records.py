"""The record that counts for each unit and year, read from the ledger: its latest valid
submission, else its latest one with errors (imported published reports included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nianbao.collect.conflicts import order_key
from nianbao.collect.ledger import Ledger, Row
from nianbao.read.normalise import from_json
from nianbao.spec.model import Form


@dataclass
class Record:
    """One unit's figures for one year, as merge and export use them."""

    unit_code: str
    unit_name: str
    year: int
    status: str
    source: str        # collected | imported
    submission: int
    values: dict[str, Any]


def records(ledger: Ledger, form: Form, year: int | None = None) -> list[Record]:
    """The record that counts per (unit, year), in roster order then year."""
    names = {u.code: u.name for u in ledger.units()}
    order = {code: i for i, code in enumerate(names)}
    best: dict[tuple[str, int], Row] = {}
    for row in sorted(ledger.rows(year=year), key=order_key):  # the one that counts last
        v = row.verdict
        if not v.unit_code or v.year is None or v.status == "rejected":
            continue
        key = (v.unit_code, v.year)
        old = best.get(key)
        if old is None or v.status == "valid" or old.verdict.status != "valid":
            best[key] = row
    out = []
    for (code, yr), row in best.items():
        raw = row.verdict.record.get("values", {})
        values = {fid: from_json(raw.get(fid), f.kind) for fid, f in form.fields.items()}
        out.append(Record(code, names.get(code) or str(values.get("unit.name") or ""), yr,
                          row.verdict.status,
                          "imported" if row.kind == "published" else "collected", row.id,
                          values))
    out.sort(key=lambda r: (r.year, order.get(r.unit_code, len(order)), r.unit_code))
    return out
