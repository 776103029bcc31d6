"""The knowledge-base JSON API through the real app (create_app with given services): list, create, edit, publish,
delete, upload import, search, try a question."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.cli.evaluate import PassThroughGate
from bot.main import create_app
from bot.pipeline.answer import KBAnswerer
from bot.services import Services
from knowledge_base.service import KnowledgeBase
from tests.knowledge_base.conftest import FAQ_YAML


@pytest.fixture
def client(settings, db, loaded_kb: KnowledgeBase) -> TestClient:
    services = Services(settings=settings, db=db, wecom=None, answerer=KBAnswerer(loaded_kb), gate=PassThroughGate(),
                        kb=loaded_kb)
    with TestClient(create_app(services, workers=False, scheduler=False)) as test_client:
        yield test_client


def test_list_and_get(client: TestClient) -> None:
    body = client.get("/api/kb/articles", params={"kind": "faq"}).json()
    assert {a["key"] for a in body["items"]} == {"t_margin_rate", "t_star", "t_chinext", "t_stamp", "t_frozen"}
    assert client.get("/api/kb/articles/t_stamp").json()["published"]["answer"].startswith("印花税")
    assert client.get("/api/kb/articles/nope").status_code == 404


def test_create_edit_publish_delete(client: TestClient) -> None:
    payload = {"id": "t_bse", "question": "北交所开通条件是什么？", "answer": "需要前20个交易日日均资产50万元。",
               "similar_questions": ["北交所门槛"], "tags": ["北交所"]}
    created = client.post("/api/kb/articles", json=payload)
    assert created.status_code == 201 and created.json()["status"] == "draft"
    assert client.post("/api/kb/articles", json=payload).status_code == 409
    hits = client.get("/api/kb/search", params={"q": "北交所门槛"}).json()["items"]
    assert "t_bse" not in {h["article_key"] for h in hits}

    assert client.post("/api/kb/articles/t_bse/publish").json()["status"] == "published"
    hits = client.get("/api/kb/search", params={"q": "北交所门槛"}).json()["items"]
    assert hits[0]["article_key"] == "t_bse"

    edited = client.patch("/api/kb/articles/t_bse", json={"answer": "需要50万元和24个月交易经验。"})
    assert edited.json()["status"] == "published+draft"
    assert client.patch("/api/kb/articles/t_bse", json={"risk_level": "R8"}).status_code == 422
    client.post("/api/kb/articles/t_bse/publish")
    tried = client.post("/api/kb/try", json={"text": "北交所门槛多少"}).json()
    assert tried["action"] == "answer" and "24个月" in tried["reply"] and tried["sources"] == ["t_bse"]

    assert client.delete("/api/kb/articles/t_bse").json()["status"] == "deleted"
    hits = client.get("/api/kb/search", params={"q": "北交所门槛"}).json()["items"]
    assert "t_bse" not in {h["article_key"] for h in hits}


def test_upload_import_reports_bad_files(client: TestClient, tmp_path: Path) -> None:
    files = [
        ("files", ("more.yaml", FAQ_YAML.replace("t_", "u_").encode(), "application/x-yaml")),
        ("files", ("bad.yaml", b"- id: x\n  question: [oops\n", "application/x-yaml")),
    ]
    report = client.post("/api/kb/import", files=files).json()
    assert len(report["created"]) == 5
    assert report["errors"][0]["path"] == "bad.yaml" and report["errors"][0]["line"]


def test_try_refusal_and_escalation(client: TestClient) -> None:
    assert client.post("/api/kb/try", json={"text": "推荐一只必涨的股票"}).json()["action"] == "refuse"
    escalated = client.post("/api/kb/try", json={"text": "我要转人工"}).json()
    assert escalated["action"] == "escalate"
    assert client.post("/api/kb/try", json={"text": ""}).status_code == 400
