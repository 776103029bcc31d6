"""JSON API for advisors: list my escalations, read one, claim, send the draft or an edited reply, resolve,
hand back to the bot, take the chat into WeCom. Thin: every route calls bot.escalations.service in one unit of work."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bot.api.auth import AdvisorDep
from bot.escalations import service as escalation_service
from bot.escalations.schemas import EscalationDetail, EscalationSummary, ReplyResult
from bot.models import EscalationStatus


class ReplyIn(BaseModel):
    text: str | None = Field(default=None, max_length=2000)  # None: send the draft as it is
    request_id: str | None = Field(default=None, max_length=64)  # makes a retried request a no-op


class ResolveIn(BaseModel):
    outcome: str = Field(min_length=1, max_length=200)


class HandBackIn(BaseModel):
    note: str = Field(default="", max_length=200)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/escalations", tags=["escalations"])

    @router.get("", response_model=list[EscalationSummary])
    def list_escalations(request: Request, staff: AdvisorDep, status: EscalationStatus | None = None,
                         everyone: bool = False) -> list[EscalationSummary]:
        """My escalations (open by default); supervisors may ask for everyone's."""
        svc = request.app.state.services
        with svc.db.session() as session:
            me = escalation_service.get_staff_or_raise(session=session, userid=staff.userid)
            return escalation_service.list_escalations(
                session=session, staff=me.wecom_userid, now=svc.now(), statuses=[status] if status else None,
                everyone=everyone and me.is_supervisor,
            )

    @router.get("/{escalation_id}", response_model=EscalationDetail)
    def get_escalation(request: Request, escalation_id: int, staff: AdvisorDep) -> EscalationDetail:
        svc = request.app.state.services
        with svc.db.session() as session:
            escalation_service.get_visible_or_raise(session=session, escalation_id=escalation_id,
                                                    staff_userid=staff.userid)
            return escalation_service.get_detail(session=session, escalation_id=escalation_id, now=svc.now(),
                                                 settings=svc.settings)

    @router.post("/{escalation_id}/claim", response_model=EscalationDetail)
    def claim(request: Request, escalation_id: int, staff: AdvisorDep) -> EscalationDetail:
        return _act(request, escalation_id, staff.userid, escalation_service.claim)

    @router.post("/{escalation_id}/release", response_model=EscalationDetail)
    def release(request: Request, escalation_id: int, staff: AdvisorDep) -> EscalationDetail:
        return _act(request, escalation_id, staff.userid, escalation_service.release)

    @router.post("/{escalation_id}/takeover", response_model=EscalationDetail)
    def takeover(request: Request, escalation_id: int, staff: AdvisorDep) -> EscalationDetail:
        """Take the chat into WeCom (kf/service_state/trans -> 3); replies then go through WeCom itself."""
        return _act(request, escalation_id, staff.userid, escalation_service.takeover)

    @router.post("/{escalation_id}/reply", response_model=ReplyResult,
                 responses={422: {"model": ReplyResult, "description": "refused by the compliance gate"}})
    def reply(request: Request, escalation_id: int, body: ReplyIn, staff: AdvisorDep):  # type: ignore[no-untyped-def]
        """Send the draft (no text) or an edited reply through kf, screened again; refused -> 422 with a hint."""
        svc = request.app.state.services
        with svc.db.session() as session:
            result = escalation_service.send_reply(
                session=session, escalation_id=escalation_id, staff_userid=staff.userid, gate=svc.gate,
                now=svc.now(), text=body.text, request_key=body.request_id,
            )
        if result.status == "refused":
            return JSONResponse(result.model_dump(mode="json"), status_code=422)
        _wake(svc)
        return result

    @router.post("/{escalation_id}/resolve", response_model=EscalationDetail)
    def resolve(request: Request, escalation_id: int, body: ResolveIn, staff: AdvisorDep) -> EscalationDetail:
        return _act(request, escalation_id, staff.userid, escalation_service.resolve, outcome=body.outcome)

    @router.post("/{escalation_id}/hand-back", response_model=EscalationDetail)
    def hand_back(request: Request, escalation_id: int, body: HandBackIn, staff: AdvisorDep) -> EscalationDetail:
        return _act(request, escalation_id, staff.userid, escalation_service.hand_back, note=body.note)

    return router


def _act(  # type: ignore[no-untyped-def]
    request: Request, escalation_id: int, userid: str | None, action, **kwargs
) -> EscalationDetail:
    svc = request.app.state.services
    with svc.db.session() as session:
        action(session=session, escalation_id=escalation_id, staff_userid=userid, now=svc.now(), **kwargs)
    with svc.db.session() as session:
        detail = escalation_service.get_detail(session=session, escalation_id=escalation_id, now=svc.now(),
                                               settings=svc.settings)
    _wake(svc)
    return detail


def _wake(svc) -> None:  # type: ignore[no-untyped-def]
    wake = getattr(svc, "wake", None)
    if callable(wake):
        wake()
