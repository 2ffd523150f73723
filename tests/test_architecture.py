"""The shape of src/: the import graph has no cycle between files or between packages (imports
inside functions and under TYPE_CHECKING count too), no module is over 600 lines and no
function over 100, and the library's face (`nianbao.__all__`) is what it says."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nianbao

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 100


def modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every module of ours that `name` imports, wherever the import statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:
                    found.add(full)
                elif base in known:
                    found.add(base)
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def file_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def package_of(module: str) -> str:
    """nianbao.read.precheck -> nianbao.read; a top-level module is its own node."""
    return ".".join(module.split(".")[:2])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_files() -> None:
    assert cycles(file_graph()) == []


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for module, targets in file_graph().items():
        graph.setdefault(package_of(module), set())
        for target in targets:
            if package_of(target) != package_of(module):
                graph[package_of(module)].add(package_of(target))
                graph.setdefault(package_of(target), set())
    assert cycles(graph) == []


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []


def test_the_public_face_resolves_every_name() -> None:
    names = set(nianbao.__all__) - {"__version__"}
    assert names == set(nianbao._EXPORTS)
    for name in names:
        target = nianbao._EXPORTS[name].partition(":")[2] or name
        assert getattr(nianbao, name).__name__ == target
    assert issubclass(nianbao.StorageError, nianbao.NianbaoError)
    from nianbao.collect.ledger_db import LedgerError
    from nianbao.collect.roster import RosterError
    from nianbao.collect.workspace import WorkspaceError
    from nianbao.spec.load import SpecError

    for error in (LedgerError, RosterError, WorkspaceError, SpecError):
        assert issubclass(error, nianbao.NianbaoError)


def test_importing_one_stage_does_not_load_the_others() -> None:
    code = ("import sys, nianbao.findings; "
            "print(sorted(m for m in sys.modules if m.startswith('nianbao')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert eval(out) == ["nianbao", "nianbao.findings", "nianbao.version"]
