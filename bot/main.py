"""create_app(): the HTTP service. Mounts the WeCom edge (/wecom), the JSON API (/api) and the console (/console).

The lifespan builds Services once (or takes the ones given, as tests and `scrm demo` do), starts the in-process
workers and, when enabled, the scheduler; it stops them cleanly on shutdown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse

from bot.api.auth import require_staff
from bot.errors import BotError
from bot.services import Services
from bot.wecom import routes as wecom_routes

log = logging.getLogger(__name__)


def create_app(services: Services | None = None, *, workers: bool = True, scheduler: bool | None = None) -> FastAPI:
    """The application. `workers`/`scheduler` say whether this process runs them (settings decide by default)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from bot.services import build_services
        from bot.worker import WorkerPool

        svc = services or build_services(_settings())
        app.state.services = svc
        if getattr(svc, "kb", None) is not None:
            # Load the embedding model and build the search index now, not on the first client's question.
            threading.Thread(target=svc.kb.warm_up, name="kb-warm-up", daemon=True).start()
        pool = None
        if workers and svc.settings.scrm_workers > 0:
            pool = WorkerPool(svc, svc.settings.scrm_workers, svc.settings.scrm_worker_poll_s)
            pool.start()
        sched = None
        if scheduler if scheduler is not None else svc.settings.scrm_scheduler:
            sched = _start_scheduler(svc)
        app.state.worker_pool = pool
        try:
            yield
        finally:
            if sched is not None:
                sched.shutdown()
            if pool is not None:
                pool.stop()

    app = FastAPI(title="WeCom SCRM assistant", lifespan=lifespan, docs_url="/api/docs", openapi_url="/api/openapi.json")
    if services is not None:
        app.state.services = services
    app.include_router(wecom_routes.router)
    for router in _api_routers():
        app.include_router(router, prefix="/api", dependencies=[Depends(require_staff)])
    _mount_console(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(BotError)
    async def bot_error(request: Request, exc: BotError) -> JSONResponse | PlainTextResponse:
        if request.url.path.startswith("/wecom/"):
            return PlainTextResponse(exc.message, status_code=exc.status_code)
        return JSONResponse({"error": type(exc).__name__, "detail": exc.message}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse | PlainTextResponse:
        if request.url.path.startswith("/wecom/"):
            return PlainTextResponse("bad request", status_code=400)
        return JSONResponse({"error": "ValidationError", "detail": exc.errors()}, status_code=422)

    return app


def _settings():  # type: ignore[no-untyped-def]
    from bot.config import get_settings

    return get_settings()


def _api_routers() -> list:
    """The JSON API routers (staff only: each one also checks the acting user's rights)."""
    from bot.api import clients, compliance, escalations, kb

    return [module.build_router() for module in (kb, compliance, escalations, clients)]


def _mount_console(app: FastAPI) -> None:
    from bot.console import build_console

    app.mount("/console", build_console())


def _start_scheduler(services: Services):  # type: ignore[no-untyped-def]
    """This process's scheduler role: it leads at once when the scheduler lock is free, else waits its turn."""
    from scheduler.registry import start_scheduler

    return start_scheduler(services)
