"""Shared helpers of the portal tests: a workspace, the app under TestClient, sign-in, a
real `nianbao serve` on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from nianbao.web.app import create_app
from nianbao.web.portal import Settings
from nianbao.web.tokens import office_secret, unit_token

NIANBAO = Path(sys.executable).with_name("nianbao")


def client(root: Path, **settings: object) -> TestClient:
    return TestClient(create_app(root, Settings(**settings)))  # type: ignore[arg-type]


def link_path(key: bytes, code: str, generation: int = 0) -> str:
    return f"/u/{unit_token(key, code, generation)}"


def sign_in(c: TestClient, key: bytes) -> str:
    """Sign the client in as the office; return the CSRF token of its session."""
    r = c.get(f"/office/signin/{office_secret(key)}")
    assert r.status_code == 200 and "报送情况" in r.text
    return csrf_of(r.text)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def shown(html: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert m, f"no #{element_id} on the page"
    return m.group(1).strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(root: Path, port: int | None = None, timeout: float = 60.0) -> Iterator[str]:
    """`nianbao serve` on a loopback port in its own process group; killed on exit."""
    port = port or free_port()
    proc = start_server(root, port)
    try:
        base = wait_ready(proc, port, timeout)
        yield base
    finally:
        kill_server(proc)


def start_server(root: Path, port: int) -> subprocess.Popen[bytes]:
    log = open(root / f"serve-{port}.log", "ab")  # noqa: SIM115 (kept open for the child)
    return subprocess.Popen([str(NIANBAO), "serve", "-w", str(root), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float) -> str:
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nianbao serve exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/office/signin", timeout=2).status_code == 200:
                return base
        time.sleep(0.1)
    raise RuntimeError("nianbao serve did not start in time")


def kill_server(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


def slowly(body: bytes) -> Iterator[bytes]:
    """A request body sent in small pieces, a tenth of a second apart."""
    for start in range(0, len(body), 4096):
        time.sleep(0.1)
        yield body[start:start + 4096]


def uploads_until_killed(proc: subprocess.Popen[bytes], base: str, key: bytes,
                         files: list[tuple[str, str, bytes, str]]) -> list[int]:
    """Send `files` (sender, name, bytes, verdict) at once, every other one slowly, and
    SIGKILL the server once two have been answered; the indexes answered before it died.
    A file may also be in the ledger without its answer (killed between the two)."""
    done: list[int] = []

    def send(i: int) -> None:
        sender, name, data, _ = files[i]
        url = f"{base}{link_path(key, sender)}/upload"
        try:
            if i % 2:  # a slow sender: still streaming its body when the server dies
                body = (b"--nb\r\nContent-Disposition: form-data; name=\"file\"; "
                        b"filename=\"slow.xlsx\"\r\n\r\n" + data + b"\r\n--nb--\r\n")
                httpx.post(url, timeout=60, content=slowly(body), headers={
                    "content-type": "multipart/form-data; boundary=nb"}).raise_for_status()
            else:
                httpx.post(url, timeout=60, files={"file": (name, data)}).raise_for_status()
            done.append(i)
        except httpx.HTTPError:
            pass  # the server died under this upload: the caller sends it again

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(files))]
    for t in threads:
        t.start()
    while len(done) < 2 and any(t.is_alive() for t in threads):
        threading.Event().wait(0.01)
    kill_server(proc)
    for t in threads:
        t.join()
    return done
