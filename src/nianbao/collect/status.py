"""Where the collection stands: per unit, returned or not, valid or not, on time or late.

State of a unit (its submissions for the collection's year):
- valid    a valid submission exists; the latest valid one counts (warnings explained or not);
- invalid  returned, but every usable submission has blocking errors;
- rejected returned, but every file was refused (wrong year, another office's template ...);
- missing  nothing returned.
Timeliness is judged by the earliest usable file received from the unit (a correction
sent after the deadline does not make a unit late; a refused file is not a report):
on_time / late; with nothing usable returned, pending before the deadline and overdue
after it. Deadlines are inclusive, in China time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from nianbao.collect.conflicts import order_key, unit_conflict
from nianbao.collect.judging import CHINA
from nianbao.collect.ledger import Ledger, Row
from nianbao.collect.workspace import Config
from nianbao.spec.load import SpecError, load_form
from nianbao.spec.model import Form
from nianbao.untrusted import csv_text
from nianbao.validate.digest import digest, first_problem

STATE_WORDS = {"valid": "通过", "invalid": "有错误", "rejected": "未受理", "missing": "未报送"}
# the cover's 填报人 fields (template 1.1.0 on), shown with a unit's status and to chase it
CONTACT_WORDS = {"contact.filler": "填报人", "contact.phone": "联系电话",
                 "contact.reviewer": "审核人", "contact.date": "填报日期"}
TIME_WORDS = {"on_time": "按时", "late": "逾期报送", "pending": "未到截止日期",
              "overdue": "已逾期未报送"}


@dataclass
class UnitStatus:
    code: str
    name: str
    parent: str
    contact: str
    deadline: str | None
    state: str
    timeliness: str
    submissions: int = 0
    first_received_at: str | None = None
    counting: dict[str, Any] | None = None   # the submission that counts (or the latest)
    errors: int = 0
    warnings: int = 0
    unexplained: int = 0
    why: str = ""
    newer_invalid: bool = False
    conflict: dict[str, Any] | None = None   # several different files in one run (conflicts.py)
    warning_groups: int = 0        # the warnings by cause and block (what a person reads)
    unexplained_groups: int = 0
    filled_by: dict[str, str] = field(default_factory=dict)  # the cover's 填报人, 联系电话 ...

    @property
    def counts_text(self) -> str:
        """「错误 1 处；提醒 2 类（166 格，未说明 2 类）」 in a few words."""
        if self.state in ("missing", "rejected"):
            return ""
        text = f"错误 {self.errors} 处" if self.errors else ""
        if self.warning_groups:
            text += ("；" if text else "") + f"提醒 {self.warning_groups} 类（{self.warnings} 格"
            text += f"，未说明 {self.unexplained_groups} 类）" if self.unexplained_groups else "）"
        return text

    @property
    def contact_text(self) -> str:
        """Who filled it in and how to reach them (the cover's 填报人 and 联系电话)."""
        return " ".join(self.filled_by[k] for k in ("contact.filler", "contact.phone")
                        if self.filled_by.get(k))


@dataclass
class StatusReport:
    year: int
    as_of: str
    units: list[UnitStatus]
    unattributed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        t = {"units": len(self.units)}
        for key in ("valid", "invalid", "rejected", "missing"):
            t[key] = sum(u.state == key for u in self.units)
        for key in ("on_time", "late", "pending", "overdue"):
            t[key] = sum(u.timeliness == key for u in self.units)
        t["valid_with_unexplained_warnings"] = sum(u.state == "valid" and u.unexplained > 0
                                                   for u in self.units)
        t["unattributed_files"] = len(self.unattributed)
        t["conflicts"] = sum(u.conflict is not None for u in self.units)
        return t

    @property
    def chase(self) -> list[UnitStatus]:
        return [u for u in self.units if u.state != "valid"]

    def to_dict(self) -> dict[str, Any]:
        return {"year": self.year, "as_of": self.as_of, "totals": self.totals,
                # a shallow copy per unit: asdict's deep copy took seconds for 10,000 units
                "units": [dict(vars(u)) for u in self.units],
                "chase": [{"code": u.code, "name": u.name, "contact": u.contact,
                           "state": u.state, "timeliness": u.timeliness, "why": u.why,
                           "filled_by": u.filled_by}
                          for u in self.chase],
                "unattributed": self.unattributed}

    def chase_csv(self) -> str:
        return csv_text(["单位代码", "单位名称", "上级单位", "联系人", "状态", "时限",
                         "截止日期", "原因", *CONTACT_WORDS.values()],
                        ([u.code, u.name, u.parent, u.contact, STATE_WORDS[u.state],
                          TIME_WORDS[u.timeliness], u.deadline or "", u.why,
                          *(u.filled_by.get(k, "") for k in CONTACT_WORDS)]
                         for u in self.chase))


def unit_status(ledger: Ledger, config: Config, as_of: datetime | None = None) -> StatusReport:
    as_of = as_of or datetime.now(CHINA)
    units = ledger.units()
    codes = {u.code for u in units}
    by_unit: dict[str, list[Row]] = {}
    unattributed = []
    for row in ledger.rows():
        v = row.verdict
        if row.kind != "workbook":
            continue
        if v.unit_code in codes and (v.year == config.year or v.status == "rejected"):
            by_unit.setdefault(v.unit_code, []).append(row)  # type: ignore[arg-type]
        elif v.unit_code not in codes:  # unreadable, unknown, or a unit no longer listed
            unattributed.append({"submission": row.id, "file": row.file_name,
                                 "received_at": row.received_at, "status": v.status,
                                 "reason": v.reason, "unit": v.unit_code})
    out = []
    form = _form(config.form)
    for u in units:
        rows = by_unit.get(u.code, [])
        deadline = u.deadline or config.deadline
        out.append(_one(u.code, u.name, u.parent, u.contact, deadline, rows, as_of, form))
    return StatusReport(config.year, as_of.isoformat(timespec="seconds"), out, unattributed)


def _form(form_id: str) -> Form | None:
    try:
        return load_form(form_id)
    except SpecError:
        return None


def _one(code: str, name: str, parent: str, contact: str, deadline: date | None,
         rows: list[Row], as_of: datetime, form: Form | None = None) -> UnitStatus:
    s = UnitStatus(code, name, parent, contact, deadline.isoformat() if deadline else None,
                   "missing", "pending", submissions=len(rows))
    rows = sorted(rows, key=order_key)  # the latest by the rule the clerk sees: last
    # a refused file is not a report: timeliness counts the usable ones, earliest received
    usable = [r for r in rows if r.verdict.status != "rejected"]
    if usable:
        first_row = min(usable, key=lambda r: datetime.fromisoformat(r.received_at))
        s.first_received_at = first_row.received_at
        first = datetime.fromisoformat(first_row.received_at).astimezone(CHINA).date()
        s.timeliness = "late" if deadline and first > deadline else "on_time"
    elif deadline and as_of.astimezone(CHINA).date() > deadline:
        s.timeliness = "overdue"
    valid = [r for r in rows if r.verdict.status == "valid"]
    invalid = [r for r in rows if r.verdict.status == "invalid"]
    if valid:
        s.state, counting = "valid", valid[-1]
        s.newer_invalid = bool(invalid) and order_key(invalid[-1]) > order_key(counting)
        if s.newer_invalid:
            s.why = "之后又报送的文件有错误，仍以此前通过的文件为准"
    elif invalid:
        s.state, counting = "invalid", invalid[-1]
        s.why = _first_error(counting)
    elif rows:
        s.state, counting = "rejected", rows[-1]
        s.why = _first_error(counting)
    else:
        s.why = "尚未报送"
        return s
    s.conflict = unit_conflict(rows)
    if s.conflict is not None and s.conflict["counting"] == counting.id and not s.why:
        s.why = (f"同一批收到 {len(s.conflict['files'])} 个不同文件，按保存时间以"
                 f"「{s.conflict['counting_file']}」为准")
    v = counting.verdict
    s.counting = {"submission": counting.id, "file": counting.file_name,
                  "sha256": counting.sha256, "received_at": counting.received_at}
    s.errors, s.warnings, s.unexplained = v.errors, v.warnings, v.warnings - v.explained
    if v.warnings:
        d = digest(v.findings, form)
        s.warning_groups, s.unexplained_groups = len(d.warnings), d.unexplained
    values = (v.record or {}).get("values") or {}
    s.filled_by = {k: str(values[k]) for k in CONTACT_WORDS if values.get(k)}
    return s


def _first_error(row: Row) -> str:
    """The first blocking problem in a few words, with where it is."""
    return first_problem(row.verdict.findings, row.verdict.reason)
