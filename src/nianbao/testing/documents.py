"""Published reports for tests and benchmarks: figures that balance, and Word files turned
into PDF by LibreOffice Writer as offices do (``soffice --headless --convert-to pdf``).

    pdfs = convert_to_pdf([Path("a.docx"), Path("b.docx")], Path("out"))

One soffice process converts a whole batch (its start-up is most of the cost), with a
private profile in a temporary folder and in its own process group, killed on a timeout.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from nianbao.spec.model import AMOUNT, Form
from nianbao.testing.libreoffice import LibreOfficeError, find_soffice

WRITER_HINT = "apt-get install -y --no-install-recommends libreoffice-writer-nogui"
_WRITER_LIBRARY = "libswlo.so"   # Writer's own library, beside soffice.bin


def writer_available() -> bool:
    """True if soffice is installed with its Writer component."""
    soffice = find_soffice()
    return soffice is not None and (Path(soffice).parent / _WRITER_LIBRARY).is_file()


def convert_to_pdf(paths: Sequence[Path], outdir: Path, timeout: float = 600.0) -> list[Path]:
    """Each document (.docx, .html, an image) as a PDF in `outdir`, by one soffice run."""
    soffice = find_soffice()
    if soffice is None or not writer_available():
        raise LibreOfficeError(f"LibreOffice Writer is not available. Install it with: "
                               f"{WRITER_HINT}")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nianbao-writer-") as profile:
        cmd = [soffice, f"-env:UserInstallation=file://{profile}", "--headless",
               "--norestore", "--nolockcheck", "--convert-to", "pdf", "--outdir", str(outdir),
               *(str(p) for p in paths)]
        env = {**os.environ, "HOME": profile}
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise LibreOfficeError(f"soffice did not convert {len(paths)} files in "
                                   f"{timeout:.0f} s") from None
    pdfs = [outdir / (Path(p).stem + ".pdf") for p in paths]
    missing = [p.name for p in pdfs if not p.is_file()]
    if proc.returncode != 0 or missing:
        raise LibreOfficeError(f"soffice failed (exit {proc.returncode}, missing {missing}): "
                               f"{(out + err).decode(errors='replace')[-2000:]}")
    return pdfs


def balanced_values(form: Form, seed: int) -> dict[str, Any]:
    """Every figure of the form, varied by `seed`, with every current-year rule holding:
    outcomes and applicants drawn, totals summed, 一+二 = 三（七）+四 by construction."""
    rng = random.Random(seed)
    values: dict[str, Any] = {}
    for f in form.fields.values():
        if f.table == "t2" and f.numeric:
            values[f.id] = (Decimal(rng.randint(0, 99999)) / 10 if f.kind == AMOUNT
                            else rng.randint(0, 500))
    block = form.table("t3").blocks[0]
    cols = [c.id for c in block.columns if c.id != "total"]
    rows = [r.id for r in block.rows]
    outcomes = rows[2:-2]          # between 二、上年结转 and （七）总计
    for r in outcomes:
        for c in cols:
            values[f"t3.{r}.{c}"] = rng.choice((0, 0, rng.randint(1, 60)))
    for c in cols:
        total = sum(values[f"t3.{r}.{c}"] for r in outcomes)
        carried = rng.randint(0, 9)
        forward = carried + rng.randint(0, 5)
        values.update({f"t3.outcome_total.{c}": total, f"t3.carried_over.{c}": carried,
                       f"t3.carry_forward.{c}": forward,
                       f"t3.new.{c}": total + forward - carried})
    for r in rows:
        values[f"t3.{r}.total"] = sum(values[f"t3.{r}.{c}"] for c in cols)
    for b in ("review", "suit_direct", "suit_after_review"):
        parts = {p: rng.randint(0, 12) for p in ("upheld", "corrected", "other", "pending")}
        values.update({f"t4.{b}.{p}": v for p, v in parts.items()})
        values[f"t4.{b}.total"] = sum(parts.values())
    return values
