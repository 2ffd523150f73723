"""An office reviewer's word on a submission: 退回 (returned, with a reason the unit sees)
or 接受 (accepted with its warnings explained).

A review is appended to the ledger like any judgement: a run of kind "review" (who, what,
why, when) and a new validation of the submission carrying a finding that says so. The
current validation is what status and merge read, so both respect it; nothing is changed
in place. (A later `revalidate` judges the file afresh and so replaces a review.)
"""

from __future__ import annotations

from dataclasses import replace

from nianbao.collect.judging import now_iso
from nianbao.collect.ledger import Ledger, Row
from nianbao.findings import make

RETURN, ACCEPT = "return", "accept"


class ReviewError(ValueError):
    """The review cannot be recorded; the message says why (Chinese)."""


def review(ledger: Ledger, row: Row, action: str, reason: str, reviewer: str) -> int:
    """Record a review of `row`; returns the review's run id."""
    reason, reviewer = reason.strip(), reviewer.strip() or "收集单位"
    v = row.verdict
    if not reason:
        raise ReviewError("请写明理由：退回的理由会显示在填报单位的页面上，接受的理由记入台账")
    if v.status == "rejected":
        raise ReviewError("未受理的文件不能审核，请填报单位重新报送")
    at = now_iso()
    if action == RETURN:
        finding = make("RETURNED_BY_OFFICE", reason=reason, reviewer=reviewer, at=at)
        new = replace(v, status="invalid", findings=[*v.findings, finding.to_dict()],
                      errors=v.errors + 1)
    elif action == ACCEPT:
        if v.errors:
            raise ReviewError(f"这份文件有 {v.errors} 处错误，不能接受；"
                              "只有提醒的文件可以说明后接受")
        finding = make("ACCEPTED_BY_OFFICE", reason=reason, reviewer=reviewer, at=at)
        new = replace(v, status="valid", findings=[*v.findings, finding.to_dict()],
                      explained=v.warnings)
    else:
        raise ReviewError(f"未知的审核操作：{action}")
    run_id = ledger.start_run("review", at, {"submission": row.id, "action": action,
                                             "reason": reason, "reviewer": reviewer})
    ledger.add_validation(row.id, run_id, at, new)
    ledger.finish_run(run_id, at, {"submission": row.id, "action": action, "reason": reason,
                                   "reviewer": reviewer, "status": new.status})
    return run_id
