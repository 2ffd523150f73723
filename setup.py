"""Packaging hook: the form specs (templates/) and the demo samples (samples/) stay at the top
of the repository as their one source and are copied into the package as nianbao/_data."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# what a clerk's `nianbao demo` needs: the workspace (config, roster, demo key) and returns;
# never a ledger, store or feedback left by a local run
SHIPPED = {
    "templates": ["*.toml"],
    "samples": ["roster.csv", "returns-manifest.json", "returns/*.xlsx",
                "workspace/nianbao.toml", "workspace/roster.csv", "workspace/.nianbao/secret.key"],
}


class BuildWithData(build_py):
    """build_py that also copies the shipped data into nianbao/_data/ of the build."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "nianbao" / "_data"
        for folder, patterns in SHIPPED.items():
            for pattern in patterns:
                for source in sorted((ROOT / folder).glob(pattern)):
                    if source.is_file():
                        dest = target / folder / source.relative_to(ROOT / folder)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(source, dest)


setup(cmdclass={"build_py": BuildWithData})
