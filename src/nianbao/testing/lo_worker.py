"""LibreOffice worker: serves JSON-line requests on stdin, drives one headless soffice via UNO.

Run by a Python that can ``import uno`` (Debian: ``/usr/bin/python3`` with ``python3-uno``);
started by :mod:`nianbao.testing.libreoffice`. Standard library and ``uno`` only: this file must
not import nianbao or any third-party package.

Protocol: one JSON object per line. After start-up the worker writes
``{"event": "ready", "ok": true, "pid": <soffice pid>}`` (or ``"ok": false`` and ``"error"``).
Each request ``{"id": n, "op": ..., ...}`` gets exactly one answer ``{"id": n, "ok": true,
"result": ...}`` or ``{"id": n, "ok": false, "error": "...", "fatal": bool}``. ``fatal`` means
the office is gone and the worker is exiting. Ops: ``ping``, ``fill``, ``read``, ``quit``.
Everything else (logs, tracebacks, anything a library prints) goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from typing import Any

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]
from com.sun.star.connection import NoConnectException  # type: ignore[import-not-found]

FILTERS = {
    "xlsx": ("Calc MS Excel 2007 XML", None),
    "xls": ("MS Excel 97", None),
    "ods": ("calc8", None),
    # separator ',', text delimiter '"', UTF-8, from line 1
    "csv": ("Text - txt - csv (StarCalc)", "44,34,76,1"),
}

# com.sun.star.sheet.CellFlags: VALUE | DATETIME | STRING | FORMULA
_CLEAR_FLAGS = 1 | 2 | 4 | 16

# soffice.bin exits with this status after creating a fresh user profile; start it again.
_EXIT_RESTART = 81


def log(msg: str) -> None:
    """Write one line to stderr."""
    sys.stderr.write(f"[lo_worker {os.getpid()}] {msg}\n")
    sys.stderr.flush()


def pv(name: str, value: object) -> PropertyValue:
    """A com.sun.star.beans.PropertyValue."""
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def _set_pdeathsig() -> None:
    """In the soffice child: get SIGKILL if the worker dies (Linux only, best effort)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class RequestError(Exception):
    """A request that cannot be carried out (bad input); the office itself is fine."""


class Office:
    """One soffice.bin process and the UNO connection to it."""

    def __init__(
        self,
        soffice_bin: str,
        profile: str,
        pipe: str,
        tmpdir: str,
        soffice_log: str,
        connect_timeout: float,
    ) -> None:
        self.soffice_bin = soffice_bin
        self.profile = profile
        self.pipe = pipe
        self.tmpdir = tmpdir
        self.soffice_log = soffice_log
        self.connect_timeout = connect_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.desktop = None
        self.sockets: list[str] = []

    # -- process ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        profile_url = uno.systemPathToFileUrl(os.path.abspath(self.profile))
        cmd = [
            self.soffice_bin,
            f"-env:UserInstallation={profile_url}",
            "--headless",
            "--invisible",
            "--nologo",
            "--norestore",
            "--nodefault",
            "--nofirststartwizard",
            f"--accept=pipe,name={self.pipe};urp;",
        ]
        with open(self.soffice_log, "ab") as logf:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                start_new_session=True,
                close_fds=True,
                preexec_fn=_set_pdeathsig if sys.platform.startswith("linux") else None,
            )
        log(f"started soffice.bin pid {self.proc.pid}")

    def start(self) -> None:
        """Start soffice.bin and connect to it (restarting after a first-start exit 81)."""
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local
        )
        url = f"uno:pipe,name={self.pipe};urp;StarOffice.ComponentContext"
        restarts = 0
        self._spawn()
        deadline = time.monotonic() + self.connect_timeout
        while True:
            assert self.proc is not None
            rc = self.proc.poll()
            if rc is not None:
                if rc == _EXIT_RESTART and restarts < 3:
                    restarts += 1
                    log("soffice.bin exited with 81 (fresh profile): starting it again")
                    self._spawn()
                    deadline = time.monotonic() + self.connect_timeout
                    continue
                raise RuntimeError(f"soffice.bin exited with status {rc} before accepting")
            try:
                ctx = resolver.resolve(url)
                break
            except NoConnectException:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"soffice.bin did not accept on pipe {self.pipe!r} "
                        f"within {self.connect_timeout:.0f} s"
                    ) from None
                time.sleep(0.05)
        self.desktop = ctx.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", ctx
        )
        self.sockets = listening_sockets(self.proc.pid)
        configure(ctx)
        log(
            f"connected to soffice.bin pid {self.proc.pid} on pipe {self.pipe}; "
            f"pipe files {self.sockets}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, graceful: bool = True) -> None:
        """Stop soffice.bin: ``Desktop.terminate()`` if possible, else SIGTERM, then SIGKILL.

        terminate() takes ~30 ms and removes the office's pipe files in /tmp; a signalled office
        leaves them behind, so those recorded at start-up are removed here as well.
        """
        proc = self.proc
        if proc is None:
            return
        desktop, self.desktop = self.desktop, None
        if graceful and desktop is not None and proc.poll() is None:
            with contextlib.suppress(Exception):  # the bridge goes down as the office exits
                desktop.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5.0)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5.0)
        # anything left in the group (soffice.bin normally has no children)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for path in self.sockets:
            with contextlib.suppress(OSError):
                os.unlink(path)
        log(f"soffice.bin pid {proc.pid} stopped (status {proc.poll()})")

    # -- documents -------------------------------------------------------------------------

    def _load(self, path: str):
        url = uno.systemPathToFileUrl(os.path.abspath(path))
        props = (
            pv("Hidden", True),
            pv("MacroExecutionMode", 0),  # NEVER_EXECUTE
            pv("UpdateDocMode", 0),  # NO_UPDATE: no external links
        )
        try:
            doc = self.desktop.loadComponentFromURL(url, "_blank", 0, props)
        except Exception as e:
            if not self.alive():
                raise
            raise RequestError(f"cannot open {path}: {_uno_msg(e)}") from e
        if doc is None:
            raise RequestError(f"cannot open {path}: LibreOffice could not load it")
        if not doc.supportsService("com.sun.star.sheet.SpreadsheetDocument"):
            _close(doc)
            raise RequestError(f"{path} is not a spreadsheet")
        return doc

    def _private_copy(self, src: str) -> tuple[str, str]:
        """Copy src into a fresh private directory (soffice may leave lock files beside it)."""
        if not os.path.isfile(src):
            raise RequestError(f"no such file: {src}")
        job = tempfile.mkdtemp(prefix="job-", dir=self.tmpdir)
        copy = os.path.join(job, os.path.basename(src))
        shutil.copyfile(src, copy)
        return job, copy

    def fill(self, req: dict) -> None:
        src, dst = req["src"], req["dst"]
        fmt = req.get("fmt", "xlsx")
        if fmt not in FILTERS:
            raise RequestError(f"unknown format {fmt!r}; known: {sorted(FILTERS)}")
        filter_name, filter_options = FILTERS[fmt]
        dst_dir = os.path.dirname(os.path.abspath(dst))
        if not os.path.isdir(dst_dir):
            raise RequestError(f"destination directory does not exist: {dst_dir}")
        job, copy = self._private_copy(src)
        part = os.path.join(dst_dir, f".{os.path.basename(dst)}.{uuid.uuid4().hex[:12]}.part")
        try:
            doc = self._load(copy)
            try:
                apply_edits(doc, req.get("edits", []))
                if req.get("recalc", True):
                    doc.calculateAll()
                props = [pv("FilterName", filter_name), pv("Overwrite", True)]
                if filter_options is not None:
                    props.append(pv("FilterOptions", filter_options))
                doc.storeToURL(uno.systemPathToFileUrl(part), tuple(props))
            finally:
                _close(doc)
            os.replace(part, dst)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
            shutil.rmtree(job, ignore_errors=True)

    def read(self, req: dict) -> list:
        job, copy = self._private_copy(req["path"])
        try:
            doc = self._load(copy)
            try:
                if req.get("recalc", False):
                    doc.calculateAll()
                out = []
                for sheet_name, cell_name in req["cells"]:
                    cell = _cell(doc, sheet_name, cell_name)
                    out.append([sheet_name, cell_name, _view(cell)])
                return out
            finally:
                _close(doc)
        finally:
            shutil.rmtree(job, ignore_errors=True)


# Profile settings (best effort). Recalc on load "never" is LibreOffice's default, made explicit
# so that ``read`` shows the cached results; ODF thumbnails cost ~100 ms per .ods save.
SETTINGS = {
    "/org.openoffice.Office.Calc/Formula/Load": {"OOXMLRecalcMode": 1, "ODFRecalcMode": 1},
    "/org.openoffice.Office.Common/Save/Document": {"GenerateThumbnail": False},
}


def configure(ctx) -> None:
    """Apply SETTINGS to the office's (private) profile."""
    provider = ctx.ServiceManager.createInstanceWithContext(
        "com.sun.star.configuration.ConfigurationProvider", ctx
    )
    for node, values in SETTINGS.items():
        try:
            access = provider.createInstanceWithArguments(
                "com.sun.star.configuration.ConfigurationUpdateAccess", (pv("nodepath", node),)
            )
            for name, value in values.items():
                access.setPropertyValue(name, value)
            access.commitChanges()
        except Exception as e:
            log(f"could not set {node}: {_uno_msg(e)}")


def listening_sockets(pid: int) -> list[str]:
    """Paths of the OSL_PIPE_* unix sockets that process ``pid`` has open (Linux /proc)."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        paths = []
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
            next(f, None)
            for line in f:
                parts = line.split()
                if len(parts) >= 8 and parts[6] in inodes:
                    path = parts[7]
                    if os.path.basename(path).startswith("OSL_PIPE_") and path not in paths:
                        paths.append(path)
        return paths
    except OSError:
        return []


def _uno_msg(e: BaseException) -> str:
    msg = getattr(e, "Message", None) or str(e)
    return f"{type(e).__name__}: {msg}"


def _close(doc) -> None:
    try:
        doc.close(True)
    except Exception:
        with contextlib.suppress(Exception):
            doc.dispose()


def _cell(doc, sheet_name: str, cell_name: str):
    sheets = doc.Sheets
    if not sheets.hasByName(sheet_name):
        raise RequestError(f"no sheet {sheet_name!r}; sheets are {list(sheets.ElementNames)!r}")
    sheet = sheets.getByName(sheet_name)
    try:
        rng = sheet.getCellRangeByName(cell_name)
    except Exception as e:
        raise RequestError(f"bad cell address {cell_name!r} on sheet {sheet_name!r}") from e
    a = rng.getRangeAddress()
    if a.StartColumn != a.EndColumn or a.StartRow != a.EndRow:
        raise RequestError(f"{cell_name!r} is a range, not a single cell")
    return rng


def _clear(cell, sheet, where: str) -> None:
    """Empty a cell, even a locked one on a sheet protected without a password."""
    cell.clearContents(_CLEAR_FLAGS)
    if cell.getType().value == "EMPTY":
        return
    # clearContents (unlike setValue/setString) honours protection: lift it for a moment.
    if sheet.isProtected():
        try:
            sheet.unprotect("")
        except Exception:
            raise RequestError(
                f"cannot clear locked cell {where}: its sheet is protected with a password"
            ) from None
        try:
            cell.clearContents(_CLEAR_FLAGS)
        finally:
            sheet.protect("")
    if cell.getType().value != "EMPTY":
        raise RequestError(f"could not clear cell {where}")


def apply_edits(doc, edits: list) -> None:
    """Apply [sheet, cell, value, kind] edits in order."""
    for sheet_name, cell_name, value, kind in edits:
        where = f"{sheet_name}!{cell_name}"
        cell = _cell(doc, sheet_name, cell_name)
        sheet = doc.Sheets.getByName(sheet_name)
        if value is None or (isinstance(value, str) and value == ""):
            # setString("") / setFormula("") are silently ignored on locked cells
            _clear(cell, sheet, where)
        elif kind == "auto":
            if isinstance(value, str):
                cell.setString(value)
            else:
                cell.setValue(float(value))
        elif kind == "string":
            cell.setString(str(value))
        elif kind in ("formula", "typed"):
            cell.setFormula(value if isinstance(value, str) else _num_text(value))
        else:
            raise RequestError(f"unknown edit kind {kind!r} for {where}")


def _num_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _view(cell) -> dict:
    return {
        "value": float(cell.getValue()),
        "string": cell.getString(),
        "formula": cell.getFormula(),
        "type": cell.getType().value,
        "error": int(cell.getError()),
    }


def office_usable(office: Office) -> bool:
    """The office process runs and its bridge still answers."""
    if not office.alive():
        return False
    try:
        office.desktop.getComponents()
        return True
    except Exception:
        return False


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--soffice-bin", required=True)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--pipe", required=True)
    ap.add_argument("--tmpdir", required=True)
    ap.add_argument("--soffice-log", required=True)
    ap.add_argument("--connect-timeout", type=float, default=30.0)
    ap.add_argument(
        "--orphan-cleanup",
        default=None,
        help="directory to remove if stdin closes without a quit request",
    )
    return ap.parse_args(argv)


def _serve(office: Office, stdin: Any, send: Any) -> int | None:
    """Answer requests until quit (0), a dead office (2) or the end of stdin (None)."""
    for line in stdin:
        if not line.strip():
            continue
        rid = None
        try:
            req = json.loads(line)
            rid = req.get("id")
            op = req.get("op")
            if op == "quit":
                office.stop()
                send({"id": rid, "ok": True, "result": None})
                return 0
            if op == "ping":
                result = None
            elif op == "fill":
                result = office.fill(req)
            elif op == "read":
                result = office.read(req)
            else:
                raise RequestError(f"unknown op {op!r}")
            send({"id": rid, "ok": True, "result": result})
        except Exception as e:
            if not isinstance(e, RequestError):
                log(traceback.format_exc())
            # a request error may hide a dying office (a document that "cannot open"
            # because the bridge was disposed under it): then it is fatal, and retried
            fatal = not office_usable(office)
            error = str(e) if isinstance(e, RequestError) else _uno_msg(e)
            send({"id": rid, "ok": False, "error": error, "fatal": fatal})
            if fatal:
                log("office is gone: exiting")
                office.stop()
                return 2
    return None


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)

    # Keep the protocol channel clean: fd 1 becomes stderr for everyone else.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = open(sys.stdin.fileno(), encoding="utf-8", closefd=False)  # noqa: SIM115

    def send(obj: dict) -> None:
        out.write(json.dumps(obj, ensure_ascii=True) + "\n")
        out.flush()

    office = Office(
        args.soffice_bin,
        args.profile,
        args.pipe,
        args.tmpdir,
        args.soffice_log,
        args.connect_timeout,
    )

    def on_signal(signum: int, frame: object) -> None:
        log(f"signal {signum}: stopping")
        office.stop(graceful=False)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    try:
        office.start()
    except BaseException as e:
        log(traceback.format_exc())
        office.stop()
        send({"event": "ready", "ok": False, "error": _uno_msg(e)})
        return 1
    send(
        {
            "event": "ready",
            "ok": True,
            "pid": office.proc.pid if office.proc else None,
            "sockets": office.sockets,
        }
    )

    try:
        code = _serve(office, stdin, send)
        if code is not None:
            return code
        # stdin closed without "quit": the client is gone
        log("stdin closed: stopping")
        office.stop()
        if args.orphan_cleanup:
            shutil.rmtree(args.orphan_cleanup, ignore_errors=True)
    finally:
        office.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
