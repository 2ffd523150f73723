"""Pytest plugin: the session-scoped ``libreoffice`` fixture (one headless office per process).

Load it with ``pytest_plugins = ["tests.conftest_libreoffice"]``. Tests that use the fixture
FAIL when LibreOffice is missing, unless ``NIANBAO_SKIP_LIBREOFFICE=1`` is set: then they skip.
Mark them ``@pytest.mark.libreoffice``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from nianbao.testing.libreoffice import (
    LibreOffice,
    LibreOfficeError,
    libreoffice_available,
    require_libreoffice,
)

SKIP_ENV = "NIANBAO_SKIP_LIBREOFFICE"


def check_libreoffice() -> None:
    """Return if LibreOffice can be driven; else skip (``NIANBAO_SKIP_LIBREOFFICE=1``) or fail."""
    if libreoffice_available():
        return
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"LibreOffice is not available ({SKIP_ENV}=1)")
    try:
        require_libreoffice()
    except LibreOfficeError as e:
        pytest.fail(str(e), pytrace=False)
    pytest.fail("LibreOffice is not available", pytrace=False)  # pragma: no cover


@pytest.fixture(scope="session")
def libreoffice() -> Iterator[LibreOffice]:
    """One LibreOffice for the whole test session (per xdist worker), closed at the end."""
    check_libreoffice()
    with LibreOffice() as lo:
        yield lo
