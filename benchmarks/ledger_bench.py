"""The ledger on PostgreSQL beside SQLite, measured in the same run on the same data set:
collect of N returns, then status and merge over the N submissions. Not a test: it prints
seconds and the PostgreSQL/SQLite ratio (target: within 1.5x) and asserts nothing.

    python benchmarks/ledger_bench.py              # 10,000 returns (several minutes)
    python benchmarks/ledger_bench.py --files 500  # a quick look

The PostgreSQL server is a throwaway one on a Unix socket with fsync on (SQLite syncs too),
started and removed by the benchmark (Debian's `postgresql` package must be installed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import _untouched, log, make_inbox, make_workspace, run_child, settle

from nianbao.collect.workspace import CONFIG_NAME, config_text, open_workspace
from nianbao.testing.postgres import ThrowawayPostgres

TARGET_RATIO = 1.5


def reading_times(ws: Path) -> dict[str, float]:
    """status and merge over the collected ledger, in this process."""
    from nianbao.collect.ledger import open_ledger
    from nianbao.collect.status import unit_status
    from nianbao.merge.totals import merge
    from nianbao.spec.load import load_form

    workspace = open_workspace(ws)
    form = load_form()
    with open_ledger(workspace) as ledger:
        started = time.perf_counter()
        unit_status(ledger, workspace.config)
        status_s = time.perf_counter() - started
        started = time.perf_counter()
        merge(ledger, form, workspace.config.year, ledger.units(),
              office=workspace.config.office)
        merge_s = time.perf_counter() - started
    return {"status_s": status_s, "merge_s": merge_s}


def measure(ws: Path, inbox: Path, jobs: int) -> dict[str, Any]:
    settle()
    collected = run_child("collect", ws, str(inbox), jobs)
    return {"collect_s": collected["seconds"], "statuses": collected["detail"],
            **reading_times(ws)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    server = ThrowawayPostgres(durable=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="nianbao-ledger-bench-") as tmp:
            root = Path(tmp)
            ws = make_workspace(root / "ws", args.files)
            log(f"building {args.files} returns ...")
            make_inbox(ws, root / "inbox", args.files)
            results = {}
            for backend in ("sqlite", "postgresql"):
                target = _untouched(ws, root / f"ws-{backend}")
                if backend == "postgresql":
                    config = replace(open_workspace(target).config,
                                     db=server.create_database("bench"))
                    (target / CONFIG_NAME).write_text(config_text(config), encoding="utf-8")
                log(f"{backend}: collect {args.files} files, {args.jobs} jobs ...")
                results[backend] = measure(target, root / "inbox", args.jobs)
    finally:
        server.remove()
    sqlite, pg = results["sqlite"], results["postgresql"]
    assert sqlite["statuses"] == pg["statuses"], (sqlite["statuses"], pg["statuses"])
    print(f"台账后端对比：{args.files} 份回执，{args.jobs} 个进程（同一次运行、同一批文件）\n")
    print("| 操作 | SQLite 秒 | PostgreSQL 秒 | 比值 | 目标 |")
    print("|---|---|---|---|---|")
    for key, label in (("collect_s", "collect"), ("status_s", "status"), ("merge_s", "merge")):
        ratio = pg[key] / sqlite[key]
        mark = "达标" if ratio <= TARGET_RATIO else "未达标"
        print(f"| {label} | {sqlite[key]:.2f} | {pg[key]:.2f} | {ratio:.2f}x "
              f"| ≤{TARGET_RATIO}x {mark} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
