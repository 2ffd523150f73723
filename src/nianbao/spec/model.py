"""The form as plain data: what the spec file says, after validation and expansion."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nianbao.spec.expr import Comparison

# Value kinds a field can hold.
COUNT, AMOUNT, TEXT, CODE, YEAR = "count", "amount", "text", "code", "year"
NUMERIC_KINDS = (COUNT, AMOUNT)
KINDS = (COUNT, AMOUNT, TEXT, CODE, YEAR)


@dataclass(frozen=True)
class Header:
    """One row or column of a table block: its id segment and its label path."""

    id: str
    path: tuple[str, ...]
    kind: str | None = None
    short: str | None = None  # how messages name it when the label is long (not printed)


@dataclass(frozen=True)
class Block:
    """A rectangular part of a table with its own header (table 二 has four)."""

    columns: tuple[Header, ...]
    rows: tuple[Header, ...]
    title: str | None = None
    stub: str | None = None
    corner: str | None = None


@dataclass(frozen=True)
class Note:
    id: str
    label: str


@dataclass(frozen=True)
class Table:
    id: str
    section: str
    sheet: str
    title: str
    kind: str
    blocks: tuple[Block, ...]
    not_applicable: bool = False
    landscape: bool = False
    note: Note | None = None
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> row/col ids

    @property
    def row_ids(self) -> list[str]:
        return [r.id for b in self.blocks for r in b.rows]

    @property
    def column_ids(self) -> list[str]:
        return list(dict.fromkeys(c.id for b in self.blocks for c in b.columns))


@dataclass(frozen=True)
class Field:
    """One value of the record: its id, kind, and where its label comes from."""

    id: str
    kind: str
    label_path: tuple[str, ...]
    section: str
    table: str | None = None
    computed: bool = False
    not_applicable: bool = False
    required: bool = False

    @property
    def label(self) -> str:
        return " / ".join(self.label_path)

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


@dataclass(frozen=True)
class CoverField:
    id: str
    label: str
    kind: str
    required: bool = False
    below: bool = False  # placed below the verdict (who filled it in), not with the identity


@dataclass(frozen=True)
class Cover:
    sheet: str
    title: str
    status_label: str
    version_label: str
    fields: tuple[CoverField, ...]
    hint: str = ""
    # the verdict when only blank cells remain ("{n}": how many); 1.0.0's words by default
    incomplete: str = "校验通过，但有 {n} 个单元格未填写（没有的请填 0）"


@dataclass(frozen=True)
class ProseField:
    id: str
    section: str
    label: str
    hint: str = ""
    lines: int = 8


@dataclass(frozen=True)
class Prose:
    sheet: str
    title: str
    fields: tuple[ProseField, ...]


@dataclass(frozen=True)
class Instructions:
    sheet: str
    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """A rule as written in the spec (before `foreach` expansion)."""

    id: str
    severity: str
    label: str
    text: str
    source: str = ""
    kind: str = "balance"  # "balance" (an equation) or "values" (R8: every value of its kind)
    table: str | None = None
    check: str = ""
    defines: bool = False
    place: str = "row"

    @property
    def cross_year(self) -> bool:
        return "prev." in self.check


@dataclass(frozen=True)
class RuleInstance:
    """One equation of a rule after binding its `foreach` variables."""

    rule: Rule
    key: str            # e.g. "natural_person": the bound value(s), joined
    where: str          # Chinese: which column/row/block, e.g. "自然人"
    comparison: Comparison

    @property
    def id(self) -> str:
        return f"{self.rule.id}:{self.key}" if self.key else self.rule.id

    @property
    def anchor(self) -> str:
        """The field the instance is located at: the first reference of its left side."""
        return self.comparison.lhs.refs[0].field


@dataclass(frozen=True, eq=False)  # identity equality: a Form is a cache key
class Form:
    id: str
    version: str
    title: str
    basis: str
    first_year: int
    font: str
    cover: Cover
    prose: Prose
    tables: tuple[Table, ...]
    rules: tuple[Rule, ...]
    instances: tuple[RuleInstance, ...]
    instructions: Instructions
    fields: dict[str, Field]             # every field, in form order
    definers: dict[str, RuleInstance]    # computed field -> the instance whose rhs computes it
    source: Path | None = None

    def table(self, table_id: str) -> Table:
        return next(t for t in self.tables if t.id == table_id)

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    @property
    def value_rule(self) -> Rule | None:
        return next((r for r in self.rules if r.kind == "values"), None)

    @property
    def input_fields(self) -> list[Field]:
        return [f for f in self.fields.values() if not f.computed]
