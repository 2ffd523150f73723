"""Export the ledger as tables: long (one row per unit and field) or wide (one row per unit).

Each unit contributes the submission that counts (its latest valid one, else its latest
one with errors), plus imported published reports of past years. Text that a spreadsheet
would run as a formula (`=`, `+`, `-`, `@`, tab, CR at the start) is neutralised.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

import xlsxwriter

from nianbao.collect.ledger import Ledger
from nianbao.collect.records import Record, records
from nianbao.read.normalise import NA, NA_JSON, to_json
from nianbao.render.workbook import FIXED_TIME
from nianbao.spec.model import Form
from nianbao.untrusted import QUOTED, csv_bytes, write_xlsx_text

LONG_COLUMNS = ("unit_code", "unit_name", "year", "field", "label", "value", "value_state",
                "status", "source", "submission")




def value_state(value: Any) -> str:
    if value is None:
        return "blank"
    if value is NA:
        return "not_applicable"
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return "number"
    return "text"


def long_rows(form: Form, recs: list[Record], cast: Any = to_json) -> list[dict[str, Any]]:
    """One row per unit and field; `cast` turns a value into the output's representation."""
    rows = []
    for r in recs:
        for fid, f in form.fields.items():
            value = r.values.get(fid)
            rows.append({"unit_code": r.unit_code, "unit_name": r.unit_name, "year": r.year,
                         "field": fid, "label": f.label, "value": cast(value),
                         "value_state": value_state(value), "status": r.status,
                         "source": r.source, "submission": r.submission})
    return rows


def wide_rows(form: Form, recs: list[Record], cast: Any = to_json
              ) -> tuple[list[str], list[dict[str, Any]]]:
    fixed = ["unit_code", "unit_name", "year", "status", "source", "submission"]
    columns = [*fixed, *(fid for fid in form.fields if fid not in fixed)]  # "year" once
    rows = []
    for r in recs:
        row: dict[str, Any] = {"unit_code": r.unit_code, "unit_name": r.unit_name,
                               "year": r.year, "status": r.status, "source": r.source,
                               "submission": r.submission}
        row.update({fid: cast(r.values.get(fid)) for fid in columns[6:]})
        rows.append(row)
    return columns, rows


def _typed(value: Any) -> Any:
    """A value for a spreadsheet cell: numbers stay numbers, "not applicable" is "/"."""
    return "/" if value is NA else value


def _csv_value(value: Any) -> Any:
    """A value for CSV: numbers stay numbers (never neutralised: -1.5 is not a formula),
    "not applicable" is "n/a" as in JSON."""
    return NA_JSON if value is NA else value


def to_csv(columns: list[str] | tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    return csv_bytes(columns, ([row.get(c) for c in columns] for row in rows))


def to_json_bytes(columns: list[str] | tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    return json.dumps({"columns": list(columns), "rows": rows}, ensure_ascii=False,
                      indent=1).encode("utf-8")


def to_xlsx(sheets: list[tuple[str, list[str] | tuple[str, ...], list[dict[str, Any]]]]
            ) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False,
                                   "strings_to_numbers": False, "strings_to_urls": False})
    wb.set_properties({"created": FIXED_TIME})
    quoted = wb.add_format(QUOTED)
    bold = wb.add_format({"bold": True})
    for name, columns, rows in sheets:
        ws = wb.add_worksheet(name)
        for col, c in enumerate(columns):
            ws.write_string(0, col, c, bold)
        for r, row in enumerate(rows, start=1):
            for col, c in enumerate(columns):
                value = row.get(c)
                if value is None:
                    continue
                if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                    ws.write_number(r, col, float(value))
                else:
                    write_xlsx_text(ws, r, col, str(value), quoted=quoted)
        ws.freeze_panes(1, 0)
    wb.close()
    return buf.getvalue()


def export(ledger: Ledger, form: Form, fmt: str, *, shape: str = "long",
           year: int | None = None) -> bytes:
    """The ledger as csv, json or xlsx; xlsx holds both shapes on two sheets."""
    recs = records(ledger, form, year)
    if fmt == "xlsx":
        wide_cols, wide = wide_rows(form, recs, _typed)
        return to_xlsx([("long", LONG_COLUMNS, long_rows(form, recs, _typed)),
                        ("wide", wide_cols, wide)])
    cast = to_json if fmt == "json" else _csv_value
    if shape == "wide":
        columns, rows = wide_rows(form, recs, cast)
    else:
        columns, rows = list(LONG_COLUMNS), long_rows(form, recs, cast)
    return to_json_bytes(columns, rows) if fmt == "json" else to_csv(columns, rows)
