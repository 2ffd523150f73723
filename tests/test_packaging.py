"""nianbao as a clerk installs it: the sdist built from this checkout, the wheel built from
the sdist, installed (not editable) into a fresh virtual environment in a temporary folder,
runs `template`, `fields`, `check`, `init`, `collect` and `demo` from a folder outside the
checkout, and reads nothing from the checkout (an audit hook in the environment fails any
open or listing under it).

The dependencies' wheels are kept in pytest's cache folder: the first run downloads them
(PyPI), later runs install with --no-index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what the build reads: the sources and the one copy of the packaged data (see MANIFEST.in)
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "src", "templates",
           "samples"]
GUARD = '''
import os, sys
_CHECKOUT = {checkout!r}

def _guard(event, args):
    if event in ("open", "os.listdir", "os.scandir") and args and isinstance(
            args[0], (str, bytes, os.PathLike)):
        path = os.path.abspath(os.fsdecode(args[0]))
        if path == _CHECKOUT or path.startswith(_CHECKOUT + os.sep):
            raise RuntimeError("read from the checkout: " + path)

sys.addaudithook(_guard)
'''


def pip(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *map(str, args)], capture_output=True,
                          text=True, timeout=600, check=False, **kwargs)  # type: ignore[call-overload]


def ignore_local_state(folder: str, names: list[str]) -> set[str]:
    """A checkout's own leftovers never reach the build (a demo run, caches, old builds)."""
    skip = {"__pycache__", "ledger.sqlite", "store", "feedback", "outbox", "build",
            "nianbao.egg-info"}
    return {n for n in names if n in skip or n.endswith((".pyc", "-journal", "-wal"))}


@pytest.fixture
def installed(tmp_path_factory: pytest.TempPathFactory,
              request: pytest.FixtureRequest) -> dict[str, Path | dict[str, str]]:
    base = tmp_path_factory.mktemp("安装 测试")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore_local_state)
        else:
            shutil.copy2(ROOT / name, source / name)
    # as a clerk's pip does from PyPI: the sdist first, then the wheel built from the sdist
    # alone (so the sdist must carry everything the wheel needs)
    subprocess.run([sys.executable, "-c", "from setuptools import build_meta as b; "
                    "b.build_sdist('sdist')"], cwd=source, check=True, capture_output=True)
    (sdist,) = (source / "sdist").glob("nianbao-*.tar.gz")
    with tarfile.open(sdist) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(base / "unpacked", **safe)  # type: ignore[arg-type]
    built = pip("wheel", base / "unpacked" / sdist.name.removesuffix(".tar.gz"), "--no-deps",
                "--no-build-isolation", "-q", "-w", base / "wheel")
    assert built.returncode == 0, built.stderr
    (wheel,) = (base / "wheel").glob("nianbao-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    wheelhouse = Path(request.config.cache.mkdir("nianbao-wheelhouse"))
    install = ("--python", python, "install", "-q", "--no-compile", "--no-index",
               "--find-links", wheelhouse, wheel)
    done = pip(*install)
    if done.returncode != 0:  # dependencies not cached yet: fetch them once
        fetched = pip("download", "-q", "-d", wheelhouse, wheel)
        assert fetched.returncode == 0, fetched.stderr
        for own in wheelhouse.glob("nianbao-*.whl"):  # only the dependencies are kept
            own.unlink()
        done = pip(*install)
    assert done.returncode == 0, done.stderr
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path("
                                "'purelib'))"], capture_output=True, text=True,
                               check=True).stdout.strip())
    (site / "_nianbao_guard.py").write_text(GUARD.format(checkout=str(ROOT)), encoding="utf-8")
    (site / "_nianbao_guard.pth").write_text("import _nianbao_guard\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "NIANBAO_TEMPLATES", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = str(python.parent) + os.pathsep + env.get("PATH", "")
    work = base / "办公 室"
    work.mkdir()
    return {"python": python, "bin": python.parent, "env": env, "work": work, "wheel": wheel}


def nianbao(installed: dict, *args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = installed["bin"] / ("nianbao.exe" if os.name == "nt" else "nianbao")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=installed["work"], env=installed["env"])


def check_the_wheel_holds_the_specs_and_samples(installed: dict) -> None:
    import zipfile

    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    specs = {f"nianbao/_data/templates/{p.name}" for p in (ROOT / "templates").glob("*.toml")}
    returns = {f"nianbao/_data/samples/returns/{p.name}"
               for p in (ROOT / "samples" / "returns").glob("*.xlsx")}
    assert specs and specs <= names
    assert returns and returns <= names
    assert "nianbao/_data/samples/workspace/.nianbao/secret.key" in names
    package = ROOT / "src" / "nianbao"  # every file of the package, static files included
    files = {"nianbao/" + p.relative_to(package).as_posix() for p in package.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert files <= names, files - names
    assert not any("ledger.sqlite" in n or "/store/" in n for n in names)


def check_the_installed_package_reads_its_own_data(installed: dict) -> None:
    done = subprocess.run(
        [str(installed["python"]), "-c",
         "import json, nianbao; from nianbao.resources import data_dir; "
         "from nianbao.spec.load import templates_dir; print(json.dumps([nianbao.__file__, "
         "str(templates_dir()), str(data_dir('samples'))]))"],
        capture_output=True, text=True, cwd=installed["work"], env=installed["env"])
    assert done.returncode == 0, done.stderr
    venv = str(installed["python"].parent.parent)
    assert all(p.startswith(venv) for p in json.loads(done.stdout))


def check_template_fields_check_and_collect_outside_the_checkout(installed: dict) -> None:
    work = installed["work"]
    done = nianbao(installed, "template", "-o", "模板 2022.xlsx", "--year", "2022")
    assert done.returncode == 0, done.stderr
    assert (work / "模板 2022.xlsx").read_bytes()[:2] == b"PK"
    done = nianbao(installed, "fields", "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["fields"]) > 100
    done = nianbao(installed, "check", "模板 2022.xlsx", "--json")
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["summary"]["files"] == 1
    done = nianbao(installed, "init", "工作区", "--year", "2022")
    assert done.returncode == 0, done.stderr
    done = nianbao(installed, "collect", "-w", "工作区", "模板 2022.xlsx", "--json")
    assert done.returncode in (0, 1, 2), done.stderr
    assert json.loads(done.stdout)["files"] == 1


def check_demo_outside_the_checkout(installed: dict) -> None:
    done = nianbao(installed, "demo", "演示 目录")
    assert done.returncode == 0, done.stderr
    demo = installed["work"] / "演示 目录"
    for output in ("催报名单.csv", "汇总-2022.xlsx", "年度报告-汇总-2022.docx", "ledger.sqlite",
                   "outbox/manifest.csv"):
        assert (demo / output).is_file(), output
    for said in ("演示 目录/催报名单.csv", "演示 目录/汇总-2022.xlsx", "演示 目录/feedback"):
        assert said.replace("/", os.sep) in done.stdout  # says where each output is
    assert any((demo / "feedback").rglob("*.xlsx"))
    # python -m nianbao: the same program
    done = subprocess.run([str(installed["python"]), "-m", "nianbao", "status", "-w", str(demo),
                           "--json"], capture_output=True, text=True, cwd=installed["work"],
                          env=installed["env"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["units"] == 17


def test_the_installed_wheel_works_outside_the_checkout(installed: dict) -> None:
    """One test for the one build and install it needs (xdist would otherwise run the
    set-up once per worker)."""
    check_the_wheel_holds_the_specs_and_samples(installed)
    check_the_installed_package_reads_its_own_data(installed)
    check_template_fields_check_and_collect_outside_the_checkout(installed)
    check_demo_outside_the_checkout(installed)
