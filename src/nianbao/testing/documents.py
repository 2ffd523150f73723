"""Published reports for tests and benchmarks: figures that balance, the report as text in
each shape people paste it (`pasted`), and Word files turned into PDF by LibreOffice Writer
as offices do (``soffice --headless --convert-to pdf``).

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
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from nianbao.publish.report import field_id, format_value
from nianbao.publish.source_text import is_figure
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


DEFAULT_UNIT = "示例县农业农村局"
PREAMBLE = "本年度报告依照《政府信息公开工作年度报告格式》的要求编写，数据截至年底。"


def report_rows(form: Form, values: dict[str, Any], unit: str = DEFAULT_UNIT,
                year: int = 2023) -> list[str | list[str]]:
    """The report as paragraphs (str) and table rows (lists of cells), merged cells once."""
    out: list[str | list[str]] = [f"{unit}{year}年政府信息公开工作年度报告", PREAMBLE,
                                  "一、总体情况", "本年度按时更新了公开目录。"]
    fig = lambda fid: format_value(values.get(fid))  # noqa: E731
    for table in form.tables:
        out.append(table.title)
        if table.id == "t2":
            for block in table.blocks:
                out.append([block.title])
                out.append([block.stub or "信息内容", *(c.path[-1] for c in block.columns)])
                for row in block.rows:
                    out.append([row.path[-1], *(fig(field_id(table, row, c))
                                                for c in block.columns)])
        elif table.id == "t3":
            block = table.blocks[0]
            out += [[block.corner, "申请人情况"], ["自然人", "法人或其他组织", "总计"],
                    ["商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"]]
            seen: set[str] = set()
            for row in block.rows:
                labels = [p for p in row.path if p not in seen]
                seen.update(row.path)
                out.append([*labels, *(fig(field_id(table, row, c)) for c in block.columns)])
        else:
            block = table.blocks[0]
            out += [["行政复议", "行政诉讼"], ["未经复议直接起诉", "复议后起诉"],
                    [c.path[-1] for c in block.columns],
                    [fig(field_id(table, block.rows[0], c)) for c in block.columns]]
    out += ["五、存在的主要问题及改进情况", "个别栏目更新不够及时。",
            "六、其他需要报告的事项", "本年度未收取信息处理费。"]
    return out


SHAPES: dict[str, Callable[[list[str]], str]] = {
    "spaces": " ".join,
    "tabs": "\t".join,
    "pipes": lambda cells: "| " + " | ".join(cells) + " |",
    "lines": "\n".join,
    "glued": lambda cells: _glued(cells),
    "joined": lambda cells: _joined(cells),
}


def _joined(cells: list[str]) -> str:
    """A row's labels printed as one (「（三）不予公开1.属于国家秘密 0 0」)."""
    if not any(is_figure(c) for c in cells):
        return " ".join(cells)
    return "".join(c for c in cells if not is_figure(c)) + " " + " ".join(
        c for c in cells if is_figure(c))


def _glued(cells: list[str]) -> str:
    """The first figure runs on after the last label: 「…申请数量64 0 0」."""
    at = next((i for i, c in enumerate(cells) if is_figure(c)), None)
    if not at:
        return " ".join(cells)
    return " ".join([*cells[:at - 1], cells[at - 1] + cells[at], *cells[at + 1:]])


def pasted(form: Form, values: dict[str, Any], shape: str,
           edit: Callable[[str], str] = lambda s: s) -> bytes:
    """The report as UTF-8 text, table rows in `shape` (a key of SHAPES), each paragraph
    and cell text passed through `edit` first (to misprint a label)."""
    lines = []
    for item in report_rows(form, values):
        lines.append(edit(item) if isinstance(item, str)
                     else SHAPES[shape]([edit(c) for c in item]))
    return "\n".join(lines).encode()


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
