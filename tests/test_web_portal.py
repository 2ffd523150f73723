"""The portal's pages and API under Starlette's TestClient (no browser): a unit's link,
uploads judged by collect's intake, the office dashboard, reviews, and the security cases
(escaping, foreign files, CSRF, oversize and cut uploads, bad and revoked tokens)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nianbao.check import check_bytes
from nianbao.cli.app import app as cli
from nianbao.collect.ledger import Ledger
from nianbao.collect.status import unit_status
from nianbao.merge.totals import merge
from nianbao.spec.load import load_form
from nianbao.web.tokens import Throttle, TokenIndex, office_secret, unit_token
from tests.collect_helpers import ROSTER_CSV, complete_values, issue, make_workspace
from tests.web_helpers import client, csrf_of, link_path, shown, sign_in

XSS_NAME = "<script>alert('x')</script>青溪区民政局"
XSS_FILE = "<img src=x onerror=alert(1)>.xlsx"
ROSTER = ROSTER_CSV.replace("青溪区民政局", XSS_NAME)


@pytest.fixture
def ws(tmp_path: Path):  # type: ignore[no-untyped-def]
    ws, ledger = make_workspace(tmp_path / "ws", ROSTER)
    ledger.close()
    return ws


def submissions(ws) -> list[tuple[str | None, str]]:  # type: ignore[no-untyped-def]
    with Ledger(ws.ledger_path) as ledger:
        return [(r.verdict.unit_code, r.verdict.status) for r in ledger.rows()]


def test_unit_uploads_and_sees_verdict_with_labels(ws) -> None:  # type: ignore[no-untyped-def]
    c = client(ws.root)
    home = link_path(ws.key, "330599-002")
    page = c.get(home)
    assert page.status_code == 200 and shown(page.text, "unit-state") == "未报送"
    template = c.get(f"{home}/template")
    assert "filename*=UTF-8''" in template.headers["content-disposition"]
    result = check_bytes(template.content, "t.xlsx")
    assert result.identity["unit.code"] == "330599-002"

    good = c.post(f"{home}/upload", files={"file": ("年报.xlsx", issue(ws, "330599-002"))})
    assert good.status_code == 200 and shown(good.text, "verdict") == "通过"
    bad = issue(ws, "330599-002", complete_values(t3__new__natural_person=11))
    r = c.post(f"{home}/upload", files={"file": ("改.xlsx", bad)})
    assert shown(r.text, "verdict") == "有错误"
    assert "一、本年新收政府信息公开申请数量 / 自然人" in r.text  # the finding by its labels
    assert "download-feedback" in r.text and "download-receipt" in r.text
    feedback = c.get(f"{home}/files/2/feedback")
    assert feedback.status_code == 200 and feedback.content[:2] == b"PK"
    receipt = c.get(f"{home}/files/2/receipt")
    assert "收件回执" in receipt.content.decode("utf-8")

    # JSON beside the page: the same intake, the check --json record of the file
    again = c.post(f"{home}/upload", files={"file": ("改.xlsx", bad)},
                   headers={"accept": "application/json"})
    body = again.json()
    assert body["submission_id"] == 2 and body["verdict"] == "invalid" and body["duplicate"]
    assert body["file"]["values"]["t3.new.natural_person"] == 11
    assert any(f["rule"] == "R1" for f in body["file"]["findings"])
    page = c.get(home)
    assert shown(page.text, "unit-state") == "通过" and "以此为准" in page.text
    assert submissions(ws) == [("330599-002", "valid"), ("330599-002", "invalid")]


def test_another_units_file_is_refused_and_not_theirs(ws) -> None:  # type: ignore[no-untyped-def]
    c = client(ws.root)
    home = link_path(ws.key, "330599-002")
    r = c.post(f"{home}/upload", files={"file": ("别人的.xlsx", issue(ws, "330599-003"))},
               headers={"accept": "application/json"})
    assert r.json()["verdict"] == "rejected"
    assert [f["code"] for f in r.json()["file"]["findings"]] == ["UNIT_NOT_LINKED"]
    assert submissions(ws) == [("330599-002", "rejected")]
    # the same bytes, later sent by their own unit, are a duplicate of a refused file: B
    # still shows nothing accepted, and A cannot reach B's data through its link
    with Ledger(ws.ledger_path) as ledger:
        states = {u.code: u.state for u in unit_status(ledger, ws.config).units}
    assert states["330599-003"] == "missing" and states["330599-002"] == "rejected"
    assert c.get(link_path(ws.key, "330599-003") + "/files/1/receipt").status_code == 404


def test_names_are_escaped(ws) -> None:  # type: ignore[no-untyped-def]
    c = client(ws.root)
    home = link_path(ws.key, "330599-007")
    r = c.post(f"{home}/upload", files={"file": (XSS_FILE, issue(ws, "330599-007",
                                                                  name=XSS_NAME))})
    assert shown(r.text, "verdict") == "通过"
    for html in (r.text, c.get(home).text):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html
    sign_in(c, ws.key)
    for html in (c.get("/office").text, c.get("/office/unit/330599-007").text):
        assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"


def test_bad_revoked_and_reissued_links(ws) -> None:  # type: ignore[no-untyped-def]
    c = client(ws.root)
    wrong = c.get("/u/" + "A" * 27)
    assert wrong.status_code == 404
    csrf = sign_in(c, ws.key)
    r = c.post("/office/links", data={"csrf": csrf, "unit": "330599-002", "action": "revoke"})
    assert r.status_code == 200
    revoked = c.get(link_path(ws.key, "330599-002"))
    assert revoked.status_code == 404 and revoked.text == wrong.text  # no hint either way
    assert c.get(link_path(ws.key, "330599-003")).status_code == 200   # others unchanged
    c.post("/office/links", data={"csrf": csrf, "unit": "330599-002", "action": "reissue"})
    assert c.get(link_path(ws.key, "330599-002")).status_code == 404
    assert c.get(link_path(ws.key, "330599-002", 1)).status_code == 200
    assert c.get(link_path(ws.key, "330599-003")).status_code == 200
    # a fresh server reads the same state; `nianbao links --revoke` beside a running one
    # takes effect at once
    assert client(ws.root).get(link_path(ws.key, "330599-002", 1)).status_code == 200
    r = CliRunner().invoke(cli, ["links", "-w", str(ws.root), "--revoke", "330599-003"])
    assert r.exit_code == 0, r.output
    assert c.get(link_path(ws.key, "330599-003")).status_code == 404


def test_guessing_is_slowed_down() -> None:
    t = Throttle(free=3, window=60, cap=3.0)
    assert [t.delay("1.2.3.4", now=0)] == [0.0]
    for i in range(6):
        t.failed("1.2.3.4", now=i)
    assert t.delay("1.2.3.4", now=10) > 0 and t.delay("5.6.7.8", now=10) == 0
    assert t.delay("1.2.3.4", now=1000) == 0  # the window passed
    index = TokenIndex({"A": unit_token(b"k" * 32, "A", 0)})
    assert index.unit(unit_token(b"k" * 32, "A", 0)) == "A"
    assert index.unit(unit_token(b"k" * 32, "A", 1)) is None and index.unit("") is None
    assert len(unit_token(b"k" * 32, "A", 0)) * 6 >= 128


def test_oversize_cut_empty_and_non_workbook_uploads(ws, tmp_path: Path  # type: ignore[no-untyped-def]
                                                     ) -> None:
    other_office, other = make_workspace(tmp_path / "city", office="青溪市政务公开办")
    other.close()
    c = client(ws.root, max_upload=64 * 1024)
    home = link_path(ws.key, "330599-002")
    big = c.post(f"{home}/upload", files={"file": ("大.xlsx", b"PK" + b"\0" * 200_000)})
    assert big.status_code == 413 and "大小上限" in big.text
    boundary = "nbcut"
    cut = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
           f"filename=\"a.xlsx\"\r\n\r\n").encode() + issue(ws, "330599-002")[:5000]
    r = c.post(f"{home}/upload", content=cut,
               headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 400 and "未受理" in r.text
    assert submissions(ws) == []
    uploads = ws.root / ".nianbao" / "uploads"
    assert not [p for p in uploads.rglob("*") if p.is_file()]  # nothing half-stored
    foreign_office = issue(other_office, "330599-002")
    forged = c.post(f"{home}/upload", files={"file": ("别处.xlsx", foreign_office)})
    assert shown(forged.text, "verdict") == "未受理" and "其他单位下发的模板" in forged.text
    empty = c.post(f"{home}/upload", files={"file": ("空.xlsx", b"")})
    text = c.post(f"{home}/upload", files={"file": ("表.xlsx", "单位,数量\n".encode())})
    assert shown(empty.text, "verdict") == "未受理" and shown(text.text, "verdict") == "未受理"
    assert [s for _, s in submissions(ws)] == ["rejected", "rejected", "rejected"]
    assert not [p for p in uploads.rglob("*") if p.is_file()]


def test_closed_window_and_late_marking(ws) -> None:  # type: ignore[no-untyped-def]
    c = client(ws.root)
    csrf = sign_in(c, ws.key)
    c.post("/office/links", data={"csrf": csrf, "unit": "330599-003", "action": "close"})
    r = c.post(link_path(ws.key, "330599-003") + "/upload",
               files={"file": ("a.xlsx", issue(ws, "330599-003"))})
    assert r.status_code == 403 and "已截止" in r.text
    # the workspace's deadline (2023-01-20) has passed: uploads work, marked late
    r = c.post(link_path(ws.key, "330599-002") + "/upload",
               files={"file": ("a.xlsx", issue(ws, "330599-002"))})
    assert shown(r.text, "verdict") == "通过" and "逾期" in r.text


def test_office_csrf_review_and_api(ws) -> None:  # type: ignore[no-untyped-def]
    c = client(ws.root)
    home = link_path(ws.key, "330599-002")
    c.post(f"{home}/upload", files={"file": ("a.xlsx", issue(ws, "330599-002"))})
    assert c.get("/office", follow_redirects=False).status_code == 303
    assert c.get("/api/status").status_code == 401
    csrf = sign_in(c, ws.key)
    review = {"unit": "330599-002", "submission": "1", "action": "return",
              "reason": "表三数字与去年差异过大，请核实", "reviewer": "李审核"}
    assert c.post("/office/review", data=review).status_code == 403          # no token
    assert c.post("/office/review", data={**review, "csrf": "x"}).status_code == 403
    other = client(ws.root)  # another signed-in session's token does not fit this one
    assert c.post("/office/review", data={**review, "csrf": sign_in(other, ws.key) + "x"}
                  ).status_code == 403
    r = c.post("/office/review", data={**review, "csrf": csrf})
    assert r.status_code == 200 and "收集单位退回" in r.text
    r = c.post("/office/review", data={**review, "action": "accept", "csrf": csrf})
    assert r.status_code == 400 and "不能接受" in r.text  # a returned file has an error now
    page = c.get(home).text
    assert shown(page, "unit-state") == "有错误" and "表三数字与去年差异过大" in page
    with Ledger(ws.ledger_path) as ledger:
        kinds = [r["kind"] for r in ledger.db.execute("SELECT kind FROM runs")]
        report = unit_status(ledger, ws.config)
        merged = merge(ledger, load_form(), ws.config.year, ledger.units())
    assert kinds.count("review") == 1
    assert merged.contributions == []  # the returned file no longer counts
    api = c.get("/api/status").json()
    bearer = client(ws.root).get("/api/status", headers={
        "authorization": f"Bearer {office_secret(ws.key)}"}).json()
    assert api["totals"] == bearer["totals"] == report.totals
    assert bearer["totals"]["invalid"] == 1
    dash = c.get("/office?state=invalid")
    assert shown(dash.text, "count-invalid") == "1" and dash.text.count("data-state=") == 1
    chase = c.get("/office/download/chase.csv")
    assert chase.content.startswith("\ufeff".encode()) and "330599-003" in chase.text
    merged = c.get("/office/download/merged.xlsx")
    assert zipfile.ZipFile(io.BytesIO(merged.content)).testzip() is None
    assert c.get("/office/download/report.docx").content[:2] == b"PK"
    r = c.post("/office/upload", files={"files": ("邮件.xlsx", issue(ws, "330599-101"))},
               data={"csrf": csrf})
    assert r.status_code == 200 and "新入账 1" in r.text
    assert c.post("/office/upload", files={"files": ("x.xlsx", issue(ws, "330599-003"))}
                  ).status_code == 403
    assert len(submissions(ws)) == 2
    assert c.post("/office/revalidate", data={}).status_code == 403
    r = c.post("/office/revalidate", data={"csrf": csrf})
    assert r.status_code == 200 and "重新校验 2 份提交" in r.text
    assert c.post("/office/signout", data={}).status_code == 403
    c.post("/office/signout", data={"csrf": csrf})
    assert c.get("/office", follow_redirects=False).status_code == 303


def test_links_command_csv_json(ws) -> None:  # type: ignore[no-untyped-def]
    roster = ROSTER + "330599-900,=HYPERLINK(\"x\"),330599,,\n"
    ws.roster_path.write_text(roster, encoding="utf-8")
    out = ws.root / "links.csv"
    runner = CliRunner()
    r = runner.invoke(cli, ["links", "-w", str(ws.root), "--base-url", "https://nb.example.cn",
                            "--csv", str(out), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert rows[1]["link"] == "https://nb.example.cn" + link_path(ws.key, "330599-002")
    text = out.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff单位代码,单位名称,报送链接") and "'=HYPERLINK" in text
    r = runner.invoke(cli, ["links", "-w", str(ws.root), "--reissue", "330599-002", "--json"])
    after = json.loads(r.output)
    assert after[1]["link"] != rows[1]["link"].replace("https://nb.example.cn",
                                                       "http://127.0.0.1:8000")
    assert after[2]["link"].endswith(link_path(ws.key, "330599-003"))
    r = runner.invoke(cli, ["distribute", "-w", str(ws.root), "--base-url", "http://h:1"])
    manifest = json.loads((ws.outbox / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"][1]["link"] == "http://h:1" + link_path(ws.key, "330599-002", 1)
    assert csrf_of('<input name="csrf" value="t">') == "t"


def test_office_accepts_a_file_with_explained_warnings(ws) -> None:  # type: ignore[no-untyped-def]
    c = client(ws.root)
    values = complete_values()
    del values["t2.penalty"]  # left blank: a warning, no error
    c.post(link_path(ws.key, "330599-002") + "/upload",
           files={"file": ("a.xlsx", issue(ws, "330599-002", values))})
    csrf = sign_in(c, ws.key)
    before = c.get("/api/status").json()["totals"]["valid_with_unexplained_warnings"]
    r = c.post("/office/review", data={"csrf": csrf, "unit": "330599-002", "submission": "1",
                                       "action": "accept", "reason": "本年无行政处罚，确认空白",
                                       "reviewer": "王审核"})
    assert r.status_code == 200
    assert (before, c.get("/api/status").json()["totals"]["valid_with_unexplained_warnings"]
            ) == (1, 0)
    with Ledger(ws.ledger_path) as ledger:
        row = next(ledger.rows())
        runs = [json.loads(d) for (d,) in ledger.db.execute(
            "SELECT detail FROM runs WHERE kind = 'review'")]
    assert row.verdict.status == "valid" and row.verdict.explained == row.verdict.warnings
    assert row.verdict.findings[-1]["code"] == "ACCEPTED_BY_OFFICE"
    assert runs[0]["reviewer"] == "王审核" and runs[0]["action"] == "accept"
