"""提醒 (ops): preview a day's reminders (who would get what, through which channel, and why), with
scheduler.reminders.preview; writes nothing."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from bot.console.auth import require_role, require_staff
from bot.console.common import render, services
from bot.errors import BadRequestError
from bot.models import Client

router = APIRouter(prefix="/reminders", dependencies=[Depends(require_staff), Depends(require_role("ops"))])


@router.get("", response_class=HTMLResponse)
def preview_page(request: Request, day: str = "") -> HTMLResponse:
    from scheduler import reminders

    svc = services(request)
    today = svc.now().astimezone(svc.settings.tz).date()
    try:
        chosen = date.fromisoformat(day) if day else today + timedelta(days=1)
    except ValueError:
        raise BadRequestError(f"not a date (YYYY-MM-DD): {day!r}") from None
    report = reminders.preview(db=svc.db, day=chosen, gate=svc.gate, settings=svc.settings)
    ids = sorted({d.external_userid for d in report.decisions})
    with svc.db.session() as session:
        names = dict(session.exec(select(Client.wecom_external_userid, Client.name)
                                  .where(col(Client.wecom_external_userid).in_(ids))).all()) if ids else {}
    return render(request, "reminders/preview.html", {"day": chosen, "report": report, "names": names,
                                                      "screened": svc.gate is not None})
