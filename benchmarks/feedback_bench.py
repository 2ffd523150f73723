"""Feedback workbooks: full render vs the patched package (feedback_package.py), measured in
the same run on the invalid files of a data set; prints ms per feedback and the ratio.

    .venv/bin/python benchmarks/feedback_bench.py [DATA_DIR] [--files N]

DATA_DIR holds ws/ (a workspace) and inbox/ (returns), as benchmarks/run.py makes them
(made there with run.make_workspace/make_inbox when missing; without DATA_DIR, in a
temporary folder removed afterwards).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nianbao.check import check_bytes
from nianbao.collect import intake
from nianbao.collect.feedback import feedback_options
from nianbao.collect.feedback_package import writer_for
from nianbao.collect.ledger import Ledger
from nianbao.collect.roster import load_roster
from nianbao.collect.workspace import open_workspace
from nianbao.render.workbook import render
from nianbao.spec.layout import layout_for


def data_set(folder: Path, files: int) -> tuple[Path, Path]:
    if not (folder / "ws").is_dir() or not (folder / "inbox").is_dir():
        import run  # benchmarks/run.py

        folder.mkdir(parents=True, exist_ok=True)
        run.make_workspace(folder / "ws", files)
        run.make_inbox(folder / "ws", folder / "inbox", files)
    return folder / "ws", folder / "inbox"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", help="a data set folder (default: a temporary one)")
    ap.add_argument("--files", type=int, default=600, help="returns to check (10%% invalid)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.data is None:
        with tempfile.TemporaryDirectory(prefix="nianbao-feedback-bench-") as tmp:
            bench(Path(tmp) / "data", args.files, args.rounds)
    else:
        bench(Path(args.data), args.files, args.rounds)


def bench(data: Path, files: int, rounds: int) -> None:
    ws_dir, inbox = data_set(data, files)
    ws = open_workspace(ws_dir)
    ledger = Ledger(ws.ledger_path)
    ledger.sync_units(load_roster(ws.roster_path))
    ctx = intake.Context.of(ws, {u.code: u.name for u in ledger.units()}, received_at="x")
    prepared, forms = [], []
    for f in sorted(inbox.iterdir())[:files]:
        result = check_bytes(f.read_bytes(), f.name)
        verdict = intake.judge(result, ctx)
        if verdict.status == "invalid" and result.form is not None:
            prepared.append(feedback_options(result.form, result, verdict, ctx))
            forms.append(result.form)
    layout = layout_for(forms[0])
    t = time.perf_counter()
    writer = writer_for(layout, ctx.key, ctx.office)
    prepare_ms = (time.perf_counter() - t) * 1000
    assert writer.ok, writer.problem
    fallbacks = sum(writer.workbook(o, i) is None for o, i in prepared)

    def per_feedback(fn) -> float:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        for opts, issues in prepared:
            fn(opts, issues)
        return (time.perf_counter() - start) / len(prepared) * 1000

    full, patched = [], []
    for _ in range(rounds):  # interleaved, so that drifts of the VM hit both alike
        full.append(per_feedback(lambda o, i: render(layout, o)))
        patched.append(per_feedback(lambda o, i: writer.workbook(o, i)))
    f, p = statistics.median(full), statistics.median(patched)
    print(f"{len(prepared)} feedback workbooks ({fallbacks} fell back), {rounds} rounds, "
          f"prepared once in {prepare_ms:.0f} ms")
    print(f"full render  {f:6.2f} ms per feedback")
    print(f"patched      {p:6.2f} ms per feedback")
    print(f"ratio        {f / p:6.1f}x")
    ledger.close()


if __name__ == "__main__":
    main()
