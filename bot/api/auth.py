"""Staff identity for the JSON API: one small dependency.

The console (or any staff tool) calls the API with `Authorization: Bearer <SCRM_ADMIN_TOKEN>` (checked when the
token is set; in production an unset token closes the staff API) and `X-Staff-User: <WeCom userid>` naming the
advisor who acts. The token is what is trusted; the
header says who, and services check that the userid is an active advisor with the right to act.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from bot.errors import BotError


class UnauthorizedError(BotError):
    status_code = 401


@dataclass(frozen=True)
class Staff:
    userid: str | None  # from X-Staff-User; None for tools acting as the system (imports)


def require_staff(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_staff_user: Annotated[str | None, Header()] = None,
) -> Staff:
    """Check the bearer token when SCRM_ADMIN_TOKEN is set; return who acts."""
    settings = request.app.state.services.settings
    token = settings.scrm_admin_token
    if (token is None or not token.get_secret_value()) and str(settings.scrm_env) == "production":
        # Without a token anyone could claim any X-Staff-User: closed in production, open in demo/development.
        raise UnauthorizedError("SCRM_ADMIN_TOKEN is not set: the staff API is closed in production")
    if token is not None and token.get_secret_value():
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            raise UnauthorizedError("missing or wrong bearer token")
    userid = (x_staff_user or "").strip() or None
    return Staff(userid=userid)


def require_advisor(staff: Annotated[Staff, Depends(require_staff)]) -> Staff:
    """Like require_staff, and the X-Staff-User header is required."""
    if not staff.userid:
        raise UnauthorizedError("X-Staff-User header required (the advisor's WeCom userid)")
    return staff


StaffDep = Annotated[Staff, Depends(require_staff)]
AdvisorDep = Annotated[Staff, Depends(require_advisor)]
