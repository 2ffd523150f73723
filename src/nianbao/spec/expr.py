"""A tiny rule language: sums of field references compared for equality.

Rules are written once in field ids (`t3.new.total == sum(t3.new.[applicants])`) and this
module turns them into a Python evaluation and an Excel formula. The parser is hand-written
and accepts only this grammar, so a spec can never run code:

    rule  := side ("==") side
    side  := term (("+" | "-") term)*
    term  := NUMBER | REF | "sum" "(" REF ("," REF)* ")" | "(" side ")"
    REF   := ["prev."] segment ("." segment)*    (a segment may be "[group]")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from nianbao.errors import InputError


class ExprError(InputError):
    """The rule text does not parse; the message says where."""


@dataclass(frozen=True)
class Ref:
    """A field reference; `prev` refers to the previous year's record."""

    field: str
    prev: bool = False

    def __str__(self) -> str:
        return ("prev." if self.prev else "") + self.field


@dataclass(frozen=True)
class Side:
    """A signed sum of references and constants: one side of a comparison."""

    terms: tuple[tuple[int, Ref | Decimal], ...]

    @property
    def refs(self) -> list[Ref]:
        return [t for _, t in self.terms if isinstance(t, Ref)]


@dataclass(frozen=True)
class Comparison:
    lhs: Side
    rhs: Side
    op: str = "=="

    @property
    def refs(self) -> list[Ref]:
        return self.lhs.refs + self.rhs.refs


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<ref>[A-Za-z_][\w.\[\]]*)|(?P<op>==|[+\-(),]))"
)

GroupResolver = Callable[[str], list[str]]


def parse(text: str, expand: Callable[[str], list[str]] | None = None) -> Comparison:
    """Parse a rule; `expand` turns a reference holding `[group]` into field ids."""
    tokens = _tokenize(text)
    parser = _Parser(tokens, text, expand or (lambda ref: [ref]))
    lhs = parser.side()
    parser.expect("==")
    rhs = parser.side()
    if parser.pos != len(tokens):
        raise ExprError(f"“{text}”：第 {parser.pos + 1} 个记号处多余的内容")
    return Comparison(lhs, rhs)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            where = len(text) - len(text[pos:].lstrip())
            raise ExprError(f"“{text}”：第 {where + 1} 个字符处无法识别")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str,
                 expand: Callable[[str], list[str]]) -> None:
        self.tokens, self.text, self.expand, self.pos = tokens, text, expand, 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ExprError(f"“{self.text}”：表达式不完整")
        self.pos += 1
        return tok

    def expect(self, op: str) -> None:
        _, value = self.take()
        if value != op:
            raise ExprError(f"“{self.text}”：应为“{op}”，实为“{value}”")

    def side(self) -> Side:
        terms = list(self.term(1))
        while (tok := self.peek()) and tok[1] in "+-" and tok[0] == "op":
            self.take()
            terms.extend(self.term(1 if tok[1] == "+" else -1))
        return Side(tuple(terms))

    def term(self, sign: int) -> list[tuple[int, Ref | Decimal]]:
        kind, value = self.take()
        if kind == "num":
            return [(sign, Decimal(value))]
        if kind == "op" and value == "(":
            inner = self.side()
            self.expect(")")
            return [(sign * s, t) for s, t in inner.terms]
        if kind == "ref" and value == "sum":
            self.expect("(")
            refs = self.refs()
            while self.peek() == ("op", ","):
                self.take()
                refs.extend(self.refs())
            self.expect(")")
            return [(sign, r) for r in refs]
        if kind == "ref":
            refs = self._expand(value)
            if len(refs) != 1:
                raise ExprError(f"“{self.text}”：分组引用“{value}”只能写在 sum(...) 中")
            return [(sign, refs[0])]
        raise ExprError(f"“{self.text}”：意外的“{value}”")

    def refs(self) -> list[Ref]:
        kind, value = self.take()
        if kind != "ref":
            raise ExprError(f"“{self.text}”：sum(...) 中应为字段引用，实为“{value}”")
        return self._expand(value)

    def _expand(self, text: str) -> list[Ref]:
        prev = text.startswith("prev.")
        body = text[5:] if prev else text
        return [Ref(f, prev) for f in self.expand(body)]


Number = int | Decimal | float


def excel_side(side: Side, address: Callable[[Ref], str]) -> str:
    """Compile a side to an Excel expression; SUM() so that blanks and text count as 0,
    exactly as the Python evaluation treats them."""
    positive = [address(t) for s, t in side.terms if s > 0 and isinstance(t, Ref)]
    negative = [address(t) for s, t in side.terms if s < 0 and isinstance(t, Ref)]
    constant = sum((s * t for s, t in side.terms if isinstance(t, Decimal)), Decimal(0))
    parts = []
    if positive:
        parts.append(f"SUM({','.join(compress(positive))})")
    if negative:
        parts.append(f"-SUM({','.join(compress(negative))})")
    if constant or not parts:
        parts.append(("+" if constant >= 0 and parts else "") + f"{constant.normalize():f}")
    return "".join(parts)


_A1 = re.compile(r"^([A-Z]+)(\d+)$")


def compress(cells: Iterable[str]) -> list[str]:
    """Join runs of adjacent cells in one row or one column into ranges (D7,D8,D9 -> D7:D9)."""
    out: list[str] = []
    run: list[tuple[str, int, int]] = []  # (col letters, col index, row)

    def flush() -> None:
        if run:
            first, last = run[0], run[-1]
            out.append(f"{first[0]}{first[2]}" if len(run) == 1 else
                       f"{first[0]}{first[2]}:{last[0]}{last[2]}")
            run.clear()

    for cell in cells:
        m = _A1.match(cell)
        if not m:
            flush()
            out.append(cell)
            continue
        letters, row = m.group(1), int(m.group(2))
        col = _col_index(letters)
        if run:
            _, pcol, prow = run[-1]
            same_row = row == prow and col == pcol + 1 and all(r == row for _, _, r in run)
            same_col = col == pcol and row == prow + 1 and all(c == col for _, c, _ in run)
            if not (same_row or same_col):
                flush()
        run.append((letters, col, row))
    flush()
    return out


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n
