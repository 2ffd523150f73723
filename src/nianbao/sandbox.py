"""Run work on untrusted files in child processes with a time and a memory limit.

One hostile file must not take down a collect of thousands: each child has an address-space
limit (a runaway allocation fails inside the child) and each item a wall-clock deadline.
Where the platform has no such limit (Windows: no `resource` module) the deadline, the kill
and the callers' size checks still hold, and a one-time notice says what is missing.
A child that overruns or dies is killed and replaced; its item yields `on_failure(item,
failure)` and the batch goes on. Results come back in input order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

DEFAULT_MEMORY = 1024 * 1024 * 1024  # bytes of address space per child, beyond its start
DEFAULT_TIMEOUT = 60.0               # seconds per item


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Failure:
    """Why an item has no result: it overran its time, its child died (typically out of
    memory), or the function raised (a bug: reported as such, never blamed on the file)."""

    kind: str  # timeout | died | memory | error
    detail: str
    note: Any = None  # what the item's call said with note() before it failed


@dataclass(frozen=True)
class Limits:
    memory: int = DEFAULT_MEMORY
    timeout: float = DEFAULT_TIMEOUT


_NOTE: list[Any] = [None, 0]  # in a child: its connection and the index of the item in hand


def note(value: Any) -> None:
    """Called by the mapped function inside a child: tell the parent something about the
    item in hand at once (where its bytes were kept), so that if the child then dies or
    overruns, `on_failure` gets it as `Failure.note`. Outside a child: nothing."""
    conn, index = _NOTE
    if conn is not None:
        conn.send(("note", index, value))


def _child(conn: Connection, func: Callable[[Any], Any], limits: Limits,
           initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    _NOTE[0] = conn
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when children stop
    if limits.memory:
        _limit_memory(limits.memory)
    if initializer:
        initializer(*initargs)
    parent = os.getppid()
    while True:
        # a forked child holds its parent's end of the pipe too, so a parent killed outright
        # never shows as EOF here: the child notices it was left behind and ends
        while not conn.poll(1.0):
            if os.getppid() != parent:
                return
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        results = []
        for index, item in task:  # a chunk: one round trip for several items
            _NOTE[1] = index
            try:
                results.append((index, True, func(item)))
            except MemoryError:
                results.append((index, False, Failure("memory", "内存超限")))
            except Exception as exc:  # reported for this item; the child stays usable
                results.append((index, False,
                                Failure("error", f"{type(exc).__name__}: {exc}"[:300])))
        conn.send(results)


def _limit_memory(memory: int) -> bool:
    """Cap this process's address space at what it maps now plus `memory`; False where the
    platform cannot (imported here, not at module level: Windows has no `resource`)."""
    try:
        import resource
    except ImportError:
        return False
    try:
        # on top of what the child already maps (a forked parent's libraries)
        allowed = _mapped_bytes() + memory
        resource.setrlimit(resource.RLIMIT_AS, (allowed, allowed))
    except (ValueError, OSError, AttributeError):
        return False
    return True


def memory_limit_available() -> bool:
    """Whether children can be given an address-space limit on this platform."""
    try:
        import resource
    except ImportError:
        return False
    return hasattr(resource, "RLIMIT_AS")


_NOTICED: set[str] = set()
MEMORY_NOTICE = ("提示：本系统不能限制读取进程的内存（缺少 resource 模块的地址空间限制）；"
                 "仍然在读取前检查文件大小，每个文件限时读完，超时的读取进程会被终止。")


def _notice_once(text: str) -> None:
    """Say once per process which protection this platform lacks (stderr: never mixed into
    --json output)."""
    if text not in _NOTICED:
        _NOTICED.add(text)
        sys.stderr.write(text + "\n")


def _mapped_bytes() -> int:
    """This process's current virtual size (Linux); 0 where unknown."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _Worker:
    """A child and the tasks sent to it, oldest first: the first is running (its deadline
    runs from when it started), the next waits in the pipe so that the child never idles
    while this process is busy with results (writing the ledger, syncing the disk)."""

    def __init__(self, ctx: Any, func: Callable[[Any], Any], limits: Limits,
                 initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child_conn, func, limits, initializer,
                                                     initargs), daemon=True)
        self.proc.start()
        child_conn.close()
        self.tasks: deque[list[tuple[int, Any]]] = deque()
        self.deadline = 0.0
        self.notes: dict[int, Any] = {}  # item index -> what its call noted

    def give(self, task: list[tuple[int, Any]], timeout: float) -> None:
        if not self.tasks:
            self.deadline = time.monotonic() + timeout * len(task)
        self.tasks.append(task)
        # a child that died just now (on the task it already held): its pipe says so when
        # read, and lost() then runs this task again
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.conn.send(task)

    def done(self, timeout: float) -> list[tuple[int, Any]]:
        """The running task is done: the next one (already sent) starts now."""
        task = self.tasks.popleft()
        if self.tasks:
            self.deadline = time.monotonic() + timeout * len(self.tasks[0])
        return task

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()  # SIGKILL on POSIX, TerminateProcess on Windows
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(None)
        self.proc.join(5)
        if self.proc.is_alive():
            self.kill()
        else:
            self.conn.close()


_QUEUED = 2  # tasks in flight per child: the running one and the next


def sandboxed_map(func: Callable[[Any], Any], items: Iterable[Any], *, jobs: int = 1,
                  limits: Limits | None = None,
                  on_failure: Callable[[Any, Failure], Any] = lambda item, why: None,
                  initializer: Callable[..., None] | None = None,
                  initargs: tuple[Any, ...] = (), chunk: int | None = None) -> Iterator[Any]:
    """Like map(func, items), each call in a limited child process; failures become
    `on_failure(item, Failure)`. Results are yielded in input order.

    Items travel in chunks (fewer round trips); a chunk whose child overruns or dies is
    split and its items run again one by one, so only the culprit fails."""
    limits = limits or Limits()
    if limits.memory and not memory_limit_available():
        _notice_once(MEMORY_NOTICE)
    jobs = max(1, jobs)
    if chunk is None:
        size = len(items) if isinstance(items, Sized) else 0
        chunk = max(1, min(8, size // (jobs * 8))) if size else 4
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    todo = iter(enumerate(items))
    retry: deque[tuple[int, Any]] = deque()
    workers = [_Worker(ctx, func, limits, initializer, initargs) for _ in range(jobs)]
    done: dict[int, Any] = {}
    next_out = 0

    def feed(w: _Worker) -> None:
        while len(w.tasks) < _QUEUED:
            task = [retry.popleft()] if retry else list(itertools.islice(todo, chunk))
            if not task:
                return
            w.give(task, limits.timeout)

    def lost(i: int, w: _Worker, why: Failure) -> None:
        """A child died or overran: a lone item fails, a chunk is retried item by item;
        the tasks waiting behind it are sent again as they were."""
        running, *waiting = w.tasks
        if len(running) == 1:
            index, item = running[0]
            done[index] = on_failure(item, dataclasses.replace(why, note=w.notes.get(index)))
        else:
            retry.extend(running)
        for task in waiting:
            retry.extend(task)
        w.kill()
        workers[i] = _Worker(ctx, func, limits, initializer, initargs)

    try:
        for w in workers:
            feed(w)
        while True:
            busy = [w for w in workers if w.tasks]
            if not busy:
                break
            deadline = min(w.deadline for w in busy)
            ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - time.monotonic()))
            for i, w in enumerate(list(workers)):
                if not w.tasks:
                    continue
                if w.conn in ready:
                    try:
                        results = w.conn.recv()
                    except (EOFError, OSError):
                        lost(i, w, Failure("died", "读取进程异常退出（可能内存超限）"))
                    else:
                        if isinstance(results, tuple):  # a note on the item in hand
                            w.notes[results[1]] = results[2]
                            continue
                        items_of = dict(w.done(limits.timeout))
                        for index, ok, value in results:
                            noted = w.notes.pop(index, None)
                            done[index] = value if ok else on_failure(
                                items_of[index], dataclasses.replace(value, note=noted))
                elif time.monotonic() > w.deadline:
                    lost(i, w, Failure("timeout", f"超过 {limits.timeout:g} 秒仍未读完"))
                else:
                    continue
                feed(workers[i])
            while next_out in done:
                yield done.pop(next_out)
                next_out += 1
    finally:
        for w in workers:
            w.stop()
