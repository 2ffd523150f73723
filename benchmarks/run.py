"""Province-scale benchmarks: collect, distribute, merge, revalidate, each beside a baseline
measured in the same run. Not a test: it prints numbers and ratios and asserts nothing.

    python benchmarks/run.py              # 10,000 returns, 1,000 templates (several minutes)
    python benchmarks/run.py --smoke      # a few hundred, to see that it runs
    python benchmarks/run.py --files 2000 --templates 300

The data set is the LibreOffice-saved sample returns (samples/returns, signed by the sample
workspace's demo key), copied to the needed count with each copy re-issued to its own unit
of a generated roster (identity and signature swapped inside the package), 1 in 10 of them
a return with errors. Each copy's counts are its sample's times a factor that varies from
copy to copy (inputs, totals and check cells alike, so every rule holds as in the sample;
zeros stay zeros): no two neighbouring units report the same figures, so nothing that
remembers what it has read before gains more than it would in a real collection. Reading
one file is benchmarked by benchmarks/read_bench.py.

collect runs --repeat times (default 3), each on its own copy of the workspace, and the
table gives the median with the slowest and fastest run: the speed of a shared virtual
machine varies by a fifth from minute to minute. Before each timed run the data set is
written out to disk (os.sync), so that collect's own syncs do not pay for it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
VALID = ["区文化和广电旅游体育局-2022.xlsx", "区教育局2022年政府信息公开年报.xlsx",
         "区自然资源和规划分局-2022.xlsx", "区市场监督管理局-2022.xlsx",
         "区住房和城乡建设局-2022.xlsx", "城关街道-2022年报（终稿）.xlsx"]
INVALID = ["区卫生健康局-2022.xlsx", "区民政局-2022.xlsx", "区司法局-2022.xlsx"]
RECEIVED = "2023-01-15T10:00:00+08:00"
TARGETS = {"collect_rate": 500, "distribute_rate": 150, "merge_s": 5.0, "revalidate_s": 10.0,
           "memory_mb": 300}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def settle() -> None:
    """Write out what the set-up left in the page cache before a timed run: collect syncs
    the disk before each ledger commit, and would otherwise pay for flushing the data set
    it was just handed (in a real collection the returns have long been on disk)."""
    os.sync()


# -- the data set ----------------------------------------------------------------------------

def make_workspace(folder: Path, units: int) -> Path:
    """The sample workspace (config, demo key) with a generated roster of `units` units."""
    shutil.copytree(SAMPLES / "workspace", folder)
    rows = ["单位代码,单位名称,上级单位代码,联系人,截止日期", "880000,测试市人民政府办公室,,,"]
    rows += [f"880000-{i:05d},测试单位{i:05d},880000,联系人{i},"
             for i in range(1, units + 1)]
    (folder / "roster.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def make_inbox(ws: Path, inbox: Path, count: int) -> None:
    """`count` returns, each issued to its own unit: sample bytes with identity swapped."""
    from nianbao.collect.distribute import issue_options
    from nianbao.collect.workspace import open_workspace
    from nianbao.spec.layout import layout_for
    from nianbao.spec.load import load_form

    workspace = open_workspace(ws)
    layout = layout_for(load_form())
    manifest = json.loads((SAMPLES / "returns-manifest.json").read_text(encoding="utf-8"))
    bases = []
    for name in VALID + INVALID:
        info = manifest["files"][name]
        members = _members((SAMPLES / "returns" / name).read_bytes())
        # a sample returned on an earlier template version is signed with that version
        base_layout = _layout_of((SAMPLES / "returns" / name).read_bytes()) or layout
        old = issue_options(base_layout, {"unit.code": info["unit.code"],
                                          "unit.name": info["unit.name"], "year": 2022},
                            workspace.key, workspace.config.office)
        bases.append((members, info["unit.code"], info["unit.name"], old.meta["signature"],
                      base_layout))
    inbox.mkdir(parents=True)
    counts = _scaled_cells(layout)
    for i in range(1, count + 1):
        pick = len(VALID) + (i // 10) % len(INVALID) if i % 10 == 0 else i % len(VALID)
        members, code, name, signature, base_layout = bases[pick]
        new_code, new_name = f"880000-{i:05d}", f"测试单位{i:05d}"
        new = issue_options(base_layout, {"unit.code": new_code, "unit.name": new_name,
                                          "year": 2022}, workspace.key, workspace.config.office)
        swaps = {code: new_code, name: new_name, signature: new.meta["signature"]}
        scaled = _scale(members, counts, 1 + i)  # no two copies alike
        (inbox / f"{new_name}-2022.xlsx").write_bytes(_rezip(scaled, swaps))


def _layout_of(data: bytes) -> Any:
    """The layout of an earlier template version a sample was returned on (None: current)."""
    from nianbao.check import check_bytes
    from nianbao.spec.layout import layout_for
    from nianbao.spec.load import load_form, load_older_form

    meta = check_bytes(data, "sample.xlsx").submission
    version = meta.meta.get("form_version", "") if meta else ""
    form = load_form()
    if not version or version == form.version:
        return None
    older = load_older_form(form.id, version)
    return layout_for(older) if older else None


def _scaled_cells(layout: Any) -> dict[str, set[str]]:
    """Sheet name -> the cells whose value is a count or a difference of counts: the
    count inputs, the count totals and the check cells of rules over counts only."""
    from nianbao.spec.model import COUNT

    form = layout.form
    is_count = {fid: f.kind == COUNT for fid, f in form.fields.items()}
    count_rules = {i.id for i in form.instances
                   if all(is_count.get(r.field) for r in i.comparison.refs)}
    out: dict[str, set[str]] = {}
    for fid, cell in layout.inputs.items():
        if is_count[fid]:
            out.setdefault(cell.area.sheet, set()).add(cell.area.a1)
    for cell in layout.formulas:
        if (cell.role == "computed" and is_count.get(cell.field or "")) or (
                cell.role == "check" and cell.instance in count_rules):
            out.setdefault(cell.area.sheet, set()).add(cell.area.a1)
    return out


def _scale(members: list[tuple[zipfile.ZipInfo, bytes]], cells: dict[str, set[str]],
           factor: int) -> list[tuple[zipfile.ZipInfo, bytes]]:
    """The package with the whole-number value of each of `cells` multiplied by `factor`."""
    import re
    from xml.etree.ElementTree import fromstring

    parts = dict((info.filename, data) for info, data in members)
    rels = {r.get("Id"): r.get("Target") for r in fromstring(parts["xl/_rels/workbook.xml.rels"])}
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rid = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    part_of = {s.get("name"): "xl/" + rels[s.get(rid)].removeprefix("/xl/")
               for s in fromstring(parts["xl/workbook.xml"]).iter(f"{main}sheet")}
    # a cell that is not empty, its attributes, what it holds before its value, the value
    pattern = re.compile(rb'(<c r="([A-Z]+[0-9]+)"([^>]*)(?<!/)>((?:(?!</c>|<c ).)*?)<v>)'
                         rb'(-?[0-9]+)(</v></c>)', re.S)

    def scaled(m: re.Match[bytes], refs: set[bytes]) -> bytes:
        numeric = b' t="' not in m.group(3) or b' t="n"' in m.group(3)
        if m.group(2) not in refs or not numeric:
            return m.group(0)
        return m.group(1) + str(int(m.group(5)) * factor).encode() + m.group(6)

    out = []
    for info, data in members:
        refs = {ref.encode() for sheet, found in cells.items() if part_of.get(sheet) ==
                info.filename for ref in found}
        if refs:
            data = pattern.sub(lambda m, refs=refs: scaled(m, refs), data)
        out.append((info, data))
    return out


def _members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


def _rezip(members: list[tuple[zipfile.ZipInfo, bytes]], swaps: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            if info.filename.endswith(".xml"):
                text = data.decode("utf-8")
                for old, new in swaps.items():
                    text = text.replace(escape(old), escape(new))
                data = text.encode("utf-8")
            zf.writestr(info, data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


# -- runs in a child process, so that its memory can be measured alone -----------------------

def child(task: str, ws: str, extra: str, jobs: int) -> None:
    from nianbao.collect.intake import collect
    from nianbao.collect.ledger import open_ledger
    from nianbao.collect.revalidate import revalidate
    from nianbao.collect.roster import load_roster
    from nianbao.collect.workspace import open_workspace

    workspace = open_workspace(Path(ws))
    ledger = open_ledger(workspace)
    ledger.sync_units(load_roster(workspace.roster_path))
    started = time.perf_counter()
    if task == "collect":
        report = collect(workspace, ledger, [Path(extra)], jobs=jobs, received_at=RECEIVED)
        detail = dict(report.statuses)
    else:
        detail = {"changed": len(revalidate(workspace, ledger, jobs=jobs).changes)}
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "detail": detail,
                      "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                      / 1024}))


def run_child(task: str, ws: Path, extra: str, jobs: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", task, str(ws), extra, str(jobs)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- baselines -----------------------------------------------------------------------------

def floor_rate(files: list[Path]) -> float:
    """Files per second of only reading each file, hashing it and inflating every member:
    what any collector must at least do."""
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                zf.read(info)
    return len(files) / (time.perf_counter() - started)


def check_rate(files: list[Path], reader: Any) -> float:
    """Files per second of check_bytes in this one process (no workers, no ledger)."""
    from nianbao.check import check_bytes

    started = time.perf_counter()
    for path in files:
        check_bytes(path.read_bytes(), path.name, reader=reader)
    return len(files) / (time.perf_counter() - started)


# -- the benchmarks --------------------------------------------------------------------------

STAGES = (  # (module, attribute, label): what collect does to one file, in order
    ("nianbao.check", "precheck_bytes", "预检（解压、坏文件分类）"),
    ("nianbao.read.fast_reader", "read_book", "读取单元格"),
    ("nianbao.check", "read_submission", "识别模板、核对结构、读出数值"),
    ("nianbao.check", "check_rules", "规则校验"),
    ("nianbao.collect.intake", "judge", "判定（签名、名单、年度）"),
    ("nianbao.collect.intake", "make_extract", "保存读取结果（供 revalidate）"),
    ("nianbao.collect.store", "put", "原文件存档"),
    ("nianbao.collect.feedback", "atomic_write_text", "写回执"),
    ("nianbao.collect.feedback", "feedback_workbook", "生成反馈表（只有错误文件）"),
)


def stage_times(ws: Path, paths: list[Path]) -> dict[str, Any]:
    """Where one worker's time goes: `intake_path` run in this process over `paths`, each
    stage timed by a wrapper put around the function that does it (then taken off)."""
    import importlib

    from nianbao.collect import intake
    from nianbao.collect.ledger import open_ledger
    from nianbao.collect.roster import load_roster
    from nianbao.collect.workspace import open_workspace

    workspace = open_workspace(ws)
    ledger = open_ledger(workspace)
    ledger.sync_units(load_roster(workspace.roster_path))
    ctx = intake.Context.of(workspace, {u.code: u.name for u in ledger.units()},
                            received_at=RECEIVED, ledger=ledger)
    spent = dict.fromkeys((label for _, _, label in STAGES), 0.0)
    restore = []
    for module_name, attribute, label in STAGES:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        def timed(*args: Any, _original: Any = original, _label: str = label,
                  **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - started

        setattr(owner, name, timed)
        restore.append((owner, name, original))
    try:
        started = time.perf_counter()
        for path in paths:
            intake.intake_path(str(path), ctx)
        total = time.perf_counter() - started
    finally:
        for owner, name, original in reversed(restore):
            setattr(owner, name, original)
    ms = {label: seconds * 1000 / len(paths) for label, seconds in spent.items()}
    ms["其余（读文件、哈希、结果对象等）"] = total * 1000 / len(paths) - sum(ms.values())
    return {"stage_ms": ms, "stage_total_ms": total * 1000 / len(paths),
            "stage_files": len(paths)}



def _untouched(ws: Path, folder: Path) -> Path:
    """A copy of the workspace as it was before any collect (no ledger, store, feedback)."""
    shutil.copytree(ws, folder, ignore=shutil.ignore_patterns("ledger.sqlite*", "store",
                                                              "feedback"))
    return folder


def bench_collect(tmp: Path, files: int, jobs: int, repeat: int) -> dict[str, Any]:
    from nianbao.read.fast_reader import read_auto
    from nianbao.read.openpyxl_reader import read_openpyxl

    ws = make_workspace(tmp / "ws", files)
    inbox = tmp / "inbox"
    log(f"building {files} returns ...")
    make_inbox(ws, inbox, files)
    paths = sorted(inbox.iterdir())
    small = max(len(paths) // 10, min(len(paths), 50))
    out: dict[str, Any] = {"files": files}
    settle()
    log("baselines ...")
    out["floor_rate"] = floor_rate(paths[:small])
    out["check_fast_rate"] = check_rate(paths[:small], read_auto)
    out["check_openpyxl_rate"] = check_rate(paths[: max(small // 10, 10)], read_openpyxl)
    log(f"where the time goes, {small} files, in this process ...")
    out.update(stage_times(_untouched(ws, tmp / "ws-stages"), paths[:small]))
    part = tmp / "part"
    part.mkdir()
    for p in paths[:small]:
        os.link(p, part / p.name)
    # each run on its own copy of the untouched workspace; all are kept until the end, since
    # creating files just after deleting many costs more (ext4 without a journal)
    singles, runs = [], []
    for k in range(repeat):
        one = _untouched(ws, tmp / f"ws-one-{k}")
        log(f"collect, {small} files, 1 job ({k + 1}/{repeat}) ...")
        settle()
        singles.append(run_child("collect", one, str(part), 1))
    for k in range(repeat):
        target = ws if k == 0 else _untouched(ws, tmp / f"ws-run-{k}")
        log(f"collect, {files} files, {jobs} jobs ({k + 1}/{repeat}) ...")
        settle()
        runs.append(run_child("collect", target, str(inbox), jobs))
    rates = sorted(files / r["seconds"] for r in runs)
    out["collect_rate"] = statistics.median(rates)
    out["collect_rates"] = rates
    out["collect_1job_rate"] = statistics.median(small / r["seconds"] for r in singles)
    out["collect_small_mb"] = max(max(r["self_mb"], r["children_mb"]) for r in singles)
    out["collect_statuses"] = runs[0]["detail"]
    out["collect_self_mb"] = max(r["self_mb"] for r in runs)
    out["collect_children_mb"] = max(r["children_mb"] for r in runs)
    out["ws"] = ws
    return out


def bench_merge(ws: Path) -> dict[str, Any]:
    from nianbao.collect.ledger import open_ledger
    from nianbao.collect.workspace import open_workspace
    from nianbao.merge.totals import merge
    from nianbao.spec.load import load_form

    workspace = open_workspace(ws)
    ledger = open_ledger(workspace)
    started = time.perf_counter()
    rows = [json.loads(r[0]) for r in ledger.db.execute("SELECT record FROM validations")]
    floor = time.perf_counter() - started
    started = time.perf_counter()
    result = merge(ledger, load_form(), 2022, ledger.units(), office=workspace.config.office)
    seconds = time.perf_counter() - started
    return {"merge_s": seconds, "merge_floor_s": floor, "merge_rows": len(rows),
            "merge_units": len(result.contributions)}


def bench_revalidate(ws: Path, jobs: int) -> dict[str, Any]:
    r = run_child("revalidate", ws, "", jobs)
    return {"revalidate_s": r["seconds"], "revalidate_changed": r["detail"]["changed"]}


def bench_distribute(tmp: Path, templates: int) -> dict[str, Any]:
    from nianbao.collect.distribute import distribute, issue_options
    from nianbao.collect.roster import Unit
    from nianbao.render.workbook import render
    from nianbao.spec.layout import layout_for
    from nianbao.spec.load import load_form

    layout = layout_for(load_form())
    units = [Unit(f"770000-{i:05d}", f"分发单位{i:05d}") for i in range(templates)]
    key = hashlib.sha256(b"bench").digest()
    sample = units[: max(templates // 10, 10)]
    started = time.perf_counter()
    for u in sample:
        render(layout, issue_options(layout, {"unit.code": u.code, "unit.name": u.name,
                                              "year": 2022}, key, "基准测试办"))
    baseline = len(sample) / (time.perf_counter() - started)
    started = time.perf_counter()
    distribute(layout, units, 2022, key, "基准测试办", tmp / "outbox")
    rate = templates / (time.perf_counter() - started)
    return {"distribute_rate": rate, "render_rate": baseline, "templates": templates}


def _spread(rates: list[float]) -> str:
    """How the runs' rates spread around their median (this VM's speed varies by a fifth)."""
    if len(rates) == 1:
        return "1 次"
    return f"{len(rates)} 次的中位数，最慢 {rates[0]:.0f}，最快 {rates[-1]:.0f}"


def report(r: dict[str, Any], jobs: int) -> None:
    def mark(ok: bool) -> str:
        return "达标" if ok else "未达标"

    mb = max(r["collect_self_mb"], r["collect_children_mb"])
    lines = [
        f"机器：{os.cpu_count()} 核，Python {sys.version.split()[0]}；collect/revalidate 用 "
        f"{jobs} 个进程。",
        "",
        "| 项目 | 结果 | 基线（同一次运行） | 比值 | 目标 |",
        "|---|---|---|---|---|",
        f"| collect {r['files']} 份（检查、入账、存档、回执、错误文件的反馈表） | "
        f"{r['collect_rate']:.0f} 份/秒（{_spread(r['collect_rates'])}） | "
        f"单进程 collect {r['collect_1job_rate']:.0f} 份/秒 | "
        f"{r['collect_rate'] / r['collect_1job_rate']:.2f}× | ≥ 500 份/秒："
        f"{mark(r['collect_rate'] >= TARGETS['collect_rate'])} |",
        f"| 读文件+哈希+解压（下限） | {r['floor_rate']:.0f} 份/秒 | — | — | — |",
        f"| check（单进程，快速读取器） | {r['check_fast_rate']:.0f} 份/秒 | "
        f"check（openpyxl 参考读取器）{r['check_openpyxl_rate']:.0f} 份/秒 | "
        f"{r['check_fast_rate'] / r['check_openpyxl_rate']:.1f}× | — |",
        f"| collect 峰值内存 | {r['files']} 份：{mb:.0f} MB | "
        f"{r['collect_small_files']} 份：{r['collect_small_mb']:.0f} MB | "
        f"{mb / r['collect_small_mb']:.2f}× | < 300 MB 且不随文件数增长："
        f"{mark(mb < TARGETS['memory_mb'])} |",
        f"| distribute {r['templates']} 份模板 | {r['distribute_rate']:.0f} 份/秒 | "
        f"逐份完整生成 {r['render_rate']:.0f} 份/秒 | "
        f"{r['distribute_rate'] / r['render_rate']:.1f}× | ≥ 150 份/秒："
        f"{mark(r['distribute_rate'] >= TARGETS['distribute_rate'])} |",
        f"| merge {r['merge_units']} 个单位（{r['merge_rows']} 份提交） | {r['merge_s']:.2f} 秒 | "
        f"只读出并解析台账记录 {r['merge_floor_s']:.2f} 秒 | "
        f"{r['merge_s'] / max(r['merge_floor_s'], 1e-9):.1f}× | < 5 秒："
        f"{mark(r['merge_s'] < TARGETS['merge_s'])} |",
        f"| revalidate {r['files']} 份 | {r['revalidate_s']:.1f} 秒 | "
        f"单进程 check {r['files'] / r['check_fast_rate']:.1f} 秒（按速率推算） | "
        f"{r['files'] / r['check_fast_rate'] / r['revalidate_s']:.2f}× | < 10 秒："
        f"{mark(r['revalidate_s'] < TARGETS['revalidate_s'])} |",
    ]
    lines += ["", f"collect 每份文件的时间去向（单进程依次处理 {r['stage_files']} 份，"
              f"共 {r['stage_total_ms']:.2f} ms/份）：", "",
              "| 步骤 | ms/份 | 占比 |", "|---|---|---|"]
    lines += [f"| {label} | {ms:.2f} | {ms / r['stage_total_ms']:.0%} |"
              for label, ms in r["stage_ms"].items()]
    print("\n".join(lines))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--templates", type=int, default=1_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=3,
                        help="collect runs, each on its own workspace (the median counts)")
    parser.add_argument("--smoke", action="store_true", help="a small size, to see it runs")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = parser.parse_args()
    if args.smoke:
        args.files, args.templates, args.repeat = 200, 50, 1
    with tempfile.TemporaryDirectory(prefix="nianbao-bench-") as tmp:
        results = bench_collect(Path(tmp), args.files, args.jobs, args.repeat)
        results["collect_small_files"] = max(args.files // 10, min(args.files, 50))
        ws = results.pop("ws")
        log("merge ...")
        results.update(bench_merge(ws))
        log("revalidate ...")
        results.update(bench_revalidate(ws, args.jobs))
        log("distribute ...")
        results.update(bench_distribute(Path(tmp), args.templates))
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    report(results, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
