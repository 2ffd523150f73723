"""Drive a real LibreOffice Calc to fill, recalculate and save workbooks (for tests and scripts).

The venv Python cannot ``import uno``; the system Python (Debian ``python3-uno``) can. So this
client starts :mod:`nianbao.testing.lo_worker` under ``/usr/bin/python3`` and talks JSON lines
to it over pipes; the worker starts one headless ``soffice.bin`` (private profile, unique UNO
pipe, own process group) and keeps it running across requests, so a fill + recalc + save costs
about a tenth of a second.

    with LibreOffice() as lo:
        lo.fill(src, dst, [Edit("表一", "D7", 12)])
        view = lo.read(dst, [("表一", "D9")])[("表一", "D9")]

Every document is opened from a private copy (the source file is never touched, and a killed
office cannot leave ``.~lock.*#`` files beside it); output is written to a temporary file in
the destination directory and moved into place atomically.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import itertools
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FORMATS",
    "INSTALL_HINT",
    "CellView",
    "Edit",
    "LibreOffice",
    "LibreOfficeError",
    "find_soffice",
    "libreoffice_available",
    "require_libreoffice",
]

INSTALL_HINT = "apt-get install -y --no-install-recommends libreoffice-calc-nogui python3-uno"

#: Output formats accepted by :meth:`LibreOffice.fill` (value: LibreOffice export filter).
FORMATS: dict[str, str] = {
    "xlsx": "Calc MS Excel 2007 XML",
    "xls": "MS Excel 97",
    "ods": "calc8",
    "csv": "Text - txt - csv (StarCalc)",
}

EDIT_KINDS = frozenset({"auto", "formula", "string", "typed"})

_WORKER = Path(__file__).with_name("lo_worker.py")
_DEFAULT_UNO_PYTHON = "/usr/bin/python3"
_CONNECT_TIMEOUT = 30.0
_CELL_RE = re.compile(r"^\$?[A-Za-z]{1,3}\$?[1-9][0-9]{0,6}$")


class LibreOfficeError(RuntimeError):
    """LibreOffice is missing, failed to start, or could not carry out a request."""


@dataclass(frozen=True)
class Edit:
    """One cell edit. ``cell`` is an A1 address such as ``"D7"``.

    kind: ``"auto"`` (numbers via setValue, str via setString, None clears), ``"formula"``
    (setFormula, value like ``"=5+3"``), ``"string"`` (always text, e.g. a number stored as
    text), ``"typed"`` (as if a user typed the text: ``"12"`` becomes a number, ``"abc"`` text).
    ``None`` (or ``""``) clears the cell whatever the kind.
    """

    sheet: str
    cell: str
    value: int | float | str | None
    kind: str = "auto"

    def __post_init__(self) -> None:
        if self.kind not in EDIT_KINDS:
            raise ValueError(f"Edit.kind must be one of {sorted(EDIT_KINDS)}, not {self.kind!r}")
        if not _CELL_RE.match(self.cell):
            raise ValueError(f"Edit.cell must be a single A1 address, not {self.cell!r}")
        if self.value is not None and not isinstance(self.value, int | float | str):
            raise TypeError(f"Edit.value must be int, float, str or None, not {self.value!r}")
        if self.kind == "formula" and not isinstance(self.value, str | None):
            raise TypeError(f"a formula edit needs a str value, not {self.value!r}")

    def as_json(self) -> list[Any]:
        """The wire form ``[sheet, cell, value, kind]``."""
        return [self.sheet, self.cell, self.value, self.kind]


@dataclass(frozen=True)
class CellView:
    """A cell as Calc shows it: ``type`` is ``EMPTY``, ``VALUE``, ``TEXT`` or ``FORMULA``.

    ``error`` is Calc's error code for a formula cell in error (e.g. 532 for #DIV/0!), else 0.
    """

    value: float
    string: str
    formula: str
    type: str
    error: int = 0


# -- discovery -------------------------------------------------------------------------------


def find_soffice() -> str | None:
    """Path of the ``soffice`` program (``$NIANBAO_SOFFICE`` first), or None if not found."""
    env = os.environ.get("NIANBAO_SOFFICE")
    candidates: list[str] = [env] if env else []
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    candidates += [
        "/usr/lib/libreoffice/program/soffice",
        "/usr/local/lib/libreoffice/program/soffice",
        *sorted(glob.glob("/opt/libreoffice*/program/soffice"), reverse=True),
        "/Applications/LibreOffice.app/Contents/MacOS/soffice",
    ]
    for cand in candidates:
        path = Path(cand)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.resolve())
    return None


def _soffice_bin(soffice: str) -> str:
    """The real binary beside the ``soffice`` launcher script, if there is one."""
    real = Path(soffice).with_name("soffice.bin")
    return str(real) if real.is_file() else soffice


def _uno_python() -> str:
    return os.environ.get("NIANBAO_UNO_PYTHON", _DEFAULT_UNO_PYTHON)


@functools.lru_cache(maxsize=8)
def _python_has_uno(python: str) -> bool:
    try:
        res = subprocess.run(
            [python, "-I", "-c", "import uno"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return res.returncode == 0


def libreoffice_available() -> bool:
    """True if soffice is installed and the UNO Python (``/usr/bin/python3``) can import uno."""
    return find_soffice() is not None and _python_has_uno(_uno_python())


def require_libreoffice() -> None:
    """Raise LibreOfficeError, saying how to install it, unless LibreOffice can be driven."""
    problems = []
    if find_soffice() is None:
        problems.append("no soffice program found (PATH, /usr/lib/libreoffice, /opt)")
    python = _uno_python()
    if not _python_has_uno(python):
        problems.append(f"{python} cannot 'import uno'")
    if problems:
        raise LibreOfficeError(
            "LibreOffice is not available: "
            + "; ".join(problems)
            + f". Install it with: {INSTALL_HINT}"
            + " (set NIANBAO_SKIP_LIBREOFFICE=1 to skip the tests that need it)"
        )


# -- process handling ------------------------------------------------------------------------


def _proc_start_time(pid: int) -> str | None:
    """Start time of a process (field 22 of /proc/PID/stat) to guard against pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _proc_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return stat[stat.rfind(")") + 2 :].startswith("Z")  # a zombie is as good as gone


def _kill_group(pid: int, start_time: str | None, grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL, the process group led by ``pid`` (if it is still that process)."""
    if start_time is not None and _proc_start_time(pid) not in (start_time, None):
        return  # the pid now belongs to someone else
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if _proc_gone(pid):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not _proc_gone(pid):
            time.sleep(0.02)


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        data = path.read_bytes()[-limit:]
    except OSError:
        return ""
    return data.decode("utf-8", "replace").strip()


class _WorkerDied(Exception):
    pass


class _Runtime:
    """Worker + soffice processes of one LibreOffice instance (no reference to the instance,
    so that a weakref finalizer can clean up after a forgotten instance)."""

    def __init__(self, base: Path, owns_base: bool) -> None:
        self.base = base
        self.owns_base = owns_base
        self.profile = base / "profile"
        self.tmp = base / "tmp"
        self.worker_log = base / "worker.log"
        self.soffice_log = base / "soffice.log"
        self.worker: subprocess.Popen[bytes] | None = None
        self.soffice_pid: int | None = None
        self.soffice_start: str | None = None
        self.sockets: list[str] = []
        self.buf = b""
        self.ids = itertools.count(1)
        self.starts = 0

    def alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def start(self, startup_timeout: float) -> None:
        self.profile.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (self.profile / ".lock").unlink()  # left by a killed office
        soffice = find_soffice()
        if soffice is None:
            require_libreoffice()
            raise LibreOfficeError("soffice not found")  # pragma: no cover
        pipe = f"nianbao_lo_{os.getpid()}_{uuid.uuid4().hex[:16]}"
        cmd = [
            _uno_python(),
            "-I",
            str(_WORKER),
            "--soffice-bin",
            _soffice_bin(soffice),
            "--profile",
            str(self.profile),
            "--pipe",
            pipe,
            "--tmpdir",
            str(self.tmp),
            "--soffice-log",
            str(self.soffice_log),
            "--connect-timeout",
            str(_CONNECT_TIMEOUT),
        ]
        if self.owns_base:
            cmd += ["--orphan-cleanup", str(self.base)]
        self.starts += 1
        self.buf = b""
        with open(self.worker_log, "ab") as log:
            try:
                self.worker = subprocess.Popen(
                    cmd,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as e:
                raise LibreOfficeError(f"cannot start the LibreOffice worker: {e}") from e
        try:
            ready = self.receive(time.monotonic() + startup_timeout)
        except (_WorkerDied, TimeoutError) as e:
            what = "timed out" if isinstance(e, TimeoutError) else "died"
            self.stop(graceful=False)
            raise LibreOfficeError(
                f"LibreOffice worker {what} while starting soffice\n{self.logs()}"
            ) from None
        if not ready.get("ok"):
            self.stop(graceful=False)
            raise LibreOfficeError(
                f"LibreOffice failed to start: {ready.get('error')}\n{self.logs()}"
            )
        self.soffice_pid = ready.get("pid")
        self.sockets = [str(p) for p in ready.get("sockets") or []]
        if self.soffice_pid:
            self.soffice_start = _proc_start_time(self.soffice_pid)

    def logs(self) -> str:
        parts = []
        for path in (self.worker_log, self.soffice_log):
            text = _tail(path)
            if text:
                parts.append(f"--- {path.name} (tail) ---\n{text}")
        return "\n".join(parts)

    def send(self, msg: dict[str, Any]) -> None:
        assert self.worker is not None and self.worker.stdin is not None
        data = (json.dumps(msg, ensure_ascii=True) + "\n").encode("ascii")
        try:
            self.worker.stdin.write(data)
            self.worker.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as e:
            raise _WorkerDied(str(e)) from e

    def receive(self, deadline: float) -> dict[str, Any]:
        assert self.worker is not None and self.worker.stdout is not None
        fd = self.worker.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self.buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                if not sel.select(remaining):
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise _WorkerDied("worker closed its output")
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        try:
            return json.loads(line)
        except ValueError as e:
            raise _WorkerDied(f"garbled answer from worker: {line[:200]!r}") from e

    def call(self, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        rid = next(self.ids)
        self.send({"id": rid, **msg})
        deadline = time.monotonic() + timeout
        while True:
            answer = self.receive(deadline)
            if answer.get("id") == rid:
                return answer

    def stop(self, graceful: bool = True) -> None:
        """Ask the worker to quit (unless not ``graceful``: then kill it at once); then make
        sure that the worker and soffice process groups are gone."""
        worker = self.worker
        if worker is not None:
            if not graceful and worker.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(worker.pid, signal.SIGKILL)
            elif worker.poll() is None:
                with contextlib.suppress(_WorkerDied, TimeoutError, OSError, ValueError):
                    self.send({"id": 0, "op": "quit"})
                    self.receive(time.monotonic() + 10.0)
            for stream in (worker.stdin, worker.stdout):
                with contextlib.suppress(OSError, ValueError):
                    if stream is not None:
                        stream.close()
            try:
                worker.wait(5.0)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(worker.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(5.0)
            self.worker = None
        if self.soffice_pid:
            _kill_group(self.soffice_pid, self.soffice_start)
            self.soffice_pid = None
            self.soffice_start = None
        # a killed office leaves its pipe files in /tmp (the worker removes them normally)
        for sock in self.sockets:
            if Path(sock).name.startswith("OSL_PIPE_") and Path(sock).is_socket():
                with contextlib.suppress(OSError):
                    Path(sock).unlink()
        self.sockets = []

    def shutdown(self) -> None:
        """Stop everything and remove the instance's directory (finalizer; idempotent)."""
        try:
            self.stop()
        finally:
            if self.owns_base:
                shutil.rmtree(self.base, ignore_errors=True)


class LibreOffice:
    """One headless LibreOffice (one ``soffice.bin``) kept running across requests.

    A context manager; also closed by :meth:`close`, or at garbage collection / interpreter exit
    if forgotten. Thread-safe (requests are serialised). ``timeout`` bounds each request.
    """

    def __init__(self, workdir: Path | None = None, timeout: float = 120.0) -> None:
        require_libreoffice()
        self.timeout = timeout
        if workdir is not None:
            Path(workdir).mkdir(parents=True, exist_ok=True)
        # a private directory even inside a shared workdir: never two offices on one profile
        base = Path(tempfile.mkdtemp(prefix="nianbao-lo-", dir=workdir))
        self._rt = _Runtime(base, owns_base=True)
        self._lock = threading.RLock()
        self._closed = False
        self._finalizer = weakref.finalize(self, _Runtime.shutdown, self._rt)
        try:
            self._rt.start(self._startup_timeout())
        except BaseException:
            self._closed = True
            self._finalizer()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> LibreOffice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop soffice and the worker and remove the private directory (idempotent)."""
        with self._lock:
            self._closed = True
            self._finalizer()

    @property
    def soffice_pid(self) -> int | None:
        """Pid of the running soffice.bin (it leads its own process group)."""
        return self._rt.soffice_pid

    @property
    def worker_pid(self) -> int | None:
        """Pid of the running worker process."""
        worker = self._rt.worker
        return worker.pid if worker is not None and worker.poll() is None else None

    @property
    def starts(self) -> int:
        """How many times the worker was started (1 unless it had to be restarted)."""
        return self._rt.starts

    # -- requests --------------------------------------------------------------------------

    def _request(self, op: str, **payload: Any) -> Any:
        """Send one request; restart a dead worker/office and retry once (requests are
        idempotent: a fill always starts again from the unchanged source)."""
        with self._lock:
            if self._closed:
                raise LibreOfficeError("this LibreOffice instance is closed")
            rt = self._rt
            for attempt in (1, 2):
                if not rt.alive():
                    rt.stop()
                    rt.start(self._startup_timeout())
                try:
                    answer = rt.call({"op": op, **payload}, self.timeout)
                except TimeoutError:
                    logs = rt.logs()
                    rt.stop(graceful=False)
                    raise LibreOfficeError(
                        f"LibreOffice did not answer {op!r} within {self.timeout:g} s "
                        f"(killed; it restarts on the next request)\n{logs}"
                    ) from None
                except _WorkerDied as e:
                    error = f"the LibreOffice worker died during {op!r} ({e})"
                else:
                    if answer.get("ok"):
                        return answer.get("result")
                    if not answer.get("fatal"):
                        raise LibreOfficeError(str(answer.get("error")))
                    error = f"LibreOffice went away during {op!r}: {answer.get('error')}"
                logs = rt.logs()
                rt.stop()
                if attempt == 2:
                    raise LibreOfficeError(
                        f"{error}, twice in a row; it restarts on the next request\n{logs}"
                    )
            raise AssertionError("unreachable")  # pragma: no cover

    def _startup_timeout(self) -> float:
        return max(self.timeout, 2 * _CONNECT_TIMEOUT + 30.0)

    def ping(self) -> None:
        """Round trip to the worker (starting it again if it died)."""
        self._request("ping")

    def fill(
        self,
        src: Path,
        dst: Path,
        edits: Sequence[Edit],
        *,
        recalc: bool = True,
        fmt: str = "xlsx",
    ) -> None:
        """Open a copy of ``src``, apply ``edits``, recalculate (``recalc``), save to ``dst``.

        ``fmt``: ``xlsx``, ``xls``, ``ods`` or ``csv`` (csv holds the first/active sheet only).
        Locked cells and protected or hidden sheets are edited all the same.
        """
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {sorted(FORMATS)}, not {fmt!r}")
        src = Path(src).resolve()
        dst = Path(dst).absolute()
        if not src.is_file():
            raise FileNotFoundError(f"no such workbook: {src}")
        for e in edits:
            if not isinstance(e, Edit):
                raise TypeError(f"edits must be Edit objects, not {e!r}")
        self._request(
            "fill",
            src=str(src),
            dst=str(dst),
            edits=[e.as_json() for e in edits],
            recalc=bool(recalc),
            fmt=fmt,
        )

    def recalc_save(self, src: Path, dst: Path, fmt: str = "xlsx") -> None:
        """Open a copy of ``src``, recalculate everything and save it to ``dst``."""
        self.fill(src, dst, [], recalc=True, fmt=fmt)

    def read(
        self,
        path: Path,
        cells: Sequence[tuple[str, str]],
        *,
        recalc: bool = False,
    ) -> dict[tuple[str, str], CellView]:
        """What Calc shows in ``cells`` ((sheet, A1) pairs) after loading ``path``.

        Without ``recalc`` formula cells show the results cached in the file (Calc's default
        for xlsx is not to recalculate on load); with it, everything is recalculated first.
        """
        path = Path(path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no such workbook: {path}")
        keys = [(str(sheet), str(cell)) for sheet, cell in cells]
        result = self._request(
            "read", path=str(path), cells=[list(k) for k in keys], recalc=bool(recalc)
        )
        return {
            (sheet, cell): CellView(
                value=float(v["value"]),
                string=str(v["string"]),
                formula=str(v["formula"]),
                type=str(v["type"]),
                error=int(v.get("error", 0)),
            )
            for sheet, cell, v in result
        }
