"""Console sign-in, the session cookie and the role checks.

Sign-in: the staff member's WeCom userid plus SCRM_ADMIN_TOKEN (the same token the JSON API trusts); in demo mode a
picker of the staff in the database (and two demo identities for compliance and ops) without a token.

The session cookie is `base64url(json) + "." + hex(HMAC-SHA256)`; the key is derived from SCRM_ADMIN_TOKEN, or is
random per process in demo mode without a token, so changing the token (or restarting the demo) signs everyone out.
The cookie names the userid, a per-session CSRF token and the expiry; roles are read from the staff table on every
request, so deactivating someone or changing their roles takes effect at once. Roles: advisor (own escalations),
supervisor (everyone's escalations), compliance (review queue, exports, lexicon), ops (knowledge base, clients,
reminders).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import select

from bot.console.common import base, render, services
from bot.errors import BotError, ForbiddenError
from bot.models import Advisor

COOKIE = "scrm_console"
SESSION_TTL_S = 12 * 3600
ROLES = ("advisor", "supervisor", "compliance", "ops")
# Demo mode only: identities that need no row in the staff table (so escalation routing never picks them).
DEMO_STAFF: dict[str, tuple[str, ...]] = {"demo_compliance": ("compliance",), "demo_ops": ("ops",)}
_UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


class LoginRequired(Exception):
    """Not signed in (or the session is invalid): the console redirects to the sign-in page."""


class CSRFError(BotError):
    status_code = 403


@dataclass(frozen=True)
class Staff:
    userid: str
    name: str
    roles: frozenset[str]
    csrf: str

    @property
    def is_supervisor(self) -> bool:
        return "supervisor" in self.roles

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def random_key() -> bytes:
    return secrets.token_bytes(32)


def session_key(request: Request) -> bytes | None:
    """The HMAC key: derived from SCRM_ADMIN_TOKEN; random per process in demo mode without one; else None."""
    settings = services(request).settings
    token = settings.scrm_admin_token.get_secret_value() if settings.scrm_admin_token is not None else ""
    if token:
        return hmac.new(token.encode(), b"scrm-console-session-v1", hashlib.sha256).digest()
    if settings.is_demo:
        return request.app.state.session_key
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return body + "." + hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def verify(key: bytes, cookie: str, *, now: float) -> dict[str, Any] | None:
    """The payload of a valid, unexpired cookie; None for anything forged, edited or expired."""
    body, _, mac = cookie.partition(".")
    expected = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    if not mac or not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), str) or float(payload.get("exp", 0)) < now:
        return None
    return payload


def _roles(advisor: Advisor) -> frozenset[str]:
    roles = {r for r in (advisor.roles if advisor.roles is not None else ["advisor"]) if r in ROLES}
    if advisor.is_supervisor:
        roles |= {"supervisor", "advisor"}
    return frozenset(roles)


def lookup(request: Request, userid: str) -> tuple[str, frozenset[str]] | None:
    """(name, roles) of an active staff member, or None."""
    svc = services(request)
    with svc.db.session() as session:
        advisor = session.exec(select(Advisor).where(Advisor.wecom_userid == userid)).first()
        if advisor is not None:  # no console role (roles=[]): cannot sign in
            roles = _roles(advisor)
            return (advisor.name or userid, roles) if advisor.active and roles else None
    if svc.settings.is_demo and userid in DEMO_STAFF:
        return userid, frozenset(DEMO_STAFF[userid])
    return None


def _same_origin(request: Request) -> bool:
    """A POST's Origin (or Referer) is this host or SCRM_PUBLIC_URL's (behind a proxy); none at all is accepted."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    public = urlsplit(services(request).settings.scrm_public_url or "").netloc
    return urlsplit(origin).netloc in {request.headers.get("host", ""), public}


def session_staff(request: Request) -> Staff:
    """The signed-in staff member from the session cookie (a plain def: the staff lookup blocks)."""
    key = session_key(request)
    cookie = request.cookies.get(COOKIE)
    payload = verify(key, cookie, now=time.time()) if key and cookie else None
    found = lookup(request, payload["u"]) if payload else None
    if payload is None or found is None:
        raise LoginRequired()
    name, roles = found
    staff = Staff(userid=payload["u"], name=name, roles=roles, csrf=str(payload.get("csrf", "")))
    request.state.staff = staff
    return staff


async def require_staff(request: Request, staff: Annotated[Staff, Depends(session_staff)]) -> Staff:
    """The signed-in staff member; POSTs must carry the session's CSRF token and come from this origin."""
    if request.method in _UNSAFE:
        form = await request.form()
        given = str(form.get("csrf") or "")
        if not _same_origin(request) or not given or not hmac.compare_digest(given.encode(), staff.csrf.encode()):
            raise CSRFError("CSRF token missing or wrong: reload the page and try again")
    return staff


StaffDep = Annotated[Staff, Depends(require_staff)]


def require_role(*roles: str) -> Callable[..., Staff]:
    """A dependency: the staff member has one of `roles` (else a 403 page)."""

    def check(staff: StaffDep) -> Staff:
        if not staff.has(*roles):
            raise ForbiddenError(f"this page needs the role {' / '.join(roles)}")
        return staff

    return check


def login_url(request: Request) -> str:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET":
        target = base(request) + "/"
    return f"{base(request)}/login?next={quote(target, safe='')}"


def _safe_next(request: Request, target: str | None) -> str:
    home = base(request) + "/"
    if not target or not target.startswith(home) or target.startswith("//") or "\\" in target:
        return home
    return target


def _https(request: Request) -> bool:
    return request.url.scheme == "https" or str(services(request).settings.scrm_public_url).startswith("https://")


router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, error: str | None = None) -> HTMLResponse:
    svc = services(request)
    settings = svc.settings
    token_set = bool(settings.scrm_admin_token is not None and settings.scrm_admin_token.get_secret_value())
    picker: list[dict[str, Any]] = []
    if settings.is_demo:
        with svc.db.session() as session:
            rows = session.exec(select(Advisor).where(Advisor.active).order_by(Advisor.id)).all()
            picker = [{"userid": a.wecom_userid, "name": a.name, "roles": sorted(_roles(a))} for a in rows if _roles(a)]
        have = {r for p in picker for r in p["roles"]}
        picker += [{"userid": u, "name": "", "roles": list(r), "demo": True}
                   for u, r in DEMO_STAFF.items() if not have.intersection(r)]
    return render(request, "login.html", {
        "next": _safe_next(request, next), "error": error, "token_set": token_set, "picker": picker,
        "closed": not token_set and not settings.is_demo,
    }, status_code=401 if error else 200)


@router.post("/login")
def login(
    request: Request,
    userid: Annotated[str, Form(max_length=64)] = "",
    token: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    settings = services(request).settings
    key = session_key(request)
    configured = settings.scrm_admin_token.get_secret_value() if settings.scrm_admin_token is not None else ""
    userid = userid.strip()
    target = _safe_next(request, next)
    if key is None or not _same_origin(request):
        return login_page(request, next=target, error="closed")
    if configured:
        token_ok = bool(token) and hmac.compare_digest(token.encode(), configured.encode())
        if not token_ok and not (settings.is_demo and not token):
            return login_page(request, next=target, error="token")
    if not userid or lookup(request, userid) is None:
        return login_page(request, next=target, error="user")
    payload = {"u": userid, "csrf": secrets.token_urlsafe(24), "exp": int(time.time()) + SESSION_TTL_S}
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, sign(key, payload), max_age=SESSION_TTL_S, path=base(request) or "/",
                        httponly=True, samesite="strict", secure=_https(request))
    return response


@router.post("/logout")
def logout(request: Request, staff: StaffDep) -> Response:
    response = RedirectResponse(base(request) + "/login", status_code=303)
    response.delete_cookie(COOKIE, path=base(request) or "/")
    return response
