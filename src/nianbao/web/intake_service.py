"""Uploads judged by `collect` in one intake process, many uploads per run.

The server's threads never fork: a process forked from a threaded one can hang on a lock
another thread held. So `collect` runs in a process of its own (started with spawn, with
no threads), which forks collect's sandboxed readers as the command line does. Uploads
that arrive while a run is going on wait and go together in the next run (one ledger
transaction and one disk sync for all of them), which is what makes many uploads at once
fast.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import queue
import threading
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from nianbao.fsutil import storable

BATCH = 64


@dataclass
class _Job:
    path: str
    unit: str | None
    op: str = "collect"       # or "revalidate" (path and unit unused)
    done: threading.Event = field(default_factory=threading.Event)
    item: dict[str, Any] | None = None
    error: str | None = None


class IntakeError(RuntimeError):
    """The intake process failed (not the file's fault); the upload was not taken."""


def serve_intakes(root: str, jobs: int, conn: Connection) -> None:
    """The intake process: run `collect` for each batch of (path, unit) it is sent and
    answer with the report's item of every path."""
    from nianbao.collect.intake import collect
    from nianbao.collect.judging import now_iso
    from nianbao.collect.ledger import Ledger
    from nianbao.collect.revalidate import revalidate
    from nianbao.collect.workspace import open_workspace

    class RosterKept(Ledger):
        """The roster is synced when the portal starts and does not change while it runs:
        read it once, not twice per run (10,000 units took most of a one-file run)."""

        kept: list[Any] | None = None

        def units(self) -> list[Any]:
            if self.kept is None:
                self.kept = super().units()
            return list(self.kept)

    ws = open_workspace(Path(root))
    with RosterKept(ws.ledger_target, workspace_id=ws.ledger_id) as ledger:
        warm_up(ws, ledger)
        while True:
            try:
                batch: Any = conn.recv()
            except (EOFError, OSError):
                return
            if batch == "revalidate":
                try:
                    result = revalidate(ws, ledger, jobs=jobs)
                    conn.send({"revalidate": result.to_dict()})
                except Exception as exc:
                    conn.send({"error": f"{type(exc).__name__}: {exc}"})
                continue
            try:
                report = collect(ws, ledger, [Path(p) for p, _ in batch],
                                 jobs=min(jobs, len(batch)),  # no idle reader to fork
                                 received_at=now_iso(),
                                 expected_units={p: u for p, u in batch if u})
                conn.send({"items": {it["path"]: it for it in report.items}})
            except Exception as exc:  # reported to the waiting uploads as our failure
                conn.send({"error": f"{type(exc).__name__}: {exc}"})


def warm_up(ws: Any, ledger: Any) -> None:
    """Judge one blank copy here, into a scratch folder, so that what reading and feedback
    prepare once per process (form, layout, the feedback package) is ready before collect
    forks its readers: each run's readers then start warm instead of preparing it again."""
    import tempfile

    from nianbao.collect.distribute import issue_options
    from nianbao.collect.intake import intake_path
    from nianbao.collect.judging import Context
    from nianbao.render.workbook import render
    from nianbao.spec.layout import layout_for
    from nianbao.spec.load import load_form

    units = {u.code: u.name for u in ledger.units()}
    if not units:
        return
    code, name = next(iter(units.items()))
    layout = layout_for(load_form(ws.config.form))
    data = render(layout, issue_options(layout, {"unit.code": code, "unit.name": name,
                                                 "year": ws.config.year}, ws.key,
                                        ws.config.office))
    with tempfile.TemporaryDirectory(prefix="nianbao-warm-") as scratch:
        path = Path(scratch) / "warm.xlsx"
        path.write_bytes(data)
        ctx = Context.of(ws, units)
        intake_path(str(path), replace(ctx, store_dir=scratch, feedback_dir=scratch))


class IntakeService:
    """Hands uploads to the intake process, batched, and waits for each one's result."""

    def __init__(self, root: Path, jobs: int = 2) -> None:
        self.root, self.jobs = root, jobs
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._proc: Any = None
        self._conn: Connection | None = None
        self._thread = threading.Thread(target=self._loop, name="nianbao-intake", daemon=True)
        self._thread.start()

    def submit(self, paths: list[Path], unit: str | None, timeout: float = 600.0
               ) -> list[dict[str, Any]]:
        """Judge and store files (blocking); the report item `collect` gives for each."""
        jobs = [_Job(str(p), unit) for p in paths]
        for job in jobs:
            self._queue.put(job)
        for job in jobs:
            if not job.done.wait(timeout):
                raise IntakeError("审核超时")
            if job.error or job.item is None:
                raise IntakeError(job.error or "审核进程没有给出结果")
        return [job.item for job in jobs if job.item is not None]

    def revalidate(self, timeout: float = 3600.0) -> dict[str, Any]:
        """Run `revalidate` in the intake process (between upload batches)."""
        job = _Job("", None, "revalidate")
        self._queue.put(job)
        if not job.done.wait(timeout):
            raise IntakeError("重新校验超时")
        if job.error or job.item is None:
            raise IntakeError(job.error or "审核进程没有给出结果")
        return job.item

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            self._proc.join(timeout=30)

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=serve_intakes, args=(str(self.root), self.jobs, child),
                                 name="nianbao-intake")  # not daemonic: it forks readers
        self._proc.start()
        child.close()
        self._conn = parent
        # at exit, before multiprocessing joins its children: closing the pipe ends it
        atexit.register(parent.close)

    def _loop(self) -> None:
        self._start()  # ready before the first upload arrives
        while True:
            first = self._queue.get()
            if first is None:
                return
            if first.op == "revalidate":
                self._run([first], "revalidate")
                continue
            batch = [first]
            while len(batch) < BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None or job.op != "collect":
                    self._queue.put(job)  # handled after this batch
                    break
                batch.append(job)
            self._run(batch, [(j.path, j.unit) for j in batch])

    def _run(self, batch: list[_Job], message: Any) -> None:
        try:
            if self._proc is None or not self._proc.is_alive():
                self._start()
            assert self._conn is not None
            self._conn.send(message)
            answer = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._proc = None  # it died: started again for the next batch
            answer = {"error": f"审核进程意外退出（{type(exc).__name__}）"}
        for job in batch:
            job.item = answer.get("revalidate") if job.op == "revalidate" else \
                answer.get("items", {}).get(storable(job.path))
            job.error = answer.get("error")
            job.done.set()
