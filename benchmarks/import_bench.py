"""Importing published reports: PDF beside .docx, HTML and pasted text, measured in one run.

    python benchmarks/import_bench.py               # 100 reports in each format
    python benchmarks/import_bench.py --files 300
    python benchmarks/import_bench.py --smoke       # 3 reports, to see that it runs

Builds --files reports, each with its own figures (every rule holding) and its own unit
name, as .docx (nianbao's renderer), as PDF (those Word files converted by one LibreOffice
Writer run, as offices export them), as HTML and as text pasted with spaces between cells.
The conversion is set-up, not timed. Then it imports every file of each format in turn,
--repeat times, and prints documents per second (best run) and each format's time per
document against the .docx path's. Not a test: nothing is asserted, but every import is
checked to have read every figure (a fast wrong reader would be no result).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from nianbao.publish.importer import import_report
from nianbao.publish.record import Record
from nianbao.publish.report import render_report
from nianbao.spec.load import load_form
from nianbao.testing.documents import balanced_values, convert_to_pdf, pasted

UNITS = ["自然资源局", "教育局", "民政局", "财政局", "卫生健康局", "司法局", "城关街道办事处"]


def build(count: int, folder: Path) -> dict[str, list[tuple[str, bytes]]]:
    """count reports in each format: (file name, bytes)."""
    form = load_form()
    docx: list[Path] = []
    out: dict[str, list[tuple[str, bytes]]] = {"docx": [], "html": [], "text": []}
    for i in range(count):
        values = balanced_values(form, seed=1000 + i)
        record = Record({"unit.name": f"示例县{UNITS[i % len(UNITS)]}{i}", "year": 2023},
                        {**values, "text.overview": "全年按时更新公开目录。"})
        data = render_report(form, record, "docx")
        path = folder / f"r{i:04d}.docx"
        path.write_bytes(data)
        docx.append(path)
        out["docx"].append((path.name, data))
        out["html"].append((f"r{i:04d}.html", render_report(form, record, "html")))
        out["text"].append((f"r{i:04d}.txt", pasted(form, values, "spaces")))
    started = time.perf_counter()
    pdfs = convert_to_pdf(docx, folder / "pdf")
    log(f"converted {count} Word files to PDF in {time.perf_counter() - started:.1f} s")
    out["pdf"] = [(p.name, p.read_bytes()) for p in pdfs]
    return out


def timed(files: list[tuple[str, bytes]], repeat: int) -> tuple[float, int]:
    """Best time over `repeat` runs of importing every file; figures read in the last run."""
    form = load_form()
    numeric = [f.id for f in form.fields.values() if f.numeric]
    best, read = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        results = [import_report(data, name, form) for name, data in files]
        best = min(best, time.perf_counter() - started)
        read = sum(all(fid in r.values for fid in numeric) for r in results)
    return best, read


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    count, repeat = (3, 1) if args.smoke else (args.files, args.repeat)
    with tempfile.TemporaryDirectory(prefix="nianbao-import-bench-") as tmp:
        formats = build(count, Path(tmp))
        rows: list[tuple[str, float, int]] = []
        for fmt in ("docx", "pdf", "html", "text"):
            seconds, read = timed(formats[fmt], repeat)
            rows.append((fmt, seconds, read))
            log(f"{fmt}: {seconds:.2f} s")
    base = rows[0][1] / count
    print(f"\n| import {count} 份 | 份/秒 | 每份毫秒 | 相对 .docx | 全部数字读出 |")
    print("|---|---:|---:|---:|---:|")
    for fmt, seconds, read in rows:
        per = seconds / count
        print(f"| {fmt} | {count / seconds:.1f} | {per * 1000:.1f} | {per / base:.2f}x | "
              f"{read}/{count} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
