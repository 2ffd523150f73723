"""The live checks of a template as text: the verdict line the filler reads and the Excel
formulas that count what is wrong, each written next to its Python twin (evaluate.py)."""

from __future__ import annotations

from typing import Protocol

from nianbao.spec.model import COUNT


class InputCell(Protocol):
    """What these formulas need of a layout's input cell (spec/layout.py defines it)."""

    kind: str
    not_applicable: bool

# What a filler may type for "not applicable" where the form allows it.
NA_MARKERS = ("/", "—", "无")

# Number formats that turn a numeric check result into the verdict the filler reads.
FMT_BALANCE = '"不平衡，差 "0;"不平衡，差 -"0;"平衡"'
FMT_UNBALANCED_COUNT = '"不平衡 "0" 处";;"全部平衡"'
FMT_INVALID_COUNT = '"有误 "0" 处";;"无误"'
FMT_BLANK_COUNT = '"未填 "0" 格";;"已填完"'
FMT_VALUES = '"有误 "0" 处";;"正确"'
# What the verdict says when only blank cells remain, in templates of version 1.0.0 (a
# spec's [cover] incomplete says it otherwise; "{n}" is the number of blank cells).
INCOMPLETE_1_0 = "校验通过，但有 {n} 个单元格未填写（没有的请填 0）"


def status_text(unbalanced: int, invalid: int, blank: int, scope: str = "",
                incomplete: str = INCOMPLETE_1_0) -> str:
    """The verdict line the filler reads ("校验通过" / "有 3 处不平衡，请查看标红单元格");
    `incomplete` (the form's words, "{n}" the blank cells) when only blanks remain."""
    if unbalanced + invalid == 0:
        if blank:
            return scope + incomplete.replace("{n}", str(blank))
        return f"{scope}校验通过"
    parts = []
    if unbalanced:
        parts.append(f"有 {unbalanced} 处不平衡")
    if invalid:
        parts.append(f"有 {invalid} 处填写有误")
    return scope + "，".join(parts) + "，请查看标红单元格"


def status_excel(n: str, m: str, b: str, scope: str = "",
                 incomplete: str = INCOMPLETE_1_0) -> str:
    """Excel twin of status_text; n, m, b are cell references or expressions."""
    before, _, after = incomplete.partition("{n}")
    ok = f'IF({b}>0,"{scope}{before}"&{b}&"{after}","{scope}校验通过")'
    bad = ((f'"{scope}"&' if scope else "")
           + f'IF({n}>0,"有 "&{n}&" 处不平衡","")&IF(AND({n}>0,{m}>0),"，","")'
           + f'&IF({m}>0,"有 "&{m}&" 处填写有误","")&"，请查看标红单元格"')
    return f"IF({n}+{m}=0,{ok},{bad})"


def values_excel(rects: list[tuple[str, list[InputCell]]]) -> str:
    """R8 live check: how many numeric inputs hold text, a negative, or a fraction.

    An array formula: INT() only ever sees the cells that are numbers (a spreadsheet would
    coerce numeric text or fail on other text), so evaluate.invalid_count mirrors it exactly.
    """
    parts = []
    for ref, cells in rects:
        na = any(c.not_applicable for c in cells)
        text = f"COUNTA({ref})-COUNT({ref})"
        if na:
            text += "".join(f'-COUNTIF({ref},"{m}")' for m in NA_MARKERS)
        parts.append(f"({text})+COUNTIF({ref},\"<0\")")
        if cells[0].kind == COUNT:
            parts.append(f"SUM(IF(ISNUMBER({ref}),IF({ref}<>INT({ref}),1,0),0))")
    return "+".join(parts) if parts else "0"


def blank_excel(rects: list[tuple[str, list[InputCell]]], prefix: str = "") -> str:
    return "+".join(f"COUNTBLANK({prefix}{ref})" for ref, _ in rects) or "0"
