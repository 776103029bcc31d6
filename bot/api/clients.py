"""JSON API for client and advisor data: import (rows as JSON, or a CSV / JSONL body), read one client, list
advisors. Same service and same report as `scrm clients import`."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from bot.api.auth import StaffDep
from bot.clients import service as client_service
from bot.clients.schemas import ImportReport
from bot.errors import BadRequestError, NotFoundError


def build_router() -> APIRouter:
    router = APIRouter(tags=["clients"])

    @router.post("/clients/import", response_model=ImportReport)
    async def import_clients(request: Request, staff: StaffDep) -> ImportReport:
        """Rows as a JSON list (or {"rows": [...]}), or a CSV (text/csv) / JSONL (application/x-ndjson) body."""
        rows = await _rows(request)
        svc = request.app.state.services
        return await _run(svc, client_service.import_clients, rows)

    @router.post("/advisors/import", response_model=ImportReport)
    async def import_advisors(request: Request, staff: StaffDep) -> ImportReport:
        rows = await _rows(request)
        svc = request.app.state.services
        return await _run(svc, client_service.import_advisors, rows)

    @router.get("/clients/{external_userid}")
    def get_client(request: Request, external_userid: str, staff: StaffDep) -> dict[str, Any]:
        svc = request.app.state.services
        with svc.db.session() as session:
            client = client_service.get_client(session=session, external_userid=external_userid)
            if client is None:
                raise NotFoundError(f"no client {external_userid}")
            return client.model_dump(mode="json")

    @router.get("/advisors")
    def list_advisors(request: Request, staff: StaffDep) -> list[dict[str, Any]]:
        svc = request.app.state.services
        with svc.db.session() as session:
            return [a.model_dump(mode="json") for a in client_service.list_advisors(session=session)]

    return router


async def _rows(request: Request) -> list[tuple[int, dict]]:
    body = (await request.body()).decode("utf-8-sig", errors="replace")
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind == "text/csv":
        return list(client_service.read_csv(body))
    if kind in ("application/x-ndjson", "application/jsonl"):
        return list(client_service.read_jsonl(body))
    try:
        data = json.loads(body or "null")
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"body is not JSON: {exc.msg}") from None
    items = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise BadRequestError('expected a JSON list of rows or {"rows": [...]}')
    return [(i, item if isinstance(item, dict) else {"__error__": "each row must be an object"})
            for i, item in enumerate(items, start=1)]


async def _run(svc, importer, rows: list[tuple[int, dict]]) -> ImportReport:  # type: ignore[no-untyped-def]
    from starlette.concurrency import run_in_threadpool

    def work() -> ImportReport:
        with svc.db.session() as session:
            return importer(session=session, rows=rows, now=svc.now())

    return await run_in_threadpool(work)
