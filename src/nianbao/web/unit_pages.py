"""The pages of a unit, reached through its personal link: its template, its files, upload.

A unit sees and uploads only for itself: the link names the unit, and a file of another
unit sent through it is refused by the intake (UNIT_NOT_LINKED), never stored as theirs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nianbao.collect.ledger import Row
from nianbao.collect.roster import Unit
from nianbao.web.http import (
    client_address,
    download,
    message,
    not_found,
    page,
    portal_of,
    wants_json,
)
from nianbao.web.intake_service import IntakeError
from nianbao.web.labels import finding_views
from nianbao.web.portal import Portal, file_record
from nianbao.web.uploads import UploadError, receive

RETURNED = "RETURNED_BY_OFFICE"


async def _unit(request: Request) -> Unit | None:
    """The unit of the link, or None (after a delay that grows with a client's bad tries)."""
    portal = portal_of(request)
    unit = portal.unit_of(str(request.path_params.get("token", "")))
    if unit is None:
        who = client_address(request)
        portal.throttle.failed(who)
        await asyncio.sleep(portal.throttle.delay(who))
    return unit


def _history(portal: Portal, rows: list[Row], counting: int | None) -> list[dict[str, Any]]:
    out = []
    for r in reversed(rows):
        returned = next((f for f in r.verdict.findings if f.get("code") == RETURNED), None)
        out.append({"id": r.id, "file": r.file_name, "received_at": r.received_at,
                    "status": r.verdict.status, "errors": r.verdict.errors,
                    "warnings": r.verdict.warnings, "counts": r.id == counting,
                    "returned": (returned or {}).get("values", {}).get("reason"),
                    "outputs": sorted(portal.outputs_of(r))})
    return out


async def unit_page(request: Request) -> Response:
    unit = await _unit(request)
    if unit is None:
        return not_found(request)
    portal = portal_of(request)

    def gather() -> dict[str, Any]:
        rows = portal.unit_rows(unit.code)
        state = portal.unit_state(unit, rows)
        counting = state.counting["submission"] if state.counting else None
        return {"state": state, "history": _history(portal, rows, counting)}

    data = await run_in_threadpool(gather)
    return page(request, "unit.html", unit=unit, token=request.path_params["token"],
                deadline=portal.deadline(unit), late=portal.is_late(unit),
                closed=portal.links.of(unit.code).closed,
                cap_mb=portal.settings.max_upload // (1024 * 1024), **data)


async def unit_template(request: Request) -> Response:
    unit = await _unit(request)
    if unit is None:
        return not_found(request)
    name, data = await run_in_threadpool(portal_of(request).template_for, unit)
    return download(data, name)


async def unit_output(request: Request) -> Response:
    """A receipt or feedback workbook of one of the unit's own submissions."""
    unit = await _unit(request)
    if unit is None:
        return not_found(request)
    portal = portal_of(request)
    sid, kind = request.path_params["sid"], request.path_params["kind"]
    row = next((r for r in await run_in_threadpool(portal.unit_rows, unit.code)
                if r.id == sid), None)
    path = portal.outputs_of(row).get(kind) if row is not None else None
    if path is None:
        return not_found(request)
    return download(path.read_bytes(), path.name)


async def unit_upload(request: Request) -> Response:
    unit = await _unit(request)
    if unit is None:
        return not_found(request)
    portal = portal_of(request)
    back = f"/u/{request.path_params['token']}"
    if portal.links.of(unit.code).closed:
        return message(request, "已截止",
                       "收集单位已关闭本单位的报送通道，如需报送请与收集单位联系。", 403, back)
    try:
        upload = await receive(request, portal.uploads_dir, portal.settings.max_upload)
    except UploadError as exc:
        return message(request, "未受理", str(exc), exc.status, back)
    try:
        if len(upload.files) != 1:
            return message(request, "未受理", "请选择一个填好的年报文件（.xlsx）再上传。",
                           400, back)
        items = await run_in_threadpool(portal.intake, [upload.files[0].path], unit.code)
    except IntakeError as exc:
        return message(request, "未受理", f"审核时出错（不是您的问题）：{exc}。请稍后重新上传。",
                       500, back)
    finally:
        upload.discard()
    return await run_in_threadpool(_answer, request, portal, unit, items[0], back)


def _answer(request: Request, portal: Portal, unit: Unit, item: dict[str, Any],
            back: str) -> Response:
    sid = item.get("submission")
    row = next((r for r in portal.unit_rows(unit.code) if r.id == sid), None)
    duplicate = item["outcome"] == "duplicate"
    if row is None:  # a copy of a file already received from another unit: not this unit's
        text = ("这个文件与收集单位此前从另一单位收到的文件完全相同，未受理。"
                "如果这确是本单位的年报，请在 Excel 或 WPS 中打开、保存后重新上传，"
                "或与收集单位联系。")
        if wants_json(request):
            return JSONResponse({"submission_id": None, "verdict": "rejected",
                                 "reason": "UNIT_NOT_LINKED", "message": text}, 409)
        return message(request, "未受理", text, 409, back)
    if wants_json(request):
        return JSONResponse({"submission_id": row.id, "verdict": row.verdict.status,
                             "duplicate": duplicate, "late": portal.is_late(unit),
                             "file": file_record(row)})
    return page(request, "upload_result.html", unit=unit, row=row, back=back,
                duplicate=duplicate, replay=item.get("reason") == "REPLAYED_FILE",
                late=portal.is_late(unit), outputs=sorted(portal.outputs_of(row)),
                findings=finding_views(row.verdict.findings, portal.form))


ROUTES = [
    Route("/u/{token}", unit_page),
    Route("/u/{token}/template", unit_template),
    Route("/u/{token}/upload", unit_upload, methods=["POST"]),
    Route("/u/{token}/files/{sid:int}/{kind:str}", unit_output),
]
