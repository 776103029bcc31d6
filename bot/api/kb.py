"""JSON API of the knowledge base for the console: list, read, create, edit (a draft), publish, delete, import
uploaded files, search, and "try a question" through the live decision. Same service as `scrm kb ...`.

Routes are plain `def`: the knowledge base (SQL, Chroma, the embedding model) blocks, so they run in the threadpool.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, File, Query, Request, UploadFile

from bot.api.auth import StaffDep
from bot.errors import BadRequestError


def _view(view: Any) -> dict[str, Any]:
    return asdict(view)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/kb", tags=["knowledge base"])

    @router.get("/articles")
    def list_articles(
        request: Request,
        staff: StaffDep,
        kind: str | None = Query(None, pattern="^(faq|document)$"),
        q: str | None = None,
        include_deleted: bool = False,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        """Articles with their published and draft snapshots."""
        kb = request.app.state.services.kb
        views = kb.list_articles(kind=kind, q=q, include_deleted=include_deleted, limit=limit, offset=offset)
        return {"items": [_view(v) for v in views], "stats": kb.stats()}

    @router.get("/articles/{key}")
    def get_article(request: Request, key: str, staff: StaffDep) -> dict[str, Any]:
        return _view(request.app.state.services.kb.get_or_raise(key, include_deleted=True))

    @router.post("/articles", status_code=201)
    def create_article(
        request: Request, staff: StaffDep, payload: dict[str, Any] = Body(...), publish: bool = False
    ) -> dict[str, Any]:
        """Create an FAQ entry (DESIGN.md §3 fields, kind="faq") or a document (kind="document", id, title, body)."""
        from knowledge_base.service import article_from_payload

        data = article_from_payload(payload)
        return _view(request.app.state.services.kb.create(data, publish=publish, author=staff.userid))

    @router.patch("/articles/{key}")
    def edit_article(
        request: Request, key: str, staff: StaffDep, changes: dict[str, Any] = Body(...), publish: bool = False
    ) -> dict[str, Any]:
        """Edit: a new draft from the newest snapshot; it goes live only when published."""
        return _view(request.app.state.services.kb.update(key, changes, publish=publish, author=staff.userid))

    @router.post("/articles/{key}/publish")
    def publish_article(request: Request, key: str, staff: StaffDep) -> dict[str, Any]:
        return _view(request.app.state.services.kb.publish(key))

    @router.delete("/articles/{key}")
    def delete_article(request: Request, key: str, staff: StaffDep) -> dict[str, Any]:
        """Remove from search at once; versions stay for the audit trail."""
        return _view(request.app.state.services.kb.delete(key))

    @router.post("/import")
    def import_files(
        request: Request, staff: StaffDep, files: list[UploadFile] = File(...), publish: bool = True
    ) -> dict[str, Any]:
        """Upload FAQ YAML files and documents (.md .txt .pdf .docx); same report as `scrm kb import`."""
        services = request.app.state.services
        uploads = Path(services.settings.data_dir) / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=uploads) as folder:
            paths = []
            for upload in files:
                name = Path(upload.filename or "").name
                if not name:
                    raise BadRequestError("every file needs a file name")
                target = Path(folder) / name
                with target.open("wb") as out:
                    shutil.copyfileobj(upload.file, out)
                paths.append(target)
            report = services.kb.import_paths(paths, publish=publish, author=staff.userid or "api")
        result = report.as_dict()
        for error in result["errors"]:
            error["path"] = Path(error["path"]).name
        return result

    @router.get("/search")
    def search(request: Request, staff: StaffDep, q: str = Query(..., min_length=1),
               k: int = Query(8, ge=1, le=50)) -> dict[str, Any]:
        """Hybrid search over the published knowledge base, with the scores."""
        passages = request.app.state.services.kb.search(q, k=k)
        return {"items": [
            {"article_key": p.article_key, "kind": p.article_kind, "chunk_kind": p.chunk_kind, "title": p.title,
             "text": p.text, "score": round(p.score, 5), "dense": round(p.dense, 4), "lexical": round(p.lexical, 3),
             "coverage": round(p.coverage, 3)}
            for p in passages
        ]}

    @router.post("/try")
    def try_question(request: Request, staff: StaffDep, payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Run a question through the live decision without sending: what the client and the advisor would get."""
        from bot.cli.evaluate import context_for, outcome_json
        from bot.pipeline.schemas import InboundMessage

        text = str(payload.get("text") or "").strip()
        if not text:
            raise BadRequestError("text is required")
        services = request.app.state.services
        ctx = context_for({**payload, "now": payload.get("now") or datetime.now(UTC).isoformat()})
        try:
            from bot.pipeline.decide import decide

            outcome = decide(InboundMessage(text=text, sent_at=ctx.now), ctx, answerer=services.answerer,
                             gate=services.gate).outcome
        except ImportError:
            outcome = services.answerer.answer(text, ctx)
        result = outcome_json(payload.get("id"), outcome)
        result["draft"] = outcome.draft.model_dump(mode="json") if outcome.draft else None
        result["detail"] = outcome.detail
        result["prompt_version"] = outcome.prompt_version
        return result

    return router
