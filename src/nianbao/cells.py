"""A1 cell addresses <-> zero-based (row, column), the way Excel shows them."""

from __future__ import annotations

import re

_A1 = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


def col_letters(col: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def a1(row: int, col: int) -> str:
    """Zero-based (row, col) -> "D7"."""
    return f"{col_letters(col)}{row + 1}"


def a1_range(row: int, col: int, last_row: int, last_col: int) -> str:
    if (row, col) == (last_row, last_col):
        return a1(row, col)
    return f"{a1(row, col)}:{a1(last_row, last_col)}"


def parse_a1(ref: str) -> tuple[int, int]:
    """"D7" -> (6, 3); raises ValueError for anything else."""
    m = _A1.match(ref.strip())
    if not m:
        raise ValueError(f"not an A1 cell address: {ref!r}")
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)) - 1, col - 1


def rectangles(cells: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Cover a set of cells with few rectangles: runs in each row, stacked when aligned."""
    rows: dict[int, list[int]] = {}
    for r, c in sorted(set(cells)):
        rows.setdefault(r, []).append(c)
    runs: list[tuple[int, int, int]] = []  # (row, first col, last col)
    for r, cols in rows.items():
        start = prev = cols[0]
        for c in cols[1:]:
            if c != prev + 1:
                runs.append((r, start, prev))
                start = c
            prev = c
        runs.append((r, start, prev))
    rects: list[tuple[int, int, int, int]] = []
    open_: dict[tuple[int, int], int] = {}  # (first col, last col) -> index of its rectangle
    for r, c0, c1 in runs:
        i = open_.get((c0, c1))
        if i is not None and rects[i][2] == r - 1:
            rects[i] = (rects[i][0], c0, r, c1)
        else:
            open_[(c0, c1)] = len(rects)
            rects.append((r, c0, r, c1))
    return rects
