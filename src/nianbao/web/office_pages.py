"""The office's pages: sign-in, the dashboard, a unit's history, upload, review, downloads.

Signed in with the office secret (an HTTP-only, SameSite session cookie); every form that
changes something carries the session's CSRF token. `/api/status` also takes
`Authorization: Bearer <office secret>`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from nianbao.collect.status import StatusReport, UnitStatus
from nianbao.merge.export import export
from nianbao.merge.totals import merge
from nianbao.merge.workbook import merged_workbook
from nianbao.publish.record import Record
from nianbao.publish.report import render_report
from nianbao.web.http import client_address, download, message, not_found, page, portal_of
from nianbao.web.intake_service import IntakeError
from nianbao.web.labels import finding_views
from nianbao.web.reviews import ReviewError, review
from nianbao.web.tokens import csrf_token, same, session_cookie, session_valid
from nianbao.web.uploads import UploadError, receive

COOKIE = "nianbao_office"
SHOWN = 500         # rows of the unit table on one page
SORTS = {"code": lambda u: u.code, "name": lambda u: u.name,
         "state": lambda u: ("missing", "rejected", "invalid", "valid").index(u.state),
         "time": lambda u: u.first_received_at or "~", "errors": lambda u: -u.errors}


def signed_in(request: Request) -> bool:
    portal = portal_of(request)
    return session_valid(portal.key, request.cookies.get(COOKIE))


def bearer_ok(request: Request) -> bool:
    auth = request.headers.get("authorization", "")
    scheme, _, secret = auth.partition(" ")
    return scheme.lower() == "bearer" and same(secret.strip(), portal_of(request).office_secret)


def _csrf(request: Request) -> str:
    return csrf_token(portal_of(request).key, request.cookies.get(COOKIE, ""))


def csrf_ok(request: Request, given: str | None) -> bool:
    return signed_in(request) and bool(given) and same(str(given), _csrf(request))


def _need_sign_in(request: Request) -> Response:
    return RedirectResponse("/office/signin", 303)


def _bad_csrf(request: Request) -> Response:
    return message(request, "请求无效",
                   "表单已过期或不是从本系统的页面提交的（缺少或不符的校验码），"
                   "请回到工作台重新操作。", 403, "/office")


async def signin(request: Request) -> Response:
    """GET with the secret in the path (the printed link) or POST of the sign-in form."""
    portal = portal_of(request)
    secret = request.path_params.get("secret")
    if request.method == "POST":
        secret = str((await request.form()).get("secret") or "")
    if secret is None:
        return page(request, "signin.html")
    if not same(secret, portal.office_secret):
        who = client_address(request)
        portal.throttle.failed(who)
        await asyncio.sleep(portal.throttle.delay(who))
        return page(request, "signin.html", 403, error="登录码不正确")
    response = RedirectResponse("/office", 303)
    response.set_cookie(COOKIE, session_cookie(portal.key), httponly=True, samesite="strict",
                        path="/", max_age=12 * 3600,
                        secure=portal.settings.base_url.startswith("https://"))
    return response


async def signout(request: Request) -> Response:
    if await _posted(request) is None:
        return _bad_csrf(request)
    response = RedirectResponse("/office/signin", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _status(request: Request) -> StatusReport:
    return portal_of(request).status()


def _filtered(units: list[UnitStatus], q: dict[str, str]) -> list[UnitStatus]:
    out = [u for u in units if (not q.get("state") or u.state == q["state"])
           and (not q.get("parent") or u.parent == q["parent"] or u.code == q["parent"])
           and (not q.get("q") or q["q"] in u.code or q["q"] in u.name)]
    key = SORTS.get(q.get("sort", ""), SORTS["code"]) if q.get("sort") else None
    if key is not None:
        out.sort(key=key, reverse=q.get("desc") == "1")  # type: ignore[arg-type]
    return out


async def dashboard(request: Request) -> Response:
    if not signed_in(request):
        return _need_sign_in(request)
    portal = portal_of(request)
    report = await run_in_threadpool(_status, request)
    q = {k: str(v) for k, v in request.query_params.items()}
    rows = _filtered(report.units, q)
    totals = report.totals
    parents = sorted({u.parent for u in report.units if u.parent})
    names = {u.code: u.name for u in report.units}
    template = "unit_table.html" if request.headers.get("hx-request") else "dashboard.html"
    return page(request, template, report=report, totals=totals, rows=rows[:SHOWN],
                more=max(0, len(rows) - SHOWN), matched=len(rows), q=q,
                parents=[(p, names.get(p, p)) for p in parents], csrf=_csrf(request),
                on_time_rate=(totals["on_time"] / totals["units"] if totals["units"] else 0),
                cap_mb=portal.settings.max_upload // (1024 * 1024))


async def office_unit(request: Request) -> Response:
    if not signed_in(request):
        return _need_sign_in(request)
    portal = portal_of(request)
    unit = portal.units.get(request.path_params["code"])
    if unit is None:
        return not_found(request)

    def gather() -> dict[str, Any]:
        rows = portal.unit_rows(unit.code)
        state = portal.unit_state(unit, rows)
        return {"state": state, "rows": [
            {"row": r, "findings": finding_views(r.verdict.findings, portal.form),
             "counts": bool(state.counting) and state.counting["submission"] == r.id,  # type: ignore[index]
             "reviews": [h for h in portal.ledger().history(r.id)]}
            for r in reversed(rows)]}

    data = await run_in_threadpool(gather)
    return page(request, "office_unit.html", unit=unit, link=portal.link(unit.code),
                links=portal.links.of(unit.code), deadline=portal.deadline(unit),
                csrf=_csrf(request), **data)


async def office_upload(request: Request) -> Response:
    """Files that arrived by e-mail: the same intake as `collect` (attributed by content)."""
    if not signed_in(request):
        return _need_sign_in(request)
    portal = portal_of(request)
    try:
        upload = await receive(request, portal.uploads_dir, portal.settings.max_upload)
    except UploadError as exc:
        return message(request, "未受理", str(exc), exc.status, "/office")
    try:
        if not csrf_ok(request, upload.fields.get("csrf")):
            return _bad_csrf(request)
        if not upload.files:
            return message(request, "未受理", "请选择要上传的文件。", 400, "/office")
        found = await run_in_threadpool(portal.intake, [f.path for f in upload.files], None)
    except IntakeError as exc:
        return message(request, "出错了", f"审核时出错：{exc}", 500, "/office")
    finally:
        upload.discard()
    items = [{**it, "name": f.name} for f, it in zip(upload.files, found, strict=True)]
    outcomes = Counter(it["outcome"] for it in items)
    return page(request, "office_upload_result.html", items=items, outcomes=outcomes)


async def _posted(request: Request) -> dict[str, str] | None:
    """A signed-in form post with a valid CSRF token, as its fields; else None."""
    form = await request.form()
    fields = {k: str(v) for k, v in form.items()}
    return fields if csrf_ok(request, fields.get("csrf")) else None


async def _signed_post(request: Request) -> dict[str, str] | Response:
    """The fields of a signed-in office's form post with a valid CSRF token, or the page
    that answers it (sign in first, or the token was wrong)."""
    if not signed_in(request):
        return _need_sign_in(request)
    fields = await _posted(request)
    return _bad_csrf(request) if fields is None else fields


async def office_review(request: Request) -> Response:
    fields = await _signed_post(request)
    if isinstance(fields, Response):
        return fields
    portal = portal_of(request)
    code = fields.get("unit", "")
    back = f"/office/unit/{code}"

    def act() -> str | None:
        rows = portal.unit_rows(code)
        row = next((r for r in rows if str(r.id) == fields.get("submission")), None)
        if row is None:
            return "没有这份提交"
        try:
            review(portal.ledger(), row, fields.get("action", ""), fields.get("reason", ""),
                   fields.get("reviewer", ""))
        except ReviewError as exc:
            return str(exc)
        portal.changed()
        return None

    problem = await run_in_threadpool(act)
    if problem:
        return message(request, "未能记录审核意见", problem, 400, back)
    return RedirectResponse(back, 303)


async def office_links(request: Request) -> Response:
    fields = await _signed_post(request)
    if isinstance(fields, Response):
        return fields
    portal = portal_of(request)
    code = fields.get("unit", "")
    if code not in portal.units or fields.get("action") not in ("revoke", "reissue", "close",
                                                                 "open"):
        return not_found(request)
    portal.change_link(code, fields["action"])
    return RedirectResponse(f"/office/unit/{code}", 303)


async def office_revalidate(request: Request) -> Response:
    if not signed_in(request):
        return _need_sign_in(request)
    if await _posted(request) is None:
        return _bad_csrf(request)
    portal = portal_of(request)
    try:
        result = await run_in_threadpool(portal.intakes.revalidate)
    except IntakeError as exc:
        return message(request, "出错了", f"重新校验时出错：{exc}", 500, "/office")
    finally:
        portal.changed()
    return message(request, "重新校验完成", f"重新校验 {result['checked']} 份提交，结论有变化的 "
                   f"{len(result['changes'])} 份。", 200, "/office")


async def office_download(request: Request) -> Response:
    if not signed_in(request):
        return _need_sign_in(request)
    portal = portal_of(request)
    what = request.path_params["what"]
    year, office = portal.ws.config.year, portal.ws.config.office

    def build() -> tuple[bytes, str] | None:
        ledger = portal.ledger()
        if what == "chase.csv":
            return portal.status().chase_csv().encode("utf-8"), \
                f"{year}年度催报名单.csv"
        if what in ("merged.xlsx", "report.docx"):
            m = merge(ledger, portal.form, year, portal.roster, office=office)
            if what == "merged.xlsx":
                return merged_workbook(m), f"{year}年度汇总.xlsx"
            record = Record(dict(m.identity), dict(m.totals))
            return render_report(portal.form, record, "docx"), f"{year}年度报告（汇总）.docx"
        if what in ("export.xlsx", "export.csv"):
            fmt = what.rsplit(".", 1)[1]
            return export(ledger, portal.form, fmt, year=year), f"{year}年度台账.{fmt}"
        if what == "links.csv":
            from nianbao.web.links import links_csv

            return links_csv(portal.roster, portal.link).encode("utf-8"), "报送链接.csv"
        return None

    built = await run_in_threadpool(build)
    if built is None:
        return not_found(request)
    return download(*built)


async def api_status(request: Request) -> Response:
    if not (signed_in(request) or bearer_ok(request)):
        return JSONResponse({"error": "unauthorized", "message": "需要收集单位登录或登录码"},
                            401, headers={"WWW-Authenticate": "Bearer"})
    report = await run_in_threadpool(_status, request)
    return JSONResponse(report.to_dict())


ROUTES = [
    Route("/office/signin", signin, methods=["GET", "POST"]),
    Route("/office/signin/{secret}", signin),
    Route("/office/signout", signout, methods=["POST"]),
    Route("/office", dashboard),
    Route("/office/unit/{code:path}", office_unit),
    Route("/office/upload", office_upload, methods=["POST"]),
    Route("/office/review", office_review, methods=["POST"]),
    Route("/office/links", office_links, methods=["POST"]),
    Route("/office/revalidate", office_revalidate, methods=["POST"]),
    Route("/office/download/{what}", office_download),
    Route("/api/status", api_status),
]
