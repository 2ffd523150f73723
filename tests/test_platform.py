"""nianbao on a platform without the POSIX-only modules (Windows), as far as Linux can show
it: `resource`, `fcntl` and `termios` made unimportable in a child interpreter. Every module
imports, the sandbox still stops a runaway item and the batch completes, a collect completes,
and the missing protection is named once. File names nianbao writes are valid on Windows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nianbao.collect.naming import inside, safe_name
from nianbao.resources import data_dir
from nianbao.sandbox import MEMORY_NOTICE

BLOCK = "import sys; sys.modules.update(resource=None, fcntl=None, termios=None)\n"


def run_without_posix(code: str, *args: str, cwd: Path | None = None
                      ) -> subprocess.CompletedProcess[str]:
    script = BLOCK + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_every_module_imports_without_posix_only_modules() -> None:
    done = run_without_posix("""
        import importlib, pkgutil, nianbao
        for m in pkgutil.walk_packages(nianbao.__path__, "nianbao."):
            # __main__ runs the CLI; lo_worker runs inside LibreOffice's own Python
            if m.name.endswith(("__main__", "lo_worker")):
                continue
            importlib.import_module(m.name)
        print("imported")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


def test_sandbox_without_resource_stops_a_runaway_and_says_so_once() -> None:
    done = run_without_posix("""
        import time
        from nianbao.sandbox import Limits, sandboxed_map

        def work(item):
            if item == "forever":
                while True:
                    time.sleep(1)
            return item * 2

        for _ in range(2):  # two batches in one process: the notice comes once
            out = list(sandboxed_map(work, [1, "forever", 3], jobs=2,
                                     limits=Limits(timeout=0.5), chunk=1,
                                     on_failure=lambda item, why: why.kind))
            print(out)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[2, 'timeout', 6]"] * 2
    assert done.stderr.count(MEMORY_NOTICE) == 1


def test_collect_without_resource_completes_as_on_windows(tmp_path: Path) -> None:
    """A collect with two workers started as Windows starts them (spawn: each child imports
    the modules again, here without `resource` and `fcntl` too)."""
    samples = data_dir("samples")
    ws = tmp_path / "工作 区"
    shutil.copytree(samples / "workspace", ws)
    inbox = tmp_path / "收件 箱"
    inbox.mkdir()
    returns = sorted((samples / "returns").glob("*.xlsx"))[:3]
    for f in returns:
        shutil.copy(f, inbox / f.name)
    script = tmp_path / "collect_as_on_windows.py"
    script.write_text(BLOCK + textwrap.dedent("""
        import multiprocessing
        multiprocessing.get_all_start_methods = lambda: ["spawn"]
        if __name__ == "__main__":
            from nianbao.cli import main
            sys.argv = ["nianbao", "collect", "-w", sys.argv[1], sys.argv[2], "--json",
                        "-j", "2"]
            main()
    """), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(ws), str(inbox)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1, 2), done.stderr
    assert done.stderr.count(MEMORY_NOTICE) == 1
    report = json.loads(done.stdout)
    assert report["files"] == len(report["items"]) == len(returns)
    assert sum(report["outcomes"].values()) == len(returns)
    assert report["outcomes"].get("stored", 0) >= 2  # read in the children, not refused


# --- file names valid on Windows and SMB shares --------------------------------------------

WINDOWS_FORBIDDEN = re.compile(r'[\x00-\x1f<>:"/\\|?*]')
DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in "123456789¹²³"}


def windows_valid(name: str) -> bool:
    """Windows' own rules for one path component (independent of the code under test)."""
    return (bool(name) and not WINDOWS_FORBIDDEN.search(name) and name[-1] not in ". "
            and name.split(".")[0].rstrip(" ").upper() not in DEVICES
            and len(name.encode("utf-16-le")) // 2 <= 255 and name not in (".", ".."))


@pytest.mark.parametrize("text", [
    "CON", "con.xlsx", "NUL .txt", "Com1.tar.gz", "LPT¹.xlsx", "CONIN$", "aux ", "prn.",
    "局名. ", "  局 名  ..", 'a<b>:c"|?*.xlsx', "..", ".", "", " ", "\x00\x1f\x7f",
    "青溪区/../../etc", "C:\\Windows\\x", "名" * 300 + ".xlsx", "😀" * 100, "a" * 254 + ". ",
    "330599-002-青溪区发展和改革局", "unit\tname\r\n.xlsx",
])
def test_written_names_are_valid_on_windows(text: str, tmp_path: Path) -> None:
    name = safe_name(text)
    assert windows_valid(name), name
    assert len(name.encode("utf-8")) <= 255
    assert inside(tmp_path, text).parent == tmp_path


def test_ordinary_names_are_kept() -> None:
    name = "青溪区发展和改革局-2022年政府信息公开工作年度报告.xlsx"
    assert safe_name(name, max_len=200) == name
