"""知识库 (ops): FAQ entries and documents with their draft/published state, search, create and edit an FAQ (saved as
a draft), publish, delete, upload files to import, 试一试 (the live decision without sending) and 未解决问题 (what the
bot could not answer). Calls knowledge_base.service.KnowledgeBase and bot.pipeline.decide, as the JSON API does."""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from bot.console.auth import Staff, require_role, require_staff
from bot.console.common import redirect, render, services
from bot.errors import BotError
from bot.models import Escalation, EscalationReason, Message

router = APIRouter(prefix="/kb", dependencies=[Depends(require_staff), Depends(require_role("ops"))])
OpsStaff = Annotated[Staff, Depends(require_role("ops"))]

UNANSWERED_REASONS = (EscalationReason.low_confidence, EscalationReason.out_of_scope)
UPLOAD_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".docx", ".yaml", ".yml")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")
CLIENT_LEVELS = ("C1", "C2", "C3", "C4", "C5")
_SPLIT = re.compile(r"[,，;；、\n]+")


def unanswered(svc: Any, *, since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Recent escalations the bot raised because it could not answer (low confidence, out of scope), newest first,
    with the client's question."""
    stmt = (
        select(Escalation, Message)
        .join(Message, col(Message.id) == col(Escalation.message_id), isouter=True)
        .where(col(Escalation.reason).in_([str(r) for r in UNANSWERED_REASONS]))
    )
    if since is not None:
        stmt = stmt.where(Escalation.created_at >= since)
    with svc.db.session() as session:
        rows = session.exec(stmt.order_by(col(Escalation.created_at).desc()).limit(limit)).all()
        return [{"id": e.id, "reason": str(e.reason), "status": str(e.status), "created_at": e.created_at,
                 "question": m.text if m is not None else "", "detail": e.detail, "sources": list(e.sources)}
                for e, m in rows]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _tags(text: str) -> list[str]:
    return [t.strip() for t in _SPLIT.split(text) if t.strip()]


def faq_form_values(
    question: Annotated[str, Form(max_length=500)] = "",
    similar_questions: Annotated[str, Form(max_length=5000)] = "",
    answer: Annotated[str, Form(max_length=10000)] = "",
    tags: Annotated[str, Form(max_length=500)] = "",
    category: Annotated[str, Form(max_length=64)] = "",
    risk_level: Annotated[str, Form(max_length=2)] = "",
    handoff: Annotated[str, Form(max_length=8)] = "",
    effective: Annotated[str, Form(max_length=10)] = "",
    expires: Annotated[str, Form(max_length=10)] = "",
) -> dict[str, Any]:
    """The FAQ form's fields (create and edit share them), cleaned."""
    return {
        "question": question.strip(), "similar_questions": _lines(similar_questions), "answer": answer.strip(),
        "tags": _tags(tags), "category": category.strip() or None, "risk_level": risk_level.strip() or None,
        "handoff": handoff in ("1", "on", "true"), "effective": effective.strip() or None,
        "expires": expires.strip() or None,
    }


FaqValues = Annotated[dict[str, Any], Depends(faq_form_values)]


@router.get("", response_class=HTMLResponse)
def list_page(request: Request, q: str = "", kind: str = "") -> HTMLResponse:
    kb = services(request).kb
    kind = kind if kind in ("faq", "document") else ""
    articles = kb.list_articles(kind=kind or None, q=q.strip() or None, limit=500)
    hits = kb.search(q, k=8) if q.strip() else []
    return render(request, "kb/list.html", {"articles": articles, "hits": hits, "q": q, "kind": kind,
                                            "stats": kb.stats()})


def _faq_form(request: Request, *, key: str | None, values: dict[str, Any], error: BotError | None = None,
              view: Any = None, status_code: int = 200) -> HTMLResponse:
    return render(request, "kb/faq_form.html", {
        "key": key, "v": values, "error": error, "view": view, "risk_levels": RISK_LEVELS,
    }, status_code=status_code)


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request) -> HTMLResponse:
    return _faq_form(request, key=None, values={"id": "", "similar_questions": [], "tags": []})


@router.post("/new")
def create(
    request: Request,
    staff: OpsStaff,
    values: FaqValues,
    id: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    from knowledge_base.service import article_from_payload

    payload = {"kind": "faq", "id": id.strip(), **{k: v for k, v in values.items() if v is not None}}
    try:
        data = article_from_payload(payload)
        services(request).kb.create(data, publish=False, author=staff.userid)
    except BotError as exc:
        return _faq_form(request, key=None, values={"id": id, **values}, error=exc, status_code=exc.status_code)
    return redirect(request, f"/kb/articles/{data.key}", done="created")


@router.get("/articles/{key}", response_class=HTMLResponse)
def article_page(request: Request, key: str) -> HTMLResponse:
    view = services(request).kb.get_or_raise(key, include_deleted=True)
    snapshot = view.draft or view.published or {}
    if view.kind == "faq":
        return _faq_form(request, key=key, values={"id": key, **snapshot}, view=view)
    return render(request, "kb/document.html", {"view": view, "doc": snapshot})


@router.post("/articles/{key}/edit")
def edit(request: Request, key: str, staff: OpsStaff, values: FaqValues) -> Response:
    kb = services(request).kb
    try:
        kb.update(key, values, publish=False, author=staff.userid)
    except BotError as exc:
        if exc.status_code == 404:
            raise
        view = kb.get_or_raise(key, include_deleted=True)
        return _faq_form(request, key=key, values={"id": key, **values}, error=exc, view=view,
                         status_code=exc.status_code)
    return redirect(request, f"/kb/articles/{key}", done="saved")


@router.post("/articles/{key}/publish")
def publish(request: Request, key: str, staff: OpsStaff) -> Response:
    services(request).kb.publish(key)
    return redirect(request, f"/kb/articles/{key}", done="published")


@router.post("/articles/{key}/delete")
def delete(request: Request, key: str, staff: OpsStaff) -> Response:
    services(request).kb.delete(key)
    return redirect(request, "/kb", done="deleted")


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request) -> HTMLResponse:
    return render(request, "kb/import.html", {"report": None, "suffixes": UPLOAD_SUFFIXES})


@router.post("/import", response_class=HTMLResponse)
def import_files(
    request: Request,
    staff: OpsStaff,
    files: Annotated[list[UploadFile], File()],
    publish: Annotated[str, Form(max_length=8)] = "",
) -> HTMLResponse:
    """Import uploaded files (the same report as `scrm kb import`); shown on the page, nothing to redirect to."""
    svc = services(request)
    uploads = Path(svc.settings.data_dir) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    rejected: list[str] = []
    with tempfile.TemporaryDirectory(dir=uploads) as folder:
        paths = []
        for upload in files:
            name = Path(upload.filename or "").name
            if not name or Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
                rejected.append(name or "?")
                continue
            target = Path(folder) / name
            with target.open("wb") as out:
                shutil.copyfileobj(upload.file, out)
            if target.stat().st_size > MAX_UPLOAD_BYTES:
                target.unlink()
                rejected.append(name)
                continue
            paths.append(target)
        report = svc.kb.import_paths(paths, publish=publish in ("1", "on"), author=staff.userid) if paths else None
    result = report.as_dict() if report is not None else None
    if result is not None:
        for error in result["errors"]:
            error["path"] = Path(error["path"]).name
    return render(request, "kb/import.html", {"report": result, "rejected": rejected, "suffixes": UPLOAD_SUFFIXES,
                                              "published": publish in ("1", "on")})


@router.get("/try", response_class=HTMLResponse)
def try_page(request: Request, text: str = "", risk_level: str = "") -> HTMLResponse:
    """Run a question through the live decision without sending anything."""
    from bot.pipeline.decide import decide
    from bot.pipeline.schemas import ClientProfile, Context, InboundMessage

    svc = services(request)
    decision = None
    text = text.strip()[:2000]
    if text:
        now = svc.now()
        client = ClientProfile(external_userid="console_try", risk_level=risk_level) if risk_level in CLIENT_LEVELS \
            else None
        ctx = Context(client=client, now=now)
        decision = decide(InboundMessage(text=text, sent_at=now), ctx, answerer=svc.answerer, gate=svc.gate)
    return render(request, "kb/try.html", {"text": text, "risk_level": risk_level, "decision": decision,
                                           "client_levels": CLIENT_LEVELS})


@router.get("/unanswered", response_class=HTMLResponse)
def unanswered_page(request: Request, days: int = 30) -> HTMLResponse:
    svc = services(request)
    days = max(1, min(days, 365))
    rows = unanswered(svc, since=svc.now() - timedelta(days=days), limit=200)
    return render(request, "kb/unanswered.html", {"rows": rows, "days": days})
