"""工作台: what needs attention, by role (my open escalations, flags awaiting review, unanswered questions)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from bot.console.auth import StaffDep, require_staff
from bot.console.common import render, services
from bot.console.kb import unanswered
from bot.escalations import service as escalation_service

router = APIRouter(dependencies=[Depends(require_staff)])

UNANSWERED_DAYS = 7


@router.get("/", response_class=HTMLResponse)
def home(request: Request, staff: StaffDep) -> HTMLResponse:
    svc = services(request)
    now = svc.now()
    counts: dict[str, int | None] = {"mine": None, "overdue": None, "all_open": None, "flags": None,
                                     "unanswered": None}
    with svc.db.session() as session:
        if staff.has("advisor", "supervisor"):
            mine = escalation_service.list_escalations(session=session, staff=staff.userid, now=now)
            counts["mine"] = len(mine)
            counts["overdue"] = sum(1 for e in mine if e.overdue)
            if staff.is_supervisor:
                counts["all_open"] = len(escalation_service.list_escalations(
                    session=session, staff=staff.userid, now=now, everyone=True, limit=10000))
        if staff.has("compliance"):
            from compliance import service as compliance_service

            counts["flags"] = compliance_service.count_flags(session=session, status="open")
    if staff.has("ops"):
        counts["unanswered"] = len(unanswered(svc, since=now - timedelta(days=UNANSWERED_DAYS), limit=1000))
    return render(request, "home.html", {"counts": counts, "unanswered_days": UNANSWERED_DAYS})
