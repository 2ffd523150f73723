"""The list of units' personal links: for `nianbao links`, the dashboard and the manifest."""

from __future__ import annotations

import json
from collections.abc import Callable

from nianbao.collect.roster import Unit
from nianbao.merge.export import to_csv

COLUMNS = ("单位代码", "单位名称", "报送链接")


def link_rows(units: list[Unit], link: Callable[[str], str | None]) -> list[dict[str, str]]:
    """One row per unit; a revoked link shows as 已停用."""
    return [{"单位代码": u.code, "单位名称": u.name, "报送链接": link(u.code) or "（已停用）"}
            for u in units]


def links_csv(units: list[Unit], link: Callable[[str], str | None]) -> str:
    """CSV that opens in Excel: BOM, and text that looks like a formula neutralised."""
    return to_csv(COLUMNS, link_rows(units, link)).decode("utf-8")


def links_json(units: list[Unit], link: Callable[[str], str | None]) -> str:
    return json.dumps([{"unit_code": u.code, "unit_name": u.name, "link": link(u.code)}
                       for u in units], ensure_ascii=False, indent=2)
