"""Hostile markup in a return: the fast reader's time at four times the markup, as a ratio
against the same read at one size, measured in one run. Linear work gives about 4, a scan
that retried its match at each position about 16. Not a test: nothing is asserted (the test
suite counts the reader's calls instead, see test_hostile_markup_takes_linear_work).

    python benchmarks/hostile_bench.py            # 0.5 MB and 2 MB of markup
    python benchmarks/hostile_bench.py --smoke    # 25 kB and 100 kB, to see that it runs
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
import zipfile
from collections.abc import Callable

from nianbao.read.fast_reader import read_fast
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import layout_for
from nianbao.spec.load import load_form

SHEET = "xl/worksheets/sheet2.xml"  # the first table of the template
STRINGS = "xl/sharedStrings.xml"
CASES: dict[str, tuple[str, bytes | None, Callable[[int], bytes]]] = {
    # (part, where: before this text, or None for the end of the part, what)
    "value never closed": (SHEET, b"</sheetData>", lambda n: b"<c><v>" + b"x" * n),
    "text between rows": (SHEET, b"</sheetData>", lambda n: b"!" * n),
    "white space at the end": (SHEET, b"</sheetData>", lambda n: b" " * n),
    "strings never closed": (STRINGS, b"</sst>", lambda n: b'<si x="1">' * (n // 10)),
    "white space in strings": (STRINGS, b"</sst>", lambda n: b"\n" * n),
}


def hostile(template: bytes, part: str, before: bytes | None, markup: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(template)) as src, zipfile.ZipFile(
            buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            raw = src.read(info)
            if info.filename == part:
                raw = raw.replace(before, markup + before, 1) if before else raw + markup
            out.writestr(info.filename, raw)
    return buf.getvalue()


def best_of(data: bytes, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        # refused markup is an outcome, not a failure of the benchmark
        with contextlib.suppress(Exception):
            read_fast(data)
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=500_000, help="bytes of markup (small)")
    parser.add_argument("--rounds", type=int, default=5, help="timed reads per size (best)")
    parser.add_argument("--smoke", action="store_true", help="a tiny size, to see that it runs")
    args = parser.parse_args(argv)
    size, rounds = (25_000, 1) if args.smoke else (args.size, args.rounds)
    template = render(layout_for(load_form()), RenderOptions())
    ratios = []
    print(f"| 情形 | {size // 1000} kB (ms) | {4 * size // 1000} kB (ms) | ratio |")
    print("|---|---:|---:|---:|")
    for name, (part, before, make) in CASES.items():
        small = best_of(hostile(template, part, before, make(size)), rounds)
        large = best_of(hostile(template, part, before, make(4 * size)), rounds)
        ratios.append(large / small)
        print(f"| {name} | {small * 1000:.1f} | {large * 1000:.1f} | {large / small:.1f} |")
    print(f"\nratio median {statistics.median(ratios):.1f} (linear ≈ 4, quadratic ≈ 16)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
