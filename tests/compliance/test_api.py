"""The compliance console JSON API over a real app with the router mounted like bot.main does."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.api.compliance import build_router
from bot.errors import BotError
from compliance import service
from compliance.gate import ComplianceGate
from compliance.screening import screen

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def client(db, settings):  # type: ignore[no-untyped-def]
    app = FastAPI()
    app.include_router(build_router(), prefix="/api")
    app.state.services = SimpleNamespace(db=db, gate=ComplianceGate(semantic=None), settings=settings,
                                         now=lambda: NOW)

    @app.exception_handler(BotError)
    async def bot_error(request, exc):  # type: ignore[no-untyped-def]
        from fastapi.responses import JSONResponse

        return JSONResponse({"error": type(exc).__name__, "detail": exc.message}, status_code=exc.status_code)

    with db.session() as s:
        for text in ("这个产品保 本", "预期收益率7%"):
            service.record_flags(session=s, message_id=None, conversation_id=None, text=text, result=screen(text),
                                 direction="out", now=NOW)
    return TestClient(app)


def test_list_get_decide(client: TestClient) -> None:
    items = client.get("/api/compliance/flags").json()["items"]
    assert len(items) == 2
    fid = next(i["id"] for i in items if i["text"] == "这个产品保 本")
    one = client.get(f"/api/compliance/flags/{fid}").json()
    assert one["segments"] == [{"text": "这个产品", "hit": None},
                               {"text": "保 本", "hit": {"category": "guarantee_return", "severity": "block",
                                                        "term": "保本"}}]
    assert one["category_details"][0]["rewrite_hint"]
    r = client.post(f"/api/compliance/flags/{fid}/decision",
                    json={"status": "confirmed", "reviewer": "hegui01", "note": "确认违规"})
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert client.get("/api/compliance/flags", params={"status": "open"}).json()["open"] == 1
    conflict = client.post(f"/api/compliance/flags/{fid}/decision", json={"status": "dismissed", "reviewer": "x"})
    assert conflict.status_code == 409


def test_errors(client: TestClient) -> None:
    assert client.get("/api/compliance/flags/999").status_code == 404
    assert client.post("/api/compliance/flags/1/decision", json={"status": "open", "reviewer": "x"}).status_code == 422
    assert client.get("/api/compliance/export", params={"from": "2026-11-24", "to": "2026-11-23"}).status_code == 400


def test_export(client: TestClient) -> None:
    r = client.get("/api/compliance/export", params={"from": "2026-11-23", "to": "2026-11-23", "format": "jsonl"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert len([json.loads(x) for x in r.text.splitlines()]) == 2
    r = client.get("/api/compliance/export", params={"from": "2026-11-20", "to": "2026-11-22"})
    assert r.headers["content-type"].startswith("text/csv") and len(r.text.strip().splitlines()) == 1


def test_lexicon_and_screen(client: TestClient) -> None:
    lex = client.get("/api/compliance/lexicon").json()
    assert lex["version"] and any(c["name"] == "guarantee_return" for c in lex["categories"])
    out = client.post("/api/compliance/screen", json={"text": "穩賺不賠", "direction": "out"}).json()
    assert out["flagged"] and out["severity"] == "block" and out["hits"][0]["end"] == 4
