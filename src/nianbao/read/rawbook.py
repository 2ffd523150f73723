"""What a reader extracts from a workbook, before any interpretation.

Both readers (the openpyxl reference reader and the fast one-pass reader) produce this,
so everything downstream is shared and the two can be compared cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RawCell:
    """One cell: its value (for a formula, the cached result or None) and its formula."""

    value: Any = None
    formula: str | None = None  # without the leading "="


@dataclass
class RawWorkbook:
    sheets: list[str]                                   # in workbook order
    states: dict[str, str] = field(default_factory=dict)  # visible | hidden | veryHidden
    cells: dict[str, dict[tuple[int, int], RawCell]] = field(default_factory=dict)

    def cell(self, sheet: str, row: int, col: int) -> RawCell | None:
        return self.cells.get(sheet, {}).get((row, col))
