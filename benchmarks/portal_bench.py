"""Benchmark of the web portal (`nianbao serve` on a loopback port), not a test.

Prints, from one run on the same data: uploads per second with their verdict (many at once),
the p95 latency of one upload at a time (a normal return), the p95 latency of the office
dashboard and of /api/status with a 10,000-unit roster in the ledger, and beside them the
per-file time of `collect` over the same files (the baseline: the same intake without HTTP).

    .venv/bin/python benchmarks/portal_bench.py [--uploads 300] [--units 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from run import RECEIVED, log, make_inbox, make_workspace, settle

from tests.web_helpers import free_port, kill_server, wait_ready

TARGETS = {"rate": 50.0, "upload_p95_ms": 300.0, "dashboard_p95_ms": 500.0}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def collect_baseline(ws: Path, files: list[Path]) -> float:
    """collect over the same files in one run (jobs=2): seconds per file."""
    from nianbao.collect.intake import collect
    from nianbao.collect.ledger import Ledger
    from nianbao.collect.roster import load_roster
    from nianbao.collect.workspace import open_workspace

    workspace = open_workspace(ws)
    with Ledger(workspace.ledger_path) as ledger:
        ledger.sync_units(load_roster(workspace.roster_path))
        settle()
        started = time.perf_counter()
        collect(workspace, ledger, files, jobs=2, received_at=RECEIVED)
        return (time.perf_counter() - started) / len(files)


async def upload_all(base: str, links: dict[str, str], files: list[Path],
                     concurrency: int) -> tuple[float, list[float]]:
    bound = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=300,
                                 limits=httpx.Limits(max_connections=concurrency)) as c:
        async def one(path: Path) -> None:
            async with bound:
                started = time.perf_counter()
                r = await c.post(links[path.name] + "/upload",
                                 files={"file": (path.name, path.read_bytes())},
                                 headers={"accept": "application/json"})
                r.raise_for_status()
                assert r.json()["verdict"] in ("valid", "invalid"), r.text
                latencies.append(time.perf_counter() - started)
        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in files))
        return time.perf_counter() - started, latencies


def timed_gets(url: str, cookies: dict[str, str], headers: dict[str, str], n: int
               ) -> list[float]:
    out = []
    with httpx.Client(timeout=120, cookies=cookies, headers=headers) as c:
        for _ in range(n):
            started = time.perf_counter()
            c.get(url).raise_for_status()
            out.append(time.perf_counter() - started)
    return out


def unit_links(ws: Path, files: list[Path]) -> dict[str, str]:
    """file name -> the path of its unit's link (the inbox names files after the unit)."""
    from nianbao.collect.workspace import open_workspace
    from nianbao.web.tokens import unit_token

    key = open_workspace(ws).key
    return {p.name: f"/u/{unit_token(key, '880000-' + p.name[4:9], 0)}" for p in files}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uploads", type=int, default=300, help="returns uploaded (10%% invalid)")
    ap.add_argument("--units", type=int, default=10_000, help="units in the roster")
    ap.add_argument("--concurrency", type=int, default=48)
    ap.add_argument("--gets", type=int, default=20, help="timed dashboard requests")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="nianbao-portal-bench-") as tmp_name:
        tmp = Path(tmp_name)
        log(f"data: {args.units} units, {args.uploads} returns")
        base_ws = make_workspace(tmp / "base", args.units)
        make_inbox(base_ws, tmp / "inbox", args.uploads)
        files = sorted((tmp / "inbox").iterdir())
        shutil.copytree(base_ws, tmp / "ws-collect")
        per_file = collect_baseline(tmp / "ws-collect", files)
        ws = tmp / "ws-portal"
        shutil.copytree(base_ws, ws)
        links = unit_links(ws, files)
        together, alone = files[: len(files) * 4 // 5], files[len(files) * 4 // 5:]
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "nianbao", "serve", "-w", str(ws),
                                 "--port", str(port)], stdout=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            base = wait_ready(proc, port, 120)
            time.sleep(2)  # the intake process starts beside the server
            settle()
            seconds, lat = asyncio.run(upload_all(base, links, together, args.concurrency))
            _, single = asyncio.run(upload_all(base, links, alone, 1))
            from nianbao.collect.workspace import open_workspace
            from nianbao.web.tokens import office_secret

            secret = office_secret(open_workspace(ws).key)
            cookie = httpx.get(f"{base}/office/signin/{secret}", follow_redirects=False
                               ).cookies
            dash = timed_gets(f"{base}/office", dict(cookie), {}, args.gets)
            api = timed_gets(f"{base}/api/status", {}, {"authorization": f"Bearer {secret}"},
                             args.gets)
        finally:
            kill_server(proc)
    rate = len(together) / seconds
    rows = [
        (f"{len(together)} 份同时上传（{args.concurrency} 个连接）", f"{rate:.0f} 份/秒",
         f"collect {1 / per_file:.0f} 份/秒（{per_file * 1000:.1f} ms/份）",
         f"≥ {TARGETS['rate']:.0f} 份/秒", rate >= TARGETS["rate"]),
        ("同时上传时每份的等待（p50 / p95）",
         f"{statistics.median(lat) * 1000:.0f} / {p95(lat) * 1000:.0f} ms", "", "", None),
        (f"逐份上传一份正常的年报（{len(alone)} 份，p95）", f"{p95(single) * 1000:.0f} ms",
         f"collect {per_file * 1000:.1f} ms/份", f"< {TARGETS['upload_p95_ms']:.0f} ms",
         p95(single) * 1000 < TARGETS["upload_p95_ms"]),
        (f"工作台（{args.units} 个单位，p95）", f"{p95(dash) * 1000:.0f} ms", "",
         f"< {TARGETS['dashboard_p95_ms']:.0f} ms",
         p95(dash) * 1000 < TARGETS["dashboard_p95_ms"]),
        (f"/api/status（{args.units} 个单位，p95）", f"{p95(api) * 1000:.0f} ms", "", "", None),
    ]
    print("| 项目 | 结果 | 同一次运行的基线 | 目标 | |")
    print("|---|---|---|---|---|")
    for what, result, baseline, target, ok in rows:
        mark = "" if ok is None else ("达标" if ok else "未达标")
        print(f"| {what} | {result} | {baseline} | {target} | {mark} |")


if __name__ == "__main__":
    main()
