"""What reading one published report gives: its identity, figures and findings (a module of
its own, so that the reader and the importer both use it without importing each other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nianbao.findings import Finding
from nianbao.publish.record import Record

# findings that mean some of the report's figures were not read (by us, not by its fault)
UNREAD_CODES = frozenset({"IMPORT_TABLE_MISSING", "IMPORT_ROW_MISSING", "IMPORT_ROW_CELLS",
                          "IMPORT_ROW_UNREAD"})


@dataclass
class ImportResult:
    """What was read from one published report, and what was found wrong with it."""

    identity: dict[str, Any] = field(default_factory=dict)   # unit.name, unit.code, year
    values: dict[str, Any] = field(default_factory=dict)     # field id -> value as printed
    findings: list[Finding] = field(default_factory=list)
    fmt: str | None = None                                   # "pdf" | "docx" | "html" | "text"

    def record(self) -> Record:
        return Record(dict(self.identity), dict(self.values))

    @property
    def outcome(self) -> str:
        """"failed" (not read at all), "unread" (some rows not read) or "read"."""
        codes = {f.code for f in self.findings}
        if "IMPORT_UNREADABLE" in codes:
            return "failed"
        return "unread" if codes & UNREAD_CODES else "read"
