"""合规复核: the flag queue, one flag with its evidence, decisions, exports and a read-only view of the lexicon.
Calls compliance.service, as the JSON API does."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from bot.console.auth import Staff, require_role, require_staff
from bot.console.common import redirect, render, services
from bot.conversations import service as conversation_service
from bot.errors import BadRequestError, BotError
from compliance import service as compliance_service

router = APIRouter(prefix="/compliance", dependencies=[Depends(require_staff), Depends(require_role("compliance"))])
ComplianceStaff = Annotated[Staff, Depends(require_role("compliance"))]

STATUSES = ("open", "confirmed", "dismissed")
SEVERITIES = ("block", "review", "warn")


def _lexicon(svc: Any) -> Any:
    lexicon = getattr(svc.gate, "lexicon", None)
    if lexicon is None:
        from compliance.lexicon import default_lexicon

        lexicon = default_lexicon()
    return lexicon


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequestError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _range(tz: Any, start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    lo = datetime.combine(start, time.min, tz).astimezone(UTC) if start else None
    hi = datetime.combine(end + timedelta(days=1), time.min, tz).astimezone(UTC) if end else None
    return lo, hi


@router.get("", response_class=HTMLResponse)
def queue(
    request: Request,
    status: str = "open",
    severity: str = "",
    category: str = "",
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
) -> HTMLResponse:
    svc = services(request)
    lo, hi = _range(svc.settings.tz, _day(start), _day(end))
    status = status if status in (*STATUSES, "all") else "open"
    severity = severity if severity in SEVERITIES else ""
    with svc.db.session() as session:
        flags = compliance_service.list_flags(
            session=session, status=None if status == "all" else status, severity=severity or None,
            category=category or None, start=lo, end=hi, limit=200,
        )
        open_count = compliance_service.count_flags(session=session, status="open")
    lexicon = _lexicon(svc)
    return render(request, "compliance/queue.html", {
        "flags": flags, "open_count": open_count, "categories": lexicon.categories,
        "f": {"status": status, "severity": severity, "category": category, "from": start, "to": end},
        "statuses": STATUSES, "severities": SEVERITIES,
    })


def _flag_page(
    request: Request, flag_id: int, *, error: BotError | None = None, status_code: int = 200
) -> HTMLResponse:
    svc = services(request)
    with svc.db.session() as session:
        flag = compliance_service.get_flag_or_raise(session=session, flag_id=flag_id)
        turns = []
        if flag.conversation_id is not None:
            before = (flag.message_id or 2**62) + 1
            turns = conversation_service.recent_turns(session=session, conversation_id=flag.conversation_id,
                                                      before_id=before, limit=20)
    lexicon = _lexicon(svc)
    return render(request, "compliance/flag.html", {
        "flag": flag, "segments": compliance_service.segments(flag.text or "", list(flag.hits or [])), "turns": turns,
        "categories": lexicon.categories, "current_version": lexicon.version, "error": error,
    }, status_code=status_code)


@router.get("/flags/{flag_id}", response_class=HTMLResponse)
def flag_page(request: Request, flag_id: int) -> HTMLResponse:
    return _flag_page(request, flag_id)


@router.post("/flags/{flag_id}/decision")
def decision(
    request: Request,
    flag_id: int,
    staff: ComplianceStaff,
    status: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    svc = services(request)
    try:
        with svc.db.session() as session:
            compliance_service.decide(session=session, flag_id=flag_id, status=status, reviewer=staff.userid,
                                      note=note.strip() or None, now=svc.now())
    except BotError as exc:
        if exc.status_code == 404:
            raise
        return _flag_page(request, flag_id, error=exc, status_code=exc.status_code)
    return redirect(request, f"/compliance/flags/{flag_id}", done=status)


@router.get("/export")
def export(
    request: Request,
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
    fmt: Annotated[str, Query(alias="format")] = "csv",
) -> Response:
    """A download of the flags created in [from, to] (local dates, both included)."""
    svc = services(request)
    first, last = _day(start), _day(end)
    if first is None or last is None:
        raise BadRequestError("choose both dates of the range")
    if last < first:
        raise BadRequestError("'to' is before 'from'")
    lo, hi = _range(svc.settings.tz, first, last)
    with svc.db.session() as session:
        body = compliance_service.export(session=session, start=lo, end=hi, fmt=fmt)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson; charset=utf-8"
    name = f"compliance-flags-{first.isoformat()}-{last.isoformat()}.{fmt}"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/lexicon", response_class=HTMLResponse)
def lexicon_page(request: Request) -> HTMLResponse:
    summary = _lexicon(services(request)).summary()
    return render(request, "compliance/lexicon.html", {"lexicon": summary})
