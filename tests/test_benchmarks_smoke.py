"""The benchmark scripts still run (a tiny size, nothing timed or compared): they reach into
the pipeline's functions, and a rename must not leave `make bench` broken unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_province_benchmark_runs() -> None:
    out = _run("benchmarks/run.py", "--files", "40", "--templates", "5")
    assert "| collect 40 份" in out and "collect 每份文件的时间去向" in out
    stages = [line for line in out.splitlines() if line.startswith("| ") and " | " in line
              and line.rstrip().endswith("% |")]
    assert len(stages) == 10, stages  # every stage was found ...
    assert not [line for line in stages[:-1] if "| 0.00 |" in line], stages  # ... and timed


def test_feedback_benchmark_runs() -> None:
    out = _run("benchmarks/feedback_bench.py", "--files", "40", "--rounds", "1")
    assert "(0 fell back)" in out and "ratio" in out


def test_hostile_markup_benchmark_runs() -> None:
    out = _run("benchmarks/hostile_bench.py", "--smoke")
    assert "ratio median" in out and out.count("\n| ") == 5  # one row per case
def test_portal_benchmark_runs() -> None:
    out = _run("benchmarks/portal_bench.py", "--uploads", "10", "--units", "20", "--gets", "1",
               "--concurrency", "4")
    assert "份同时上传" in out and "工作台（20 个单位" in out
