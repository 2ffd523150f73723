"""Commands of the web portal: serve (the portal) and links (the units' personal links)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nianbao.cli.app import app, console, fail, print_json
from nianbao.cli.collect_commands import JsonOption, WorkspaceOption, open_all
from nianbao.collect.roster import RosterError
from nianbao.collect.workspace import WorkspaceError
from nianbao.fsutil import atomic_write_text
from nianbao.web.links import link_rows, links_csv
from nianbao.web.portal import MB, Portal, Settings
from nianbao.web.tokens import LinkState, link_maker

BaseUrlOption = Annotated[str | None, typer.Option(
    "--base-url", help="门户对外的地址（默认：http://HOST:PORT），链接以此开头")]


def _base(base_url: str | None, host: str = "127.0.0.1", port: int = 8000) -> str:
    return (base_url or f"http://{host}:{port}").rstrip("/")


@app.command()
def serve(
    workspace: WorkspaceOption = Path("."),
    host: Annotated[str, typer.Option(help="监听地址（默认只在本机）")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
    base_url: BaseUrlOption = None,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb",
                                               help="单个上传文件的大小上限（MB）")] = 10,
) -> None:
    """启动网上报送门户：各单位凭报送链接上传、立即看到审核结果；收集单位在工作台查看全部情况。"""
    import uvicorn

    from nianbao.web.app import create_app

    open_all(workspace)[1].close()  # the same checks (and messages) as every other command
    settings = Settings(max_upload=max_upload_mb * MB, base_url=_base(base_url, host, port))
    try:
        web = create_app(workspace, settings)
    except (WorkspaceError, RosterError, ValueError) as exc:
        raise fail(str(exc)) from None
    portal: Portal = web.state.portal
    console.print(f"门户已启动：{settings.base_url}/")
    console.print(f"收集单位登录链接（请勿外传）：{settings.base_url}/office/signin/"
                  f"{portal.office_secret}")
    console.print("各单位的报送链接：nianbao links（或工作台上的“各单位报送链接”）。"
                  "按 Ctrl+C 停止。")
    uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def links(
    workspace: WorkspaceOption = Path("."),
    base_url: BaseUrlOption = None,
    csv_out: Annotated[Path | None, typer.Option(
        "--csv", help="导出为 CSV（可用 Excel 打开）")] = None,
    as_json: JsonOption = False,
    revoke: Annotated[list[str] | None, typer.Option(
        "--revoke", help="停用这些单位的链接")] = None,
    reissue: Annotated[list[str] | None, typer.Option(
        "--reissue", help="给这些单位重新生成链接（旧链接失效）")] = None,
) -> None:
    """列出各单位的报送链接（单位代码、名称、链接）；可停用或重新生成某个单位的链接。"""
    ws, ledger, units = open_all(workspace)
    ledger.close()
    codes = {u.code for u in units}
    unknown = sorted((set(revoke or []) | set(reissue or [])) - codes)
    if unknown:
        raise fail(f"名单中没有这些单位代码：{'、'.join(unknown)}")
    try:
        state = LinkState.load(ws)
    except ValueError as exc:
        raise fail(str(exc)) from None
    for code in revoke or []:
        state.revoke(code)
    for code in reissue or []:
        state.reissue(code)
    if revoke or reissue:
        state.save()
    link = link_maker(ws.key, state, _base(base_url))

    if csv_out:
        atomic_write_text(csv_out, links_csv(units, link))
    if as_json:
        print_json([{"unit_code": u.code, "unit_name": u.name, "link": link(u.code)}
                    for u in units])
        return
    for row in link_rows(units, link):
        console.print(f"{row['单位代码']}\t{row['单位名称']}\t{row['报送链接']}")
    if csv_out:
        console.print(f"已导出：{csv_out}")
