"""Reading returned workbooks: the fast reader against its baselines, measured in one run.

    python benchmarks/read_bench.py                 # 300 returns whose figures all differ
    python benchmarks/read_bench.py --files 1000
    python benchmarks/read_bench.py --folder samples/returns
    python benchmarks/read_bench.py --smoke         # a few files, to see that it runs

Builds a few returns by filling the template with LibreOffice (different values in each), or
takes every .xlsx of --folder, and makes --files returns of them whose figures all differ,
as in a real collection: each copy has every count (inputs, totals and check cells alike)
multiplied by a factor of its own, as benchmarks/run.py makes the returns it collects, so
that what the pre-check and the reader remember between files gains no more than it would
in a collection. That is the headline, printed first. For every file, in turn, it times:

  openpyxl      read_openpyxl: openpyxl loaded twice (formulas, cached values); the reference
                (on every tenth file: it takes ~180 ms)
  floor         zipfile + xml.etree iterparse over the same members the fast reader reads,
                without interpreting anything: what one iterparse pass over the XML costs
  unzip         zipfile inflating those members, nothing else
  iterparse     read_fast reading every part by iterparse (its path for parts its byte scan
                does not recognise, and its only path before the scan)
  fast          read_fast, inflating the members itself
  fast-members  read_fast given the members the pre-check inflated (the read step of check)
  check-openpyxl       check_bytes with openpyxl: pre-check, read, verify, validate (on every
                       tenth file)
  check-inflate-twice  check_bytes with the fast reader inflating the members again
  check-fast           check_bytes as collect runs it: the fast reader takes the pre-check's
                       inflated members
  check-no-rows        check-fast without the row memos (every row scanned, the sheet at once)
  check-no-sheets      check-fast without the sheet memo (no worksheet taken whole)
  check-no-memos       check-fast without either

Each method has its own `ReadCache`, so that none finds what another remembered of the same
file. Then, labelled, the same returns cycled without changing them ("repeated content": the
memos hit almost always), which is what this benchmark measured before. It prints the median
per file of each, and the ratios. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import iterparse

from run import _members, _rezip, _scale, _scaled_cells

from nianbao.check import check_bytes
from nianbao.read import fast_reader
from nianbao.read.book import Book
from nianbao.read.cache import ReadCache
from nianbao.read.fast_reader import read_fast
from nianbao.read.openpyxl_reader import read_openpyxl
from nianbao.read.precheck import precheck_bytes
from nianbao.read.rawbook import RawWorkbook
from nianbao.read.reader import Unpacked
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import Layout, layout_for
from nianbao.spec.load import load_form

IDENTITY = {"unit.code": "330503-017", "unit.name": "某区文化和广电旅游体育局", "year": 2022}
ROWS_OFF = {"rows": 0, "patterns": 0, "seen": 0}
SHEETS_OFF = {"sheets": 0, "sheets_seen": 0}
SAMPLED = {"openpyxl", "check-openpyxl"}  # timed on every tenth file only


def build_returns(layout: Layout, variants: int, workdir: Path) -> list[bytes]:
    """`variants` returns filled and saved by LibreOffice, each with different values."""
    from nianbao.testing.libreoffice import Edit, LibreOffice

    src = workdir / "issued.xlsx"
    src.write_bytes(render(layout, RenderOptions(identity=IDENTITY, lock_identity=True)))
    inputs = list(layout.inputs.values())
    out = []
    with LibreOffice() as office:
        for v in range(variants):
            edits = []
            for i, cell in enumerate(inputs):
                a = cell.area
                if cell.kind == "count":
                    edits.append(Edit(a.sheet, a.a1, (i * 7 + v * 13) % 50 + (3985758 if
                                                                           i % 41 == v else 0)))
                elif cell.kind == "amount":
                    edits.append(Edit(a.sheet, a.a1, 96171.6 + v))
                elif cell.kind == "text":
                    edits.append(Edit(a.sheet, a.a1, f"第 {v} 份：说明文字{'，内容' * (i % 5)}"))
            dst = workdir / f"return-{v}.xlsx"
            office.fill(src, dst, edits, recalc=True)
            out.append(dst.read_bytes())
    return out


def distinct(layout: Layout, blobs: list[bytes], count: int) -> list[bytes]:
    """`count` returns made of `blobs`, copy k with its counts multiplied by k + 2: no two
    with the same figures (zeros stay zeros, as in a real collection)."""
    cells = _scaled_cells(layout)
    bases = [_members(blob) for blob in blobs]
    return [_rezip(_scale(bases[k % len(bases)], cells, k + 2), {}) for k in range(count)]


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    """The names of the members the fast reader reads, while in the block."""
    names: list[str] = []
    original = Book.member

    def member(self: Book, name: str) -> bytes:
        names.append(name)
        return original(self, name)

    Book.member = member  # type: ignore[method-assign]
    try:
        yield names
    finally:
        Book.member = original  # type: ignore[method-assign]


def members_read(data: bytes) -> list[str]:
    with recording() as names:
        read_fast(data)
    return list(names)


def floor(data: bytes, names: list[str]) -> None:
    """One bare pass: unzip the members and run iterparse over each, nothing else."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in names:
            for _event, _element in iterparse(io.BytesIO(archive.read(name)), events=("end",)):
                pass


def unzip(data: bytes, names: list[str]) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in names:
            archive.read(name)


def read_iterparse(data: bytes, cache: ReadCache) -> object:
    """read_fast with its byte scan turned off: every part read by iterparse."""
    saved = fast_reader._SCAN_MAX
    fast_reader._SCAN_MAX = -1
    try:
        return read_fast(data, cache=cache)
    finally:
        fast_reader._SCAN_MAX = saved


def inflating_again(data: bytes, unpacked: Unpacked | None = None, *,
                    cache: ReadCache | None = None) -> RawWorkbook:
    """The fast reader ignoring what the pre-check inflated (a `Reader` as check calls it)."""
    return read_fast(data, cache=cache)


CLOCK = time.perf_counter  # --cpu: time.process_time


def timed(fn: Callable[[], object]) -> float:
    start = CLOCK()
    fn()
    return CLOCK() - start


def methods(names: dict[int, list[str]], unpacked: dict[int, Unpacked],
            only: set[str] | None = None) -> dict[str, Callable[[bytes], object]]:
    """The methods timed (see the module's docstring), each with a cache of its own."""
    def check(cache: ReadCache, reader: Any = None) -> Callable[[bytes], object]:
        kwargs = {"reader": reader} if reader is not None else {}
        return lambda d: check_bytes(d, "return.xlsx", cache=cache, **kwargs)

    def fast(cache: ReadCache, members: bool) -> Callable[[bytes], object]:
        return lambda d: read_fast(d, unpacked[id(d)] if members else None, cache=cache)

    plain = ReadCache()
    found: dict[str, Callable[[bytes], object]] = {
        "openpyxl": read_openpyxl,
        "floor": lambda d: floor(d, names[id(d)]),
        "unzip": lambda d: unzip(d, names[id(d)]),
        "iterparse": lambda d: read_iterparse(d, plain),
        "fast": fast(ReadCache(), members=False),
        "fast-members": fast(ReadCache(), members=True),
        "check-openpyxl": check(ReadCache(), read_openpyxl),
        "check-inflate-twice": check(ReadCache(), inflating_again),
        "check-fast": check(ReadCache()),
        "check-no-rows": check(ReadCache(ROWS_OFF)),
        "check-no-sheets": check(ReadCache(SHEETS_OFF)),
        "check-no-memos": check(ReadCache({**ROWS_OFF, **SHEETS_OFF})),
    }
    return {m: fn for m, fn in found.items() if only is None or m in only}


def time_all(files: list[bytes], timed_methods: dict[str, Callable[[bytes], object]]
             ) -> dict[str, list[float]]:
    """Seconds per file of each method, every method on every file in turn (drift hits all
    alike); the SAMPLED methods on every tenth file."""
    for fn in timed_methods.values():  # warm up: imports, the form
        fn(files[0])
    times: dict[str, list[float]] = {m: [] for m in timed_methods}
    gc.collect()
    for k, data in enumerate(files):
        for method, fn in timed_methods.items():
            if method not in SAMPLED or k % 10 == 0:
                times[method].append(timed(lambda fn=fn, data=data: fn(data)))
    return times


def table(times: dict[str, list[float]]) -> dict[str, float]:
    """Print the median and p90 of each method, in ms; return the medians."""
    med = {m: statistics.median(t) * 1000 for m, t in times.items()}
    print(f"{'method':<21}{'median ms':>11}{'p90 ms':>9}")
    for method, t in times.items():
        p90 = sorted(t)[int(0.9 * (len(t) - 1))] * 1000
        print(f"{method:<21}{med[method]:>11.3f}{p90:>9.3f}")
    return med


def memo_gains(med: dict[str, float]) -> None:
    """What the row and sheet memos save per file in check, from the medians."""
    base = med["check-fast"]
    for label, without in (("the row memos", "check-no-rows"),
                           ("the sheet memo", "check-no-sheets"),
                           ("both", "check-no-memos")):
        saved = med[without] - base
        print(f"  {label:<16} {saved:+7.3f} ms per file ({saved / med[without]:+.0%} of "
              f"check without it: {med[without]:.3f} ms)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300, help="files to time (default 300)")
    parser.add_argument("--variants", type=int, default=6,
                        help="different returns to build with LibreOffice (default 6)")
    parser.add_argument("--folder", type=Path, help="make the files of this folder's .xlsx")
    parser.add_argument("--smoke", action="store_true", help="a few files only")
    parser.add_argument("--cpu", action="store_true",
                        help="time this process's CPU time, not the wall clock: steadier on "
                        "a busy shared machine (a read waiting for a core is not counted)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.files, args.variants = 4, 2
    global CLOCK
    if args.cpu:
        CLOCK = time.process_time

    layout = layout_for(load_form())
    started = time.perf_counter()
    if args.folder:
        blobs = [p.read_bytes() for p in sorted(args.folder.rglob("*.xlsx"))]
        source = f"{len(blobs)} files of {args.folder}"
        if not blobs:
            print(f"no .xlsx files in {args.folder}", file=sys.stderr)
            return 1
    else:
        with tempfile.TemporaryDirectory() as tmp:
            blobs = build_returns(layout, args.variants, Path(tmp))
        source = f"{args.variants} LibreOffice-saved returns"
    files = distinct(layout, blobs, max(args.files, 1))
    built = time.perf_counter() - started
    repeated = [blobs[i % len(blobs)] for i in range(max(args.files, 1))]

    setup = ReadCache()  # (the content ids of `unpacked` are the setup's pre-check's)
    names = {id(b): members_read(b) for b in files + blobs}
    unpacked = {id(b): precheck_bytes(b, "return.xlsx", cache=setup).unpacked
                for b in files + blobs}
    sizes = [len(b) for b in files]
    first = names[id(files[0])]
    print(f"distinct content (the headline): {len(files)} returns whose figures all differ, "
          f"made of {source} (in {built:.1f} s); {min(sizes) // 1024}-{max(sizes) // 1024} "
          "KB each")
    print(f"members read by the fast reader: {len(first)} ({', '.join(first[:4])}, ...); "
          f"timed by {'CPU time' if args.cpu else 'the wall clock'}")
    print()
    med = table(time_all(files, methods(names, unpacked)))
    print()
    print(f"fast vs openpyxl:              {med['openpyxl'] / med['fast']:6.1f}x faster")
    print(f"fast vs iterparse:             {med['iterparse'] / med['fast']:6.2f}x faster")
    print(f"fast vs floor:                 {med['fast'] / med['floor']:6.2f}x the floor's time")
    print(f"fast-members vs floor:         {med['fast-members'] / med['floor']:6.2f}x "
          "the floor's time")
    print(f"check-fast vs floor:           {med['check-fast'] / med['floor']:6.2f}x "
          "the floor's time")
    print(f"check-fast vs check-openpyxl:  {med['check-openpyxl'] / med['check-fast']:6.1f}x "
          f"faster ({med['check-openpyxl'] - med['check-fast']:.1f} ms saved per file)")
    print(f"inflating once (check):        "
          f"{med['check-inflate-twice'] - med['check-fast']:.2f} ms saved per file")
    print("what the memos save in check, on distinct content:")
    memo_gains(med)
    print()
    print(f"repeated content (labelled, not the headline): the {len(blobs)} returns cycled, "
          f"{len(repeated)} reads; the memos hit almost always")
    print()
    again = table(time_all(repeated, methods(names, unpacked, {
        "fast-members", "check-fast", "check-no-rows", "check-no-sheets", "check-no-memos"})))
    print()
    print(f"check-fast vs check-openpyxl:  {med['check-openpyxl'] / again['check-fast']:6.1f}x "
          "faster (check-openpyxl from the distinct run)")
    print("what the memos save in check, on repeated content:")
    memo_gains(again)
    return 0


if __name__ == "__main__":
    sys.exit(main())
