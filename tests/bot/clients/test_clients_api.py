"""The clients/advisors JSON API and the staff auth dependency, through the real app factory."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.main import create_app
from tests.scheduler.support import FakeServices


@pytest.fixture
def api(services):  # type: ignore[no-untyped-def]
    with TestClient(create_app(services, workers=False, scheduler=False)) as client:
        yield client


def test_import_json_rows_and_read_back(api):  # type: ignore[no-untyped-def]
    r = api.post("/api/advisors/import", json=[{"userid": "adv_a", "name": "王顾问", "capacity": 30}])
    assert r.status_code == 200 and r.json()["created"] == 1
    r = api.post("/api/clients/import", json={"rows": [
        {"external_userid": "wm1", "name": "张三", "risk_level": "C2", "advisor_userid": "adv_a",
         "holdings": ["600519"], "tags": "打新;理财"},
        {"external_userid": "wm2", "risk_level": "C0"},
    ]})
    report = r.json()
    assert report["created"] == 1 and report["errors"] == [
        {"row": 2, "field": "risk_level", "message": "must be one of C1–C5, got 'C0'"}]
    client = api.get("/api/clients/wm1").json()
    assert client["tags"] == ["打新", "理财"] and client["advisor_userid"] == "adv_a"
    assert api.get("/api/clients/nobody").status_code == 404
    assert [a["wecom_userid"] for a in api.get("/api/advisors").json()] == ["adv_a"]


def test_import_csv_body(api):  # type: ignore[no-untyped-def]
    body = "external_userid,name,holdings\nwm1,张三,600519;000001\nwm2,李四,12345\n"
    r = api.post("/api/clients/import", content=body.encode(), headers={"content-type": "text/csv"})
    assert r.json()["created"] == 1 and r.json()["errors"][0]["row"] == 3


def test_bad_body_is_400(api):  # type: ignore[no-untyped-def]
    assert api.post("/api/clients/import", content=b"{", headers={"content-type": "application/json"}).status_code == 400


def test_admin_token_is_checked_when_set(services):  # type: ignore[no-untyped-def]
    services.settings = services.settings.model_copy(update={"scrm_admin_token": SecretStr("s3cret")})
    with TestClient(create_app(services, workers=False, scheduler=False)) as client:
        assert client.get("/api/advisors").status_code == 401
        assert client.get("/api/advisors", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/advisors", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/api/escalations", headers={"Authorization": "Bearer s3cret"}).status_code == 401
        r = client.get("/api/escalations", headers={"Authorization": "Bearer s3cret", "X-Staff-User": "ghost"})
        assert r.status_code == 403


def test_fake_services_shape(services):  # type: ignore[no-untyped-def]
    assert isinstance(services, FakeServices) and services.now().tzinfo is not None


def test_production_without_a_token_is_closed(services):  # type: ignore[no-untyped-def]
    services.settings = services.settings.model_copy(update={"scrm_env": "production"})
    with TestClient(create_app(services, workers=False, scheduler=False)) as client:
        r = client.get("/api/advisors")
        assert r.status_code == 401 and "SCRM_ADMIN_TOKEN" in r.json()["detail"]
