"""Where the packaged data lives: the form specs and the demo samples.

An installed nianbao reads them from inside the package (nianbao/_data, put there by the
build); a checkout (editable install) reads the repository's own templates/ and samples/.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path


@cache
def data_dir(name: str) -> Path:
    """The folder `name` ("templates" or "samples") of this installation."""
    packaged = resources.files("nianbao") / "_data" / name
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    # an editable install of a checkout: src/nianbao/resources.py -> the repository root
    return Path(__file__).resolve().parents[2] / name
