"""Shared fixtures: the form, its layout, rendered templates, and LibreOffice."""

from __future__ import annotations

from pathlib import Path

import pytest

from nianbao.render.workbook import RenderOptions, render
from nianbao.spec.layout import Layout, layout_for
from nianbao.spec.load import load_form
from nianbao.spec.model import Form

pytest_plugins = ["tests.conftest_libreoffice", "tests.conftest_postgres"]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def form() -> Form:
    return load_form()


@pytest.fixture(scope="session")
def layout(form: Form) -> Layout:
    return layout_for(form)


@pytest.fixture(scope="session")
def template_bytes(layout: Layout) -> bytes:
    return render(layout)


@pytest.fixture
def template_path(tmp_path: Path, template_bytes: bytes) -> Path:
    path = tmp_path / "template.xlsx"
    path.write_bytes(template_bytes)
    return path


def issued(layout: Layout, **identity: object) -> bytes:
    """A template with identity pre-filled and locked, as distributed to one unit."""
    ident = {"unit.code": "330503-017", "unit.name": "某区文化和广电旅游体育局", "year": 2022}
    ident.update({k.replace("_", "."): v for k, v in identity.items()})
    return render(layout, RenderOptions(identity=ident, lock_identity=True))
