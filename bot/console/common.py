"""What every console page shares: the Services of the host app, the templates and their filters."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

HOST_APP_KEY = "scrm.host_app"
TEMPLATES_DIR = Path(__file__).parent / "templates"

templates = Jinja2Templates(directory=TEMPLATES_DIR)


def services(request: Request) -> Any:
    """The Services of the app the console is mounted in (or the console's own, when it runs alone)."""
    host = request.scope.get(HOST_APP_KEY)
    for app in (host, request.app):
        found = getattr(getattr(app, "state", None), "services", None) if app is not None else None
        if found is not None:
            return found
    raise RuntimeError("the console needs app.state.services")


def base(request: Request) -> str:
    """Where the console is mounted ("/console"), for links."""
    return request.scope.get("root_path", "").rstrip("/")


def redirect(request: Request, path: str, **query: Any) -> RedirectResponse:
    """Redirect-after-post (303) to a console path, with an optional notice code."""
    params = {k: v for k, v in query.items() if v not in (None, "")}
    url = base(request) + path + (("?" + urlencode(params)) if params else "")
    return RedirectResponse(url, status_code=303)


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """A page with the common context: the signed-in staff member, the console base path, the notice code."""
    svc = None
    try:
        svc = services(request)
    except RuntimeError:
        pass
    ctx: dict[str, Any] = {
        "base": base(request),
        "staff": getattr(request.state, "staff", None),
        "notice": request.query_params.get("done") if status_code < 400 else None,
        "tz": svc.settings.tz if svc is not None else UTC,
        "now": svc.now() if svc is not None else datetime.now(UTC),
        "is_demo": bool(svc is not None and svc.settings.is_demo),
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def _local(value: datetime | str | None, tz: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(tz).strftime(fmt)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _minutes(later: datetime | None, earlier: datetime | None) -> int:
    if later is None or earlier is None:
        return 0
    return int((later - earlier).total_seconds() // 60)


templates.env.filters["local"] = _local
templates.env.globals["minutes_between"] = _minutes
