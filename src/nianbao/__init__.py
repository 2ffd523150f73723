"""nianbao: the yearly collection of 政府信息公开工作年度报告, end to end.

The library's face: the entry points a program uses, importable from `nianbao` directly
(loaded on first use, so that importing one stage does not load them all)::

    import nianbao
    form = nianbao.load_form()
    data = nianbao.render_template(nianbao.layout_for(form))
    result = nianbao.check_file(path)
    ws = nianbao.open_workspace(folder)
    with nianbao.open_ledger(ws) as ledger:
        report = nianbao.collect_files(ws, ledger, [inbox])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nianbao.version import __version__

# name -> the module that defines it (":attr" where the name differs: `collect`, `merge` and
# `render` are also subpackages, whose attribute on the package would shadow a function)
_EXPORTS = {
    "load_form": "nianbao.spec.load", "layout_for": "nianbao.spec.layout",
    "Form": "nianbao.spec.model", "Layout": "nianbao.spec.layout",
    "render_template": "nianbao.render.workbook:render",
    "RenderOptions": "nianbao.render.workbook",
    "check_file": "nianbao.check", "check_bytes": "nianbao.check",
    "CheckResult": "nianbao.check",
    "Finding": "nianbao.findings", "Severity": "nianbao.findings",
    "init_workspace": "nianbao.collect.workspace", "open_workspace": "nianbao.collect.workspace",
    "Workspace": "nianbao.collect.workspace",
    "Ledger": "nianbao.collect.ledger", "open_ledger": "nianbao.collect.ledger",
    "distribute": "nianbao.collect.distribute",
    "collect_files": "nianbao.collect.intake:collect",
    "CollectReport": "nianbao.collect.intake",
    "unit_status": "nianbao.collect.status", "revalidate": "nianbao.collect.revalidate",
    "merge_totals": "nianbao.merge.totals:merge", "MergeResult": "nianbao.merge.totals",
    "import_report": "nianbao.publish.importer",
    "NianbaoError": "nianbao.errors", "InputError": "nianbao.errors",
    "StorageError": "nianbao.errors", "RefusedError": "nianbao.errors",
}

__all__ = [
    "CheckResult",
    "CollectReport",
    "Finding",
    "Form",
    "InputError",
    "Layout",
    "Ledger",
    "MergeResult",
    "NianbaoError",
    "RefusedError",
    "RenderOptions",
    "Severity",
    "StorageError",
    "Workspace",
    "__version__",
    "check_bytes",
    "check_file",
    "collect_files",
    "distribute",
    "import_report",
    "init_workspace",
    "layout_for",
    "load_form",
    "merge_totals",
    "open_ledger",
    "open_workspace",
    "render_template",
    "revalidate",
    "unit_status",
]

if TYPE_CHECKING:
    from nianbao.check import CheckResult, check_bytes, check_file
    from nianbao.collect.distribute import distribute
    from nianbao.collect.intake import CollectReport
    from nianbao.collect.intake import collect as collect_files
    from nianbao.collect.ledger import Ledger, open_ledger
    from nianbao.collect.revalidate import revalidate
    from nianbao.collect.status import unit_status
    from nianbao.collect.workspace import Workspace, init_workspace, open_workspace
    from nianbao.errors import InputError, NianbaoError, RefusedError, StorageError
    from nianbao.findings import Finding, Severity
    from nianbao.merge.totals import MergeResult
    from nianbao.merge.totals import merge as merge_totals
    from nianbao.publish.importer import import_report
    from nianbao.render.workbook import RenderOptions
    from nianbao.render.workbook import render as render_template
    from nianbao.spec.layout import Layout, layout_for
    from nianbao.spec.load import load_form
    from nianbao.spec.model import Form


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nianbao' has no attribute {name!r}")
    module, _, attr = module.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
