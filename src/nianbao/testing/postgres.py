"""A throwaway PostgreSQL server for tests and benchmarks: Debian's `postgresql` binaries,
`initdb` in a temporary folder, listening only on a Unix socket there, removed on stop.

initdb refuses to run as root, so as root the server runs as the `postgres` user that the
Debian package creates; the folder is handed to that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (install Debian's `postgresql` package)."""


def server_bin() -> Path:
    """The folder holding initdb and pg_ctl (newest installed major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable("找不到 PostgreSQL 服务器程序（initdb）：请安装 postgresql 软件包")


class ThrowawayPostgres:
    """Start with `start()`, connect with `url(database)`, remove with `stop()`."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable  # fsync as a real server does (benchmarks); tests need not
        self.bin = server_bin()
        self.root = Path(tempfile.mkdtemp(prefix="nianbao-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.started = False

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} 失败：{done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> ThrowawayPostgres:
        if self.user:
            shutil.chown(self.root, self.user, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self._start()
        return self

    def _start(self) -> None:
        # No TCP port: only the socket in our own folder. fsync off: nothing here outlives it.
        options = (f"-c listen_addresses='' -c unix_socket_directories='{self.root}'"
                   " -c max_connections=200")
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.root / "server.log"), "-w", "-t", "60", "start")
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (it may be started again with `restart`)."""
        if self.started:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
            self.started = False

    def restart(self) -> None:
        """Start a stopped server again, on the same socket."""
        self._start()

    def remove(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", schema: str | None = None) -> str:
        """A libpq URL to `database` over the Unix socket, optionally in its own schema."""
        url = f"postgresql://postgres@/{database}?host={quote(str(self.root))}"
        if schema:
            url += "&options=" + quote(f"-csearch_path={schema}")
        return url

    def fresh_schema(self, database: str = "postgres") -> str:
        """A URL to a new, empty schema: one ledger per test without a new database."""
        return fresh_schema_beside(self.url(database))

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def fresh_schema_beside(url: str) -> str:
    """A URL to a new, empty schema in the database that `url` names (its own search_path
    dropped): several workspaces' ledgers in one test database."""
    import psycopg

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    base = parts._replace(query=urlencode(query, quote_via=quote)).geturl()
    schema = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    query.append(("options", f"-csearch_path={schema}"))
    return parts._replace(query=urlencode(query, quote_via=quote)).geturl()
