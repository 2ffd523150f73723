"""What every page shares: the templates (auto-escaped), safe downloads, error pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from nianbao.collect.naming import safe_name
from nianbao.collect.status import STATE_WORDS, TIME_WORDS
from nianbao.web.portal import Portal

HERE = Path(__file__).parent
TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True))
TEMPLATES.globals.update(STATE_WORDS=STATE_WORDS, TIME_WORDS=TIME_WORDS,
                         VERDICT_WORDS={"valid": "通过", "invalid": "有错误",
                                        "rejected": "未受理"})

# Pages may load only their own scripts and styles; links carry secrets, so no referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def portal_of(request: Request) -> Portal:
    return request.app.state.portal  # type: ignore[no-any-return]


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    portal = portal_of(request)
    html = TEMPLATES.get_template(name).render(
        office=portal.ws.config.office, year=portal.ws.config.year, **context)
    return HTMLResponse(html, status_code=status)


def message(request: Request, title: str, text: str, status: int,
            back: str | None = None) -> Response:
    """A plain page (or JSON for an API caller) saying what went wrong."""
    if wants_json(request):
        return JSONResponse({"error": title, "message": text}, status_code=status)
    return page(request, "message.html", status, title=title, text=text, back=back)


def not_found(request: Request) -> Response:
    # one page for every wrong address: no hint whether a unit or a link exists
    return message(request, "页面不存在",
                   "链接无效或已失效。请向收集单位索取本单位的报送链接。", 404)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def content_disposition(name: str) -> str:
    """attachment with an ASCII fallback and the UTF-8 name (RFC 6266 / RFC 5987)."""
    name = safe_name(name, 120)
    suffix = Path(name).suffix if Path(name).suffix.isascii() else ""
    stem = Path(name).stem
    fallback = stem if stem.isascii() and all(c.isalnum() or c in "-_. " for c in stem) \
        else "nianbao-download"
    return (f"attachment; filename=\"{fallback}{suffix}\"; "
            f"filename*=UTF-8''{quote(name, safe='')}")


MEDIA = {".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         ".csv": "text/csv; charset=utf-8", ".txt": "text/plain; charset=utf-8",
         ".json": "application/json"}


def download(data: bytes, name: str) -> Response:
    media = MEDIA.get(Path(name).suffix.lower(), "application/octet-stream")
    return Response(data, media_type=media,
                    headers={"Content-Disposition": content_disposition(name)})


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
