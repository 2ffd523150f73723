"""Reading returned workbooks: the fast reader against its baselines, measured in one run.

    python benchmarks/read_bench.py                 # 300 LibreOffice-saved returns
    python benchmarks/read_bench.py --files 1000
    python benchmarks/read_bench.py --folder samples/returns
    python benchmarks/read_bench.py --smoke         # a few files, to see that it runs

Builds a few returns by filling the template with LibreOffice (different values in each),
and cycles through them up to --files (or takes every .xlsx of --folder). For every file,
in turn, it times:

  openpyxl      read_openpyxl: openpyxl loaded twice (formulas, cached values); the reference
  floor         zipfile + xml.etree iterparse over the same members the fast reader reads,
                without interpreting anything: what one iterparse pass over the XML costs
  unzip         zipfile inflating those members, nothing else
  iterparse     read_fast reading every part by iterparse (its path for parts its byte scan
                does not recognise, and its only path before the scan)
  fast          read_fast, inflating the members itself
  fast-members  read_fast given the members the pre-check inflated (the read step of check)
  check-openpyxl       check_bytes with openpyxl: pre-check, read, verify, validate
  check-inflate-twice  check_bytes with the fast reader inflating the members again
  check-fast           check_bytes as collect runs it: the fast reader takes the pre-check's
                       inflated members

and prints the median per file of each, and the ratios. Not a test: nothing is asserted.
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
from xml.etree.ElementTree import iterparse

from nianbao.check import check_bytes
from nianbao.read import fast_reader
from nianbao.read.fast_reader import read_fast
from nianbao.read.openpyxl_reader import read_openpyxl
from nianbao.read.precheck import precheck_bytes
from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import Layout, layout_for
from nianbao.spec.load import load_form

IDENTITY = {"unit.code": "330503-017", "unit.name": "某区文化和广电旅游体育局", "year": 2022}


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


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    """The names of the members the fast reader reads, while in the block."""
    names: list[str] = []
    original = fast_reader._Workbook.member

    def member(self: fast_reader._Workbook, name: str) -> bytes:
        names.append(name)
        return original(self, name)

    fast_reader._Workbook.member = member  # type: ignore[method-assign]
    try:
        yield names
    finally:
        fast_reader._Workbook.member = original  # type: ignore[method-assign]


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


def read_iterparse(data: bytes) -> object:
    """read_fast with its byte scan turned off: every part read by iterparse."""
    saved = fast_reader._SCAN_MAX
    fast_reader._SCAN_MAX = -1
    try:
        return read_fast(data)
    finally:
        fast_reader._SCAN_MAX = saved


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300, help="files to time (default 300)")
    parser.add_argument("--variants", type=int, default=6,
                        help="different returns to build with LibreOffice (default 6)")
    parser.add_argument("--folder", type=Path, help="time the .xlsx files of this folder")
    parser.add_argument("--smoke", action="store_true", help="a few files only")
    args = parser.parse_args(argv)
    if args.smoke:
        args.files, args.variants = 4, 2

    layout = layout_for(load_form())
    if args.folder:
        blobs = [p.read_bytes() for p in sorted(args.folder.rglob("*.xlsx"))]
        source = f"{len(blobs)} files of {args.folder}"
        if not blobs:
            print(f"no .xlsx files in {args.folder}", file=sys.stderr)
            return 1
        files = blobs if args.files <= 0 else [blobs[i % len(blobs)]
                                               for i in range(max(args.files, len(blobs)))]
    else:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            blobs = build_returns(layout, args.variants, Path(tmp))
        source = (f"{args.variants} LibreOffice-saved returns "
                  f"(built in {time.perf_counter() - started:.1f} s)")
        files = [blobs[i % len(blobs)] for i in range(args.files)]

    names = {id(b): members_read(b) for b in blobs}
    inflated = {id(b): precheck_bytes(b, "return.xlsx").inflated for b in blobs}
    methods: dict[str, Callable[[bytes], object]] = {
        "openpyxl": read_openpyxl,
        "floor": lambda d: floor(d, names[id(d)]),
        "unzip": lambda d: unzip(d, names[id(d)]),
        "iterparse": read_iterparse,
        "fast": read_fast,
        "fast-members": lambda d: read_fast(d, members=inflated[id(d)]),
        "check-openpyxl": lambda d: check_bytes(d, "return.xlsx", reader=read_openpyxl),
        "check-inflate-twice": lambda d: check_bytes(d, "return.xlsx",
                                                     reader=lambda x: read_fast(x)),
        "check-fast": lambda d: check_bytes(d, "return.xlsx", reader=read_fast),
    }
    for fn in methods.values():  # warm up: imports, the form, caches
        fn(files[0])
    times: dict[str, list[float]] = {m: [] for m in methods}
    gc.collect()
    for data in files:  # every method on every file in turn: drift hits all alike
        for method, fn in methods.items():
            times[method].append(timed(lambda fn=fn, data=data: fn(data)))

    med = {m: statistics.median(t) * 1000 for m, t in times.items()}
    p90 = {m: sorted(t)[int(0.9 * (len(t) - 1))] * 1000 for m, t in times.items()}
    sizes = [len(b) for b in blobs]
    print(f"{len(files)} files: {source}; {min(sizes) // 1024}-{max(sizes) // 1024} KB each")
    print(f"members read by the fast reader: {len(names[id(blobs[0])])} "
          f"({', '.join(names[id(blobs[0])][:4])}, ...)")
    print()
    print(f"{'method':<21}{'median ms':>11}{'p90 ms':>9}")
    for method in methods:
        print(f"{method:<21}{med[method]:>11.3f}{p90[method]:>9.3f}")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
