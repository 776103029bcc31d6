"""`scrm reminders ...` and `scrm clients ...` through the real Typer app, on a SQLite file."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from bot.models import Client, OutboxItem
from tests.scheduler.support import FakeGate, FakeServices, ready_db

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SCRM_ENV", "demo")
    monkeypatch.setenv("SCRM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    db = ready_db(f"sqlite:///{tmp_path / 'cli.db'}")
    import bot.services

    monkeypatch.setattr(bot.services, "build_services",
                        lambda settings, **_: FakeServices(settings=settings, db=db, gate=FakeGate()))
    yield db
    db.dispose()


def test_clients_import_reports_rows_and_keeps_good_ones(env, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "c.csv"
    path.write_text("external_userid,name,risk_level,risk_assessment_expires,advisor_userid,tags\n"
                    "wm1,张三,C3,2026-12-08,,打新\nwm2,李四,C7,,,\n", encoding="utf-8")
    result = runner.invoke(app, ["clients", "import", str(path)])
    assert result.exit_code == 1
    assert "created 1" in result.output and "row 3: risk_level" in result.output
    with env.session() as s:
        assert [c.wecom_external_userid for c in s.exec(select(Client)).all()] == ["wm1"]


def test_advisors_import(env, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"userid": "adv_a", "working_hours": {"mon": ["09:00-17:00"]}}) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["clients", "import-advisors", str(path)])
    assert result.exit_code == 0 and "created 1" in result.output


def test_run_due_preview_and_events(env, tmp_path):  # type: ignore[no-untyped-def]
    clients = tmp_path / "c.csv"
    clients.write_text("external_userid,name,risk_assessment_expires,advisor_userid,tags\n"
                       "wm1,张三,2026-12-08,adv_a,打新\n", encoding="utf-8")
    advisors = tmp_path / "a.csv"
    advisors.write_text("userid,name\nadv_a,王顾问\n", encoding="utf-8")
    events = tmp_path / "events.yaml"
    events.write_text("- {kind: ipo, date: 2026-12-02, code: '301888', name: 某某股份}\n", encoding="utf-8")
    assert runner.invoke(app, ["clients", "import-advisors", str(advisors)]).exit_code == 0
    assert runner.invoke(app, ["clients", "import", str(clients)]).exit_code == 0
    assert "loaded 1" in runner.invoke(app, ["reminders", "load-events", str(events)]).output
    shown = runner.invoke(app, ["reminders", "preview", "--date", "2026-12-01"])
    assert "wm1\trisk_expiry\tmsg_template\ttemplate" in shown.output
    quiet = runner.invoke(app, ["reminders", "run-due", "--now", "2026-12-01T22:00:00"])
    assert json.loads(quiet.output)["quiet"] is True
    for _ in range(2):
        done = runner.invoke(app, ["reminders", "run-due", "--now", "2026-12-01T10:00:00+08:00"])
        assert done.exit_code == 0, done.output
    with env.session() as s:
        items = s.exec(select(OutboxItem)).all()
        assert len(items) == 1 and items[0].payload["external_userids"] == ["wm1"]
    ipo = runner.invoke(app, ["reminders", "preview", "--date", "2026-12-02", "--json"])
    lines = [json.loads(line) for line in ipo.output.splitlines() if line.startswith("{")]
    assert [(d["kind"], d["status"]) for d in lines] == [("ipo", "template")]


def test_campaign_and_calendar(env, tmp_path):  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: c1\nname: 坏\ntemplate: 稳赚不赔的好产品\nstart: 2026-12-01T09:00:00\nend: 2026-12-02T09:00:00\n",
                   encoding="utf-8")
    result = runner.invoke(app, ["reminders", "campaign", str(bad)])
    assert result.exit_code == 1 and "rejected" in result.output
    shown = runner.invoke(app, ["reminders", "calendar", "show", "--year", "2026"])
    assert "last trading day 2026-09-30, then closed 7 days" in shown.output
    missing = runner.invoke(app, ["reminders", "calendar", "show", "--year", "2027"])
    assert missing.exit_code == 2
    year = tmp_path / "calendar_2027.yaml"
    year.write_text("year: 2027\nclosures:\n  - {name: 元旦, start: 2027-01-01, end: 2027-01-01}\n", encoding="utf-8")
    assert runner.invoke(app, ["reminders", "calendar", "load", str(year)]).exit_code == 0
    assert "2027:" in runner.invoke(app, ["reminders", "calendar", "show", "--year", "2027"]).output
