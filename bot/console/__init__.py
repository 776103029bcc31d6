"""The staff console: server-rendered pages (Jinja2) mounted by bot.main at /console.

A separate FastAPI sub-app without OpenAPI docs. Every area router adds the staff check and its role check
(bot.console.auth); routes stay thin and call the same services as the JSON API. POST forms redirect after success
(303) and carry the session's CSRF token; the session cookie is HMAC-signed, HttpOnly and SameSite=Strict.

    GET  /login  POST /login  POST /logout                      sign-in (userid + SCRM_ADMIN_TOKEN; demo: a picker)
    GET  /                                                      工作台 (counts by role)
    GET  /escalations?status=open|closed&scope=mine             advisor, supervisor (supervisors: everyone's)
    GET  /escalations/{id}                                      the link in advisors' WeCom app messages
    POST /escalations/{id}/claim|release|takeover|reply|resolve|hand-back
    GET  /compliance?status&severity&category&from&to           compliance
    GET  /compliance/flags/{id}  POST /compliance/flags/{id}/decision
    GET  /compliance/export?from&to&format=csv|jsonl  GET /compliance/lexicon
    GET  /kb?q&kind  GET|POST /kb/new  GET /kb/articles/{key}   ops
    POST /kb/articles/{key}/edit|publish|delete  GET|POST /kb/import  GET /kb/try?text  GET /kb/unanswered?days
    GET  /clients?q  GET /clients/{external_userid}  POST /clients/import          ops
    GET  /reminders?day=YYYY-MM-DD                                                 ops
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from bot.console import auth
from bot.console.common import HOST_APP_KEY, render
from bot.errors import BotError

STATIC_DIR = Path(__file__).parent / "static"
# Only our own files, no framing (the action buttons cannot be clickjacked), no referrer outside the console.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class ConsoleApp(FastAPI):
    """The console app; remembers the app it is mounted in, whose state holds the Services."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = scope.get("app")
        if host is not None and host is not self and HOST_APP_KEY not in scope:
            scope[HOST_APP_KEY] = host
        await super().__call__(scope, receive, send)


def build_console(services: Any = None) -> FastAPI:
    """The console sub-app (services: only when run on its own; mounted, it uses the host app's)."""
    from bot.console import clients, compliance, escalations, home, kb, reminders

    app = ConsoleApp(title="SCRM console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.session_key = auth.random_key()  # demo mode without SCRM_ADMIN_TOKEN: per process
    if services is not None:
        app.state.services = services
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(auth.router)
    for module in (home, escalations, compliance, kb, clients, reminders):
        app.include_router(module.router)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith(f"{request.scope.get('root_path', '')}/static/"):
            response.headers.setdefault("Cache-Control", "no-store")  # pages carry client data
        return response

    @app.exception_handler(auth.LoginRequired)
    async def login_required(request: Request, exc: auth.LoginRequired) -> Response:
        return RedirectResponse(auth.login_url(request), status_code=303)

    @app.exception_handler(BotError)
    async def bot_error(request: Request, exc: BotError) -> HTMLResponse:
        return render(request, "error.html", {"status": exc.status_code, "message": exc.message},
                      status_code=exc.status_code)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> HTMLResponse:
        return render(request, "error.html", {"status": 404, "message": str(getattr(exc, "detail", ""))},
                      status_code=404)

    return app


__all__ = ["build_console"]
