"""One unit's annual report as data: who (identity), the figures and prose (values), a title.

`values` maps field ids of the form (field-ids.md) to int | Decimal | None (blank) |
NA (not applicable, printed "/") | str (text, or a figure printed as something else).
A field missing from `values` is printed blank, exactly like None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Record:
    """What one annual report says: identity (unit.name, unit.code, year) and values."""

    identity: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    placeholders: bool = False  # an empty prose section printed as a marked placeholder
