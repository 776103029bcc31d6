"""JSON API of the compliance console (mounted under /api by bot.main): flags, decisions, exports, lexicon.

    GET  /api/compliance/flags?status&category&severity&direction&conversation_id&from&to&limit&offset
    GET  /api/compliance/flags/{id}            one flag with its evidence (highlighted spans, hints, transcript)
    POST /api/compliance/flags/{id}/decision   {"status": "confirmed"|"dismissed", "reviewer": "...", "note": "..."}
    GET  /api/compliance/export?from=YYYY-MM-DD&to=YYYY-MM-DD&format=csv|jsonl
    GET  /api/compliance/lexicon               version and categories
    POST /api/compliance/screen                {"text": "...", "direction": "out"|"in"|null}: try the screening
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from bot.errors import BadRequestError
from bot.models.compliance import ComplianceFlag
from bot.models.conversation import Message
from compliance import service as compliance_service


def _session(request: Request) -> Iterator[Session]:
    """A unit of work on the app's database (commits when the route returns normally)."""
    with request.app.state.services.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(_session)]


class DecisionIn(BaseModel):
    status: Literal["confirmed", "dismissed"]
    reviewer: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


class ScreenIn(BaseModel):
    text: str = Field(max_length=20000)
    direction: Literal["out", "in"] | None = "out"


def _gate(request: Request) -> Any:
    from compliance.gate import ComplianceGate

    gate = getattr(request.app.state.services, "gate", None)
    return gate if isinstance(gate, ComplianceGate) else ComplianceGate(semantic=None)


def _tz(request: Request) -> Any:
    settings = getattr(request.app.state.services, "settings", None)
    return settings.tz if settings is not None else UTC


def _range(request: Request, start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    tz = _tz(request)
    lo = datetime.combine(start, time.min, tz).astimezone(UTC) if start else None
    hi = datetime.combine(end + timedelta(days=1), time.min, tz).astimezone(UTC) if end else None
    return lo, hi


def _summary(flag: ComplianceFlag) -> dict[str, Any]:
    row = compliance_service.flag_row(flag)
    row["hits"] = flag.hits
    row["rewrite_hint"] = flag.rewrite_hint
    return row


def build_router() -> APIRouter:
    """The compliance console's JSON API."""
    router = APIRouter(prefix="/compliance", tags=["compliance"])

    @router.get("/flags")
    def list_flags(
        request: Request,
        session: SessionDep,
        status: Literal["open", "confirmed", "dismissed"] | None = None,
        category: str | None = None,
        severity: Literal["warn", "review", "block"] | None = None,
        direction: Literal["in", "out"] | None = None,
        conversation_id: int | None = None,
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        lo, hi = _range(request, start, end)
        flags = compliance_service.list_flags(
            session=session, status=status, category=category, severity=severity, direction=direction,
            conversation_id=conversation_id, start=lo, end=hi, limit=limit, offset=offset,
        )
        return {"items": [_summary(f) for f in flags], "limit": limit, "offset": offset,
                "open": compliance_service.count_flags(session=session, status="open")}

    @router.get("/flags/{flag_id}")
    def get_flag(flag_id: int, request: Request, session: SessionDep) -> dict[str, Any]:
        flag = compliance_service.get_flag_or_raise(session=session, flag_id=flag_id)
        lex = _gate(request).lexicon
        categories = [
            {"name": c, "name_zh": lex.categories[c].name_zh, "rewrite_hint": lex.categories[c].rewrite_hint,
             "basis": [lex.spec.regulations[b].name for b in lex.categories[c].basis if b in lex.spec.regulations]}
            for c in flag.categories if c in lex.categories
        ]
        transcript = []
        if flag.conversation_id is not None:
            stmt = select(Message).where(Message.conversation_id == flag.conversation_id)
            if flag.message_id is not None:
                stmt = stmt.where(Message.id <= flag.message_id + 1)
            rows = list(session.exec(stmt.order_by(Message.id.desc()).limit(20)))  # type: ignore[union-attr]
            transcript = [
                {"id": m.id, "direction": str(m.direction), "sender": m.sender, "text": m.text,
                 "status": str(m.status), "at": m.created_at.isoformat() if m.created_at else None}
                for m in reversed(rows)
            ]
        return {**_summary(flag), "segments": compliance_service.segments(flag.text, flag.hits or []),
                "category_details": categories,
                "transcript": transcript, "current_lexicon_version": lex.version}

    @router.post("/flags/{flag_id}/decision")
    def decide(flag_id: int, body: DecisionIn, request: Request, session: SessionDep) -> dict[str, Any]:
        now = request.app.state.services.now()
        flag = compliance_service.decide(session=session, flag_id=flag_id, status=body.status,
                                         reviewer=body.reviewer, note=body.note, now=now)
        return _summary(flag)

    @router.get("/export")
    def export(
        request: Request,
        session: SessionDep,
        start: Annotated[date, Query(alias="from")],
        end: Annotated[date, Query(alias="to")],
        fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "csv",
    ) -> Response:
        if end < start:
            raise BadRequestError("'to' is before 'from'")
        lo, hi = _range(request, start, end)
        body = compliance_service.export(session=session, start=lo, end=hi, fmt=fmt)  # type: ignore[arg-type]
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson; charset=utf-8"
        name = f"compliance-flags-{start.isoformat()}-{end.isoformat()}.{fmt}"
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @router.get("/lexicon")
    def lexicon(request: Request) -> dict[str, Any]:
        return _gate(request).lexicon.summary()

    @router.post("/screen")
    def screen(body: ScreenIn, request: Request) -> dict[str, Any]:
        result = _gate(request).screen(body.text, direction=body.direction)
        out = result.to_json()
        out["lexicon_version"] = result.lexicon_version
        out["segments"] = compliance_service.segments(body.text, [h.to_json() for h in result.hits])
        return out

    return router
