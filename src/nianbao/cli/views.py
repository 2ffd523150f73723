"""What status and collect print, fitted to the terminal: problems first, one unit (or file)
on one line when the terminal is wide, on two when it is narrow, never wrapped further."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from nianbao.collect.status import STATE_WORDS, TIME_WORDS, StatusReport, UnitStatus
from nianbao.untrusted import printable

WIDE = 110  # from this many columns on, a table with one line per unit
STATE_STYLE = {"valid": "green", "invalid": "red", "rejected": "bold red", "missing": "yellow"}
# problems first: what needs chasing, then what passed with something to explain
_ORDER = {"invalid": 0, "rejected": 1, "missing": 2, "valid": 3}
SHOW_UNATTRIBUTED = 20


def _line(parts: Iterable[tuple[str, str]], width: int, indent: int = 0) -> Text:
    text = Text(" " * indent)
    for words, style in parts:
        if words:  # names and file names come from units: no terminal control sequences
            text.append(printable(words, one_line=True), style=style)
    text.truncate(width, overflow="ellipsis")
    return text


def _cell(text: str) -> Text:
    """A table cell of untrusted text (a Text never reads markup; controls are removed)."""
    return Text(printable(text, one_line=True))


def fitted_table(columns: tuple[tuple[str, int, int], ...], rows: list[list[Text]],
                 width: int, first: tuple[int, ...] = ()) -> Table:
    """A table of one line per row within `width`: each column (name, least, most) gets
    its least, what is left goes to the columns (those in `first` first) up to their most,
    and every cell is cut to its column with an ellipsis."""
    gaps = 2 * (len(columns) - 1)
    sizes = [least for _, least, _ in columns]
    left = width - gaps - sum(sizes)
    for i in (*first, *(i for i in range(len(columns)) if i not in first)):
        _, least, most = columns[i]
        need = min(most, max([least] + [cell_len(r[i].plain) for r in rows])) - sizes[i]
        grant = max(0, min(need, left))
        sizes[i] += grant
        left -= grant
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for (name, _, _), size in zip(columns, sizes, strict=True):
        table.add_column(name, no_wrap=True, min_width=size, max_width=size)
    for row in rows:
        cut = []
        for cell, size in zip(row, sizes, strict=True):
            cell = cell.copy()
            cell.truncate(size, overflow="ellipsis")
            cut.append(cell)
        table.add_row(*cut)
    return table


def status_order(units: list[UnitStatus]) -> list[UnitStatus]:
    """Units with problems first (errors, refused, missing and overdue first), roster order
    within each state."""
    return sorted(units, key=lambda u: (_ORDER[u.state], u.timeliness != "overdue",
                                        u.state == "valid" and u.unexplained == 0))


def status_view(report: StatusReport, title: str, width: int) -> list[RenderableType]:
    """The status of every unit at this terminal width."""
    units = status_order(report.units)
    out: list[RenderableType] = [_line([(title, "bold")], width)]
    if width >= WIDE:
        code = max((cell_len(u.code) for u in units), default=8)
        rows = [[_cell(u.code), _cell(u.name), Text(STATE_WORDS[u.state], STATE_STYLE[u.state]),
                 Text(TIME_WORDS[u.timeliness]), Text(u.counts_text),
                 _cell("；".join(x for x in (u.why, u.contact_text) if x))] for u in units]
        out.append(fitted_table((("单位代码", code, code), ("单位名称", 12, 22), ("状态", 6, 6),
                                 ("时限", 12, 12), ("问题", 10, 34), ("说明", 10, 40)),
                                rows, width, first=(0, 1, 2, 3, 5)))
    else:
        for u in units:
            out.append(_line([(STATE_WORDS[u.state], STATE_STYLE[u.state]),
                              (f"  {u.name}", "bold"), (f"（{u.code}）", "")], width))
            why = "" if u.state == "missing" else u.why  # (the state says it)
            detail = "；".join(x for x in (TIME_WORDS[u.timeliness], u.counts_text, why,
                                          u.contact_text) if x)
            out.append(_line([(detail, "")], width, indent=4))
    t = report.totals
    states = (f"共 {t['units']} 个单位：通过 {t['valid']}，有错误 {t['invalid']}，"
              f"未受理 {t['rejected']}，未报送 {t['missing']}；")
    times = f"逾期报送 {t['late']}，逾期未报 {t['overdue']}。"
    out += [Text(states + times)] if width >= WIDE else [_line([(states, "")], width),
                                                          _line([(times, "")], width)]
    if report.unattributed:
        out.append(Text(f"名单外或无法识别的文件 {len(report.unattributed)} 个："))
        for item in report.unattributed[:SHOW_UNATTRIBUTED]:
            why = f"（{item['reason']}）" if item.get("reason") else ""
            out.append(_line([(f"#{item['submission']} {item['file']}{why}", "")], width,
                             indent=2))
        if len(report.unattributed) > SHOW_UNATTRIBUTED:
            out.append(Text(f"  ……另有 {len(report.unattributed) - SHOW_UNATTRIBUTED} 个"
                            "（用 --json 查看全部）"))
    return out


RESULT_WORDS = {"valid": ("通过", "green"), "invalid": ("有错误", "red"),
                "rejected": ("未受理", "bold red")}


def collect_view(items: list[dict[str, Any]], title: str, width: int, limit: int
                 ) -> list[RenderableType]:
    """A collect run: new files (problems first, at most `limit` when there are many),
    duplicates as one summary line."""
    fresh = [it for it in items if it["outcome"] != "duplicate"]
    repeated = [it for it in items if it["outcome"] == "duplicate"]
    fresh.sort(key=lambda it: _ORDER.get(it["status"] or "valid", 3))
    shown = fresh if len(items) <= limit else [it for it in fresh
                                              if it["status"] != "valid"][:limit]
    out: list[RenderableType] = [_line([(title, "bold")], width)]
    rows = []
    for it in shown:
        word, style = RESULT_WORDS[it["status"]]
        groups = it.get("warning_groups", 0)
        counts = "；".join(x for x in (f"错误 {it['errors']} 处" if it["errors"] else "",
                                       f"提醒 {groups} 类（{it['warnings']} 格）" if groups
                                       else "") if x)
        rows.append((word, style, Path(it["path"]).name, it["unit"] or "", counts,
                     it.get("first") or ""))
    if width >= WIDE:
        cells = [[Text(word, style), _cell(name), _cell(unit), Text(counts), _cell(first)]
                 for word, style, name, unit, counts, first in rows]
        out.append(fitted_table((("结果", 6, 6), ("文件", 16, 34), ("单位", 10, 12),
                                 ("问题", 10, 30), ("说明", 10, 50)), cells, width,
                                first=(0, 1, 2, 4)))
    else:
        for word, style, name, unit, counts, first in rows:
            out.append(_line([(word, style), (f"  {name}", "")], width))
            out.append(_line([("；".join(x for x in (unit, counts, first) if x), "")], width,
                             indent=4))
    if len(shown) < len(fresh):
        out.append(_line([(f"（新收 {len(fresh)} 个文件，只列出需要处理的前 {len(shown)} 个；"
                            "全部结果请用 --json 或 nianbao status 查看）", "")], width))
    if repeated:
        replays = sum(it.get("reason") == "REPLAYED_FILE" for it in repeated)
        more = f"，其中旧文件重发 {replays} 个" if replays else ""
        out.append(_line([(f"重复（已收过的同一文件）{len(repeated)} 个，不重复入账{more}。",
                           "")], width))
    return out
