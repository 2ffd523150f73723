"""Reading the neutral document of a published report against the Form.

The six sections are found by their headings (the official wording, a heading without its
numeral, or a numbered heading whose words are close to the official ones:
「五、存在的主要问题及整改措施」), the identity from the title (`identity`), the three
tables by their labels (`import_tables`), the prose from between the section headings, and
the form's rules are run over what was read: a published report that does not balance is
reported, never corrected, and totals are taken as printed, never recomputed. A rule that
involves a cell that could not be read is not evaluated: it is reported as not checked,
never as an imbalance the published report does not have.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from nianbao.findings import Finding, make
from nianbao.publish.identity import find_identity
from nianbao.publish.import_tables import TableReader
from nianbao.publish.labels import FLOOR, NUMERAL, label_key, match, numbering, score
from nianbao.publish.labels import table_labels as _table_labels
from nianbao.publish.report import Section, format_value, note_field, sections
from nianbao.publish.source import Doc, DocTable
from nianbao.read.normalise import NA, normalise
from nianbao.spec.expr import Ref, Side
from nianbao.spec.model import Form, Table
from nianbao.validate.rules import check_rules

if TYPE_CHECKING:
    from nianbao.publish.import_result import ImportResult

MAX_HEADING = 60     # characters of a paragraph that can be a section heading
_SECTION_NUMERAL = re.compile(r"^\s*[一二三四五六七八九十]+\s*[、.．]")


class Reader:
    """Reads one document into an ImportResult."""

    def __init__(self, form: Form, name: str, doc: Doc, result: ImportResult) -> None:
        self.form, self.name, self.doc, self.result = form, name, doc, result
        self.values = result.values
        self.sections = sections(form)
        self.headings: dict[str, int] = {}  # section number -> item index
        rule = form.value_rule
        self.rule_id, self.rule_text = (rule.id, rule.text) if rule else (None, "")

    def add(self, code: str, **kw: Any) -> None:
        self.result.findings.append(make(code, file=self.name, report=self.name, **kw))

    def read(self) -> None:
        self.find_headings()
        self.identity()
        self.tables()
        self.prose()
        self.rules()

    # -- structure --------------------------------------------------------------------
    def find_headings(self) -> None:
        wanted = []
        for sec in self.sections:
            key = label_key(sec.heading)
            wanted.append((sec, key, NUMERAL.sub("", key)))
        for i, item in enumerate(self.doc.items):
            if not isinstance(item, str) or len(item.strip()) > MAX_HEADING:
                continue
            key = label_key(item)
            numbered = _SECTION_NUMERAL.match(item) is not None  # 「五、」, not 「（五）」
            for sec, full, bare in wanted:
                close = numbered and _close_heading(key, sec.number, bare)
                if sec.number not in self.headings and key and (key in (full, bare) or close):
                    self.headings[sec.number] = i
                    break

    def section_items(self, sec: Section) -> list[str | DocTable] | None:
        start = self.headings.get(sec.number)
        if start is None:
            return None
        after = [i for i in self.headings.values() if i > start]
        return self.doc.items[start + 1: min(after, default=len(self.doc.items))]

    def identity(self) -> None:
        first = min(self.headings.values(), default=len(self.doc.items))
        lines = [x for x in self.doc.items[:first] if isinstance(x, str)]
        found = find_identity(lines, self.doc.title, self.form.title)
        self.result.identity.update({"unit.name": found.name, "year": found.year})
        labels = {f.id: f.label for f in self.form.cover.fields}
        for fid, value in (("unit.name", found.name), ("year", found.year)):
            if value is None:
                self.add("IMPORT_IDENTITY_MISSING", field=fid, label=labels.get(fid, fid))
            elif found.source == "page":
                self.add("IMPORT_IDENTITY_GUESSED", field=fid, label=labels.get(fid, fid),
                         value=str(value), found=self.doc.title)
        if found.year is not None and found.year < self.form.first_year:
            self.add("IMPORT_OLD_FORMAT", field="year", year=found.year,
                     first_year=self.form.first_year)

    def prose(self) -> None:
        for sec in self.sections:
            items = self.section_items(sec)
            if sec.prose is not None:
                if items is None:
                    self.add("IMPORT_SECTION_MISSING", field=sec.prose.id, label=sec.heading,
                             section=sec.number)
                    continue
                lines = [x.strip() for x in items if isinstance(x, str) and x.strip()]
                self.values[sec.prose.id] = "\n".join(lines) or None
            elif sec.table is not None and items is not None:
                self.note(sec.table, items)

    def note(self, table: Table, items: list[str | DocTable]) -> None:
        note = note_field(self.form, table)
        if note is None:
            return
        lines = [x.strip() for x in items if isinstance(x, str) and x.strip()]
        for i, line in enumerate(lines):
            head = unicodedata.normalize("NFKC", line)
            if head.startswith(note[1]) and head[len(note[1]): len(note[1]) + 1] == ":":
                first = line[len(note[1]) + 1:].strip()
                self.values[note[0]] = "\n".join(([first] if first else []) + lines[i + 1:])
                return

    # -- tables -----------------------------------------------------------------------
    def tables(self) -> None:
        docs = [x for x in self.doc.items if isinstance(x, DocTable)]
        labels = {t.id: _table_labels(t) for t in self.form.tables}
        rows: dict[str, list[list[str]]] = {t.id: [] for t in self.form.tables}
        for doc_table in docs:
            keys = {label_key(c) for row in doc_table.rows for c in row}
            keys.discard("")
            scores = {tid: sum(1 for want in wanted if any(match(k, want) for k in keys))
                      for tid, wanted in labels.items()}
            best = max(scores, key=lambda tid: (scores[tid], -len(labels[tid])))
            if scores[best] >= 2:
                rows[best] += doc_table.rows
        for table in self.form.tables:
            if not rows[table.id]:
                self.add("IMPORT_TABLE_MISSING", sheet=table.title, table=table.id)
                continue
            TableReader(self, table, rows[table.id]).read()

    def rules(self) -> None:
        """The form's rules over what was read; a rule instance involving a cell not read is
        not evaluated, and said so once per rule (how many instances, which cells)."""
        unread = {f.id for f in self.form.fields.values()
                  if f.table and f.numeric and f.id not in self.values}
        skipped: dict[str, list[Any]] = defaultdict(list)
        for inst in self.form.instances:
            if inst.rule.cross_year:
                continue
            if unread.intersection(r.field for r in inst.comparison.refs):
                skipped[inst.rule.id].append(inst)
        skip_ids = {inst.id for group in skipped.values() for inst in group}
        findings = check_rules(self.form, self.values, file=self.name)
        self.result.findings += [self.relocate(f) for f in findings
                                 if f.values.get("instance") not in skip_ids]
        for rule_id, group in skipped.items():
            cells = list(dict.fromkeys(
                self.form.fields[r.field].label for inst in group
                for r in inst.comparison.refs if r.field in unread))
            rule = group[0].rule
            self.add("IMPORT_RULE_UNCHECKED", rule=rule_id, rule_id=rule_id, rule_text=rule.text,
                     count=len(group), cells=_shorten(cells, "；"),
                     instances=[inst.id for inst in group])

    def value(self, table: Table, fid: str, text: str) -> None:
        """One figure as printed; blank, not applicable and 0 stay distinct."""
        f = self.form.fields[fid]
        where = {"sheet": table.title, "cell": f.label, "field": fid}
        raw = text.strip()
        if not raw:
            self.values[fid] = None
            self.add("IMPORT_VALUE_BLANK", **where)
            return
        got = normalise(raw, f.kind, f.not_applicable)
        value = got.value
        if got.code == "VALUE_NORMALISED":
            if not _PLAIN_NUMBER.fullmatch(raw):
                notes = [n for n in got.detail.split("，") if n and n != "数字以文本形式存储"]
                self.add("IMPORT_VALUE_READ", found=raw, value=format_value(value),
                         detail="，".join(notes) or got.detail, **where)
        elif got.code == "VALUE_NOT_APPLICABLE":
            self.add("IMPORT_VALUE_NA", found=raw, **where)
        elif got.code is not None:
            if got.code == "VALUE_NA_NOT_ALLOWED":
                value = NA
            elif got.code == "VALUE_TEXT":
                value = raw
            self.add("IMPORT_VALUE", rule=self.rule_id, rule_text=self.rule_text, found=raw,
                     detail=_PROBLEMS.get(got.code, got.detail), problem=got.code, **where)
        self.values[fid] = value

    # -- rule findings, located in the report's own terms -------------------------------
    def relocate(self, finding: Finding) -> Finding:
        """check_rules locates a failing rule in the Excel template's cells; a published
        report has none, so name the table, the row/column labels and the fields instead."""
        inst = next((i for i in self.form.instances
                     if i.id == finding.values.get("instance")), None)
        if inst is None:
            return finding
        anchor = self.form.fields[inst.anchor]
        table = self.form.table(anchor.table) if anchor.table else None
        refs = list(dict.fromkeys(r.field for r in inst.comparison.refs))
        short = _short_labels([self.form.fields[r].label_path for r in refs])
        names = dict(zip(refs, short, strict=True))
        v = finding.values
        return make(
            "UNBALANCED", file=self.name, sheet=table.title if table else None,
            cell=anchor.label, field=inst.anchor, rule=inst.rule.id,
            severity=finding.severity, where_label=inst.where, rule_text=inst.rule.text,
            lhs=v.get("lhs"), rhs=v.get("rhs"), diff=v.get("diff"),
            lhs_expr=_expr(inst.comparison.lhs, names), rhs_expr=_expr(inst.comparison.rhs, names),
            cells=_shorten(list(names.values()), "、"), instance=inst.id,
        )


_PLAIN_NUMBER = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")
_PROBLEMS = {
    "VALUE_TEXT": "不是数字",
    "VALUE_NA_NOT_ALLOWED": "此项不能为「不适用」",
    "VALUE_NEGATIVE": "不能为负数",
    "VALUE_FRACTION": "件数必须是整数",
    "VALUE_TOO_LARGE": "数值过大",
}


def _short_labels(paths: list[tuple[str, ...]]) -> list[str]:
    """Label paths without the parts all of them share ("自然人", "行政复议", ...)."""
    if len(paths) < 2:
        return [" / ".join(p) for p in paths]
    head = 0
    while all(len(p) > head + 1 and p[head] == paths[0][head] for p in paths):
        head += 1
    tail = 0
    while all(len(p) > head + tail + 1 and p[-1 - tail] == paths[0][-1 - tail] for p in paths):
        tail += 1
    return ["·".join(p[head: len(p) - tail]) for p in paths]


def _shorten(parts: list[str], sep: str) -> str:
    if len(parts) <= 5:
        return sep.join(parts)
    return f"{sep.join(parts[:2])}{sep}…{sep}{parts[-1]}（共 {len(parts)} 项）"


def _expr(side: Side, names: dict[str, str]) -> str:
    out: list[str] = []
    for sign, term in side.terms:
        text = ("上年" if term.prev else "") + names[term.field] if isinstance(term, Ref) \
            else format_value(term)
        out.append(("-" if sign < 0 else "+" if out else "") + text)
    if len(out) > 5:
        return f"{out[0]}{out[1]}+…{out[-1]}（共 {len(out)} 项）"
    return "".join(out) or "0"




def _close_heading(key: str, number: str, bare: str) -> bool:
    """A numbered heading whose words are close to the official ones (same numeral)."""
    num, body = numbering(key)
    return num == number and score(body, bare) >= FLOOR
