"""转人工工单: advisors' escalations (supervisors see everyone's). /console/escalations/{id} is the link advisors get
in their WeCom app messages. Every action calls bot.escalations.service, as the JSON API does."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from bot.clients import service as client_service
from bot.console.auth import Staff, require_role, require_staff
from bot.console.common import redirect, render, services
from bot.errors import BotError, ForbiddenError
from bot.escalations import service as escalation_service
from bot.models import EscalationStatus

router = APIRouter(prefix="/escalations", dependencies=[Depends(require_staff)])
AdvisorStaff = Annotated[Staff, Depends(require_role("advisor", "supervisor"))]

_CLOSED = [EscalationStatus.resolved, EscalationStatus.returned]


def can_open(staff: Staff, advisor_userid: str | None) -> bool:
    """Advisors open their own (and unassigned) escalations; supervisors open all."""
    return staff.is_supervisor or advisor_userid in (None, staff.userid)


@router.get("", response_class=HTMLResponse)
def list_page(request: Request, staff: AdvisorStaff, status: str = "open", scope: str = "") -> HTMLResponse:
    svc = services(request)
    everyone = staff.is_supervisor and scope != "mine"
    statuses = _CLOSED if status == "closed" else None
    with svc.db.session() as session:
        items = escalation_service.list_escalations(session=session, staff=staff.userid, now=svc.now(),
                                                    statuses=statuses, everyone=everyone)
    return render(request, "escalations/list.html", {
        "items": items, "status": "closed" if status == "closed" else "open", "everyone": everyone,
    })


def _detail_page(request: Request, staff: Staff, escalation_id: int, *, extra: dict[str, Any] | None = None,
                 status_code: int = 200) -> HTMLResponse:
    svc = services(request)
    with svc.db.session() as session:
        detail = escalation_service.get_detail(session=session, escalation_id=escalation_id, now=svc.now(),
                                               settings=svc.settings)
        if not can_open(staff, detail.advisor_userid):
            raise ForbiddenError(f"escalation {escalation_id} is assigned to another advisor")
        client = client_service.get_client(session=session, external_userid=detail.external_userid)
        profile = client.model_dump(mode="json") if client is not None else dict(detail.client)
    context = {
        "e": detail, "client": profile, "client_live": client is not None,
        "request_id": secrets.token_hex(8), "reply_text": detail.draft_text, "refused": None, "error": None,
    }
    context.update(extra or {})
    return render(request, "escalations/detail.html", context, status_code=status_code)


@router.get("/{escalation_id}", response_class=HTMLResponse)
def detail_page(request: Request, escalation_id: int, staff: AdvisorStaff) -> HTMLResponse:
    return _detail_page(request, staff, escalation_id)


def _act(request: Request, staff: Staff, escalation_id: int, action: Any, done: str, **kwargs: Any) -> Response:
    svc = services(request)
    _check_access(request, staff, escalation_id)
    try:
        with svc.db.session() as session:
            action(session=session, escalation_id=escalation_id, staff_userid=staff.userid, now=svc.now(), **kwargs)
    except BotError as exc:
        if exc.status_code == 403:
            raise
        return _detail_page(request, staff, escalation_id, extra={"error": exc}, status_code=exc.status_code)
    svc.wake()
    return redirect(request, f"/escalations/{escalation_id}", done=done)


def _check_access(request: Request, staff: Staff, escalation_id: int) -> None:
    svc = services(request)
    with svc.db.session() as session:
        escalation = escalation_service.get_escalation_or_raise(session=session, escalation_id=escalation_id)
        if not can_open(staff, escalation.advisor_userid):
            raise ForbiddenError(f"escalation {escalation_id} is assigned to another advisor")


@router.post("/{escalation_id}/claim")
def claim(request: Request, escalation_id: int, staff: AdvisorStaff) -> Response:
    return _act(request, staff, escalation_id, escalation_service.claim, "claimed")


@router.post("/{escalation_id}/release")
def release(request: Request, escalation_id: int, staff: AdvisorStaff) -> Response:
    return _act(request, staff, escalation_id, escalation_service.release, "released")


@router.post("/{escalation_id}/takeover")
def takeover(request: Request, escalation_id: int, staff: AdvisorStaff) -> Response:
    return _act(request, staff, escalation_id, escalation_service.takeover, "takeover")


@router.post("/{escalation_id}/resolve")
def resolve(request: Request, escalation_id: int, staff: AdvisorStaff,
            outcome: Annotated[str, Form(max_length=200)] = "") -> Response:
    return _act(request, staff, escalation_id, escalation_service.resolve, "resolved", outcome=outcome)


@router.post("/{escalation_id}/hand-back")
def hand_back(request: Request, escalation_id: int, staff: AdvisorStaff,
              note: Annotated[str, Form(max_length=200)] = "") -> Response:
    return _act(request, staff, escalation_id, escalation_service.hand_back, "handed_back", note=note)


@router.post("/{escalation_id}/reply")
def reply(
    request: Request,
    escalation_id: int,
    staff: AdvisorStaff,
    text: Annotated[str, Form(max_length=2000)] = "",
    request_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Send the draft, or the edited text; screened again by the gate. Refused: the page again, nothing sent."""
    svc = services(request)
    _check_access(request, staff, escalation_id)
    with svc.db.session() as session:
        draft = escalation_service.get_escalation_or_raise(session=session, escalation_id=escalation_id).draft_text
    edited = text.replace("\r\n", "\n").strip()
    try:
        with svc.db.session() as session:
            result = escalation_service.send_reply(
                session=session, escalation_id=escalation_id, staff_userid=staff.userid, gate=svc.gate,
                now=svc.now(), text=None if edited == draft.strip() else edited, request_key=request_id or None,
            )
    except BotError as exc:
        if exc.status_code == 403:
            raise
        return _detail_page(request, staff, escalation_id, extra={"error": exc, "reply_text": edited},
                            status_code=exc.status_code)
    if result.status == "refused":
        return _detail_page(request, staff, escalation_id, extra={"refused": result, "reply_text": edited},
                            status_code=422)
    svc.wake()
    return redirect(request, f"/escalations/{escalation_id}", done="sent")
