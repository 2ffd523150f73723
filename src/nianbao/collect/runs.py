"""Runs that were killed: told apart from runs still going, and closed by the next run.

A collect holds an exclusive lock on a file of its own (`.nianbao/runs/<token>.lock`) for
as long as it runs, and writes the token into its run's detail. The operating system
drops the lock when the process ends, however it ends (SIGKILL, power cut): an unfinished
run whose lock can be taken is dead. The lock is a POSIX record lock (lockf), which the
reading children forked by the sandbox do not inherit: a child left behind by a killed
collect cannot keep its run looking alive. The next run closes it, saying how many of its files
were already recorded (a killed run keeps every batch it committed). Where file locks are
not available (not POSIX) no run is closed automatically.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nianbao.collect.ledger import Ledger

try:
    import fcntl
except ImportError:  # Windows: runs stay as they are
    fcntl = None  # type: ignore[assignment]

RUNS_DIR = Path(".nianbao") / "runs"
_HELD: set[str] = set()  # tokens this process holds (record locks never conflict within it)


@contextlib.contextmanager
def run_lock(root: Path) -> Iterator[str]:
    """Hold this run's lock for the block; yields its token (for the run's detail)."""
    if fcntl is None:
        yield ""
        return
    folder = root / RUNS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    path = folder / f"{token}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _HELD.add(token)
        yield token
    finally:
        _HELD.discard(token)
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def alive(root: Path, token: str) -> bool:
    """The run holding this token's lock is still going."""
    if fcntl is None or token in _HELD:
        return True
    path = root / RUNS_DIR / f"{token}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False  # its run ended (finished, or closed by another run)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # EAGAIN or EACCES: held by the running process
        return True
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        path.unlink()  # a dead run's lock file
    return False


def close_interrupted(root: Path, ledger: Ledger, at: str) -> list[dict[str, Any]]:
    """Close every run that was killed; for each: its id, kind, start and how many files
    it had recorded (by outcome)."""
    if fcntl is None:
        return []
    closed = []
    for run in ledger.unfinished_runs():
        token = run["detail"].get("lock")
        # a collect from before run locks cannot be running still; other kinds unlocked are
        # left alone (a revalidate may be running)
        if (token and alive(root, token)) or (not token and run["kind"] != "collect"):
            continue
        counts = ledger.close_run(run["id"], at, {**run["detail"], "interrupted": True})
        closed.append({"run": run["id"], "kind": run["kind"], "started_at": run["started_at"],
                       "files": sum(counts.values()), "recorded": counts})
    return closed
