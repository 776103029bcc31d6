"""客户 (ops): list and search clients, one client's profile, and a CSV / JSONL upload through the same import as
`scrm clients import` (bad rows reported by number, good rows kept)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse
from sqlmodel import col, or_, select

from bot.clients import service as client_service
from bot.console.auth import require_role, require_staff
from bot.console.common import render, services
from bot.errors import NotFoundError
from bot.escalations import service as escalation_service
from bot.models import Client, Conversation, Escalation

router = APIRouter(prefix="/clients", dependencies=[Depends(require_staff), Depends(require_role("ops"))])

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def search_clients(svc: Any, q: str, *, limit: int = 200) -> list[Client]:
    """Clients whose name, external_userid or advisor matches `q` (all when empty), by name."""
    stmt = select(Client)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(col(Client.name).like(like), col(Client.wecom_external_userid).like(like),
                              col(Client.advisor_userid).like(like)))
    with svc.db.session() as session:
        return list(session.exec(stmt.order_by(Client.name, Client.id).limit(limit)).all())


@router.get("", response_class=HTMLResponse)
def list_page(request: Request, q: str = "") -> HTMLResponse:
    q = q.strip()[:64]
    return render(request, "clients/list.html", {"clients": search_clients(services(request), q), "q": q,
                                                 "report": None})


@router.get("/{external_userid}", response_class=HTMLResponse)
def profile_page(request: Request, external_userid: str) -> HTMLResponse:
    svc = services(request)
    with svc.db.session() as session:
        client = client_service.get_client(session=session, external_userid=external_userid)
        if client is None:
            raise NotFoundError(f"no client {external_userid}")
        rows = session.exec(
            select(Escalation).join(Conversation, col(Conversation.id) == col(Escalation.conversation_id))
            .where(Conversation.wecom_external_userid == external_userid)
            .order_by(col(Escalation.id).desc()).limit(20)
        ).all()
        escalations = [{"id": e.id, "status": str(e.status), "reason": escalation_service.reason_label(e.reason),
                        "advisor_userid": e.advisor_userid, "created_at": e.created_at} for e in rows]
    return render(request, "clients/profile.html", {"client": client, "escalations": escalations})


@router.post("/import", response_class=HTMLResponse)
def import_file(request: Request, file: Annotated[UploadFile, File()]) -> HTMLResponse:
    """A CSV (header row) or JSONL file of clients; the report lists each bad row with its number."""
    svc = services(request)
    name = file.filename or ""
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    report: Any = None
    problem = None
    if len(data) > MAX_UPLOAD_BYTES:
        problem = "too_large"
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text, problem = "", "not_utf8"
        suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
        if problem is None and suffix not in ("csv", "jsonl", "ndjson"):
            problem = "suffix"
        if problem is None:
            try:
                rows = list(client_service.read_csv(text) if suffix == "csv" else client_service.read_jsonl(text))
            except client_service.ImportFileError:
                rows, problem = [], "no_header"
            if problem is None:
                with svc.db.session() as session:
                    report = client_service.import_clients(session=session, rows=rows, now=svc.now())
    return render(request, "clients/list.html", {
        "clients": search_clients(svc, ""), "q": "", "report": report, "problem": problem, "filename": name,
    }, status_code=200 if problem is None else 400)
