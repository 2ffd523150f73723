"""PostgreSQL for the ledger tests: one throwaway server per test process, a fresh schema per
test, and `ledger_backend`, which runs a test once on SQLite and once on PostgreSQL.

The PostgreSQL runs skip only when NIANBAO_SKIP_POSTGRES=1 says so; a machine without the
server otherwise fails them (CI installs Debian's `postgresql`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from nianbao.testing.postgres import PostgresUnavailable, ThrowawayPostgres

SKIP_ENV = "NIANBAO_SKIP_POSTGRES"


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1：按要求跳过 PostgreSQL 测试")
    try:
        server = ThrowawayPostgres().start()
    except PostgresUnavailable as exc:
        pytest.fail(f"{exc}（或设置 {SKIP_ENV}=1 明确跳过）")
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres: ThrowawayPostgres) -> str:
    """A URL to an empty schema of its own."""
    return postgres.fresh_schema()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on both ledgers: PostgreSQL through NIANBAO_DB (a fresh schema), which
    every workspace without its own `db` setting follows, in this process and its children."""
    if request.param == "sqlite":
        monkeypatch.delenv("NIANBAO_DB", raising=False)
        return "sqlite"
    server: ThrowawayPostgres = request.getfixturevalue("postgres")
    monkeypatch.setenv("NIANBAO_DB", server.fresh_schema())
    return "postgresql"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_ledger_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """`ledger_backend` for a module-scoped fixture (one shared area per backend)."""
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "sqlite":
            patch.delenv("NIANBAO_DB", raising=False)
        else:
            server: ThrowawayPostgres = request.getfixturevalue("postgres")
            patch.setenv("NIANBAO_DB", server.fresh_schema())
        yield request.param
