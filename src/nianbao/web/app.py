"""The portal's ASGI application: the unit pages, the office pages, the API, static files."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nianbao.web import office_pages, unit_pages
from nianbao.web.http import HERE, SECURITY_HEADERS, message, not_found
from nianbao.web.portal import Portal, Settings


class SecurityHeaders:
    """Adds the security headers to every response (pages, downloads, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                headers = list(msg.get("headers", []))
                present = {k.lower() for k, _ in headers}
                static = scope.get("path", "").startswith("/static/")
                for name, value in SECURITY_HEADERS.items():
                    if name.lower().encode() not in present and not (
                            static and name == "Cache-Control"):
                        headers.append((name.lower().encode(), value.encode()))
                msg["headers"] = headers
            await send(msg)

        await self.app(scope, receive, send_with_headers)


async def home(request: Request) -> Response:
    return RedirectResponse("/office/signin", 303)


async def _http_error(request: Request, exc: Any) -> Response:
    if getattr(exc, "status_code", 500) == 404:
        return not_found(request)
    if getattr(exc, "status_code", 500) == 405:
        return message(request, "不支持的操作", "请从页面上的按钮或表单操作。", 405)
    return message(request, "出错了", "服务器处理请求时出错（不是您的问题），请稍后重试。",
                   getattr(exc, "status_code", 500))


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    app.state.portal.close()  # the intake process finishes its batch and exits


def create_app(root: Path, settings: Settings | None = None) -> Starlette:
    """The portal over the workspace at `root`."""
    portal = Portal(root, settings)
    routes = [Route("/", home), *unit_pages.ROUTES, *office_pages.ROUTES,
              Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error,
                                                       Exception: _http_error},
                    lifespan=_lifespan)
    app.state.portal = portal
    app.add_middleware(SecurityHeaders)
    return app
