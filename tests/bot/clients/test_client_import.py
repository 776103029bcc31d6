"""Client and advisor import: bad rows reported by number, good rows kept, re-import a no-op, nothing half-written."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from bot.clients import service as clients
from bot.models import Advisor, Client
from bot.models.reminder import OptOut
from tests.scheduler.support import local

NOW = local(2026, 12, 1)
CSV = """external_userid,name,risk_level,risk_assessment_expires,asset_tier,advisor_userid,tags,holdings,id_expires,opted_out
wm_ok1,张三,C3,2026-12-08,长尾,adv_a,打新;理财,600519;000001.SZ,2030-01-01,false
wm_bad_risk,李四,C9,2026-12-08,长尾,adv_a,,,,false
wm_ok2,王五,c2,,,,,,,true
wm_bad_date,赵六,C1,2026-13-01,,,,,,
wm_bad_code,钱七,C1,,,,,ABC,,
wm_ok1,重复,C1,,,,,,,
"""


def _import_csv(store, tmp_path, text=CSV):  # type: ignore[no-untyped-def]
    path = tmp_path / "clients.csv"
    path.write_text(text, encoding="utf-8")
    with store.session() as session:
        return clients.import_clients(session=session, rows=clients.read_rows(path), now=NOW)


class TestImportClients:
    def test_bad_rows_by_number_good_rows_kept(self, store, tmp_path):  # type: ignore[no-untyped-def]
        report = _import_csv(store, tmp_path)
        assert report.created == 2
        assert [(e.row, e.field) for e in report.errors] == [
            (3, "risk_level"), (5, "risk_assessment_expires"), (6, "holdings"), (7, "external_userid"),
        ]
        assert "duplicate of row 2" in report.errors[-1].message
        assert any(w.field == "advisor_userid" for w in report.warnings)
        with store.session() as session:
            one = session.exec(select(Client).where(Client.wecom_external_userid == "wm_ok1")).one()
            assert (one.risk_level, one.tags, one.holdings) == ("C3", ["打新", "理财"], ["600519", "000001.SZ"])
            assert one.risk_assessment_expires == date(2026, 12, 8)
            two = session.exec(select(Client).where(Client.wecom_external_userid == "wm_ok2")).one()
            assert two.risk_level == "C2" and two.opted_out and two.risk_assessment_expires is None

    def test_reimport_is_a_noop_and_updates_change_only_what_changed(self, store, tmp_path):  # type: ignore[no-untyped-def]
        _import_csv(store, tmp_path)
        again = _import_csv(store, tmp_path)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
        changed = _import_csv(store, tmp_path, CSV.replace("张三,C3", "张三,C4"))
        assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 1)

    def test_jsonl_with_lists_and_a_broken_line(self, store, tmp_path):  # type: ignore[no-untyped-def]
        path = tmp_path / "clients.jsonl"
        path.write_text("\n".join([
            json.dumps({"external_userid": "wm_j1", "risk_level": "C5", "tags": ["打新"], "holdings": ["600036"]}),
            "{not json",
            json.dumps({"external_userid": "wm_j2", "opted_out": "maybe"}),
        ]), encoding="utf-8")
        with store.session() as session:
            report = clients.import_clients(session=session, rows=clients.read_rows(path), now=NOW)
        assert report.created == 1 and [e.row for e in report.errors] == [2, 3]

    def test_a_client_opt_out_survives_an_import(self, store, tmp_path):  # type: ignore[no-untyped-def]
        with store.session() as session:
            session.add(OptOut(external_userid="wm_ok1", created_at=NOW))
        _import_csv(store, tmp_path)
        with store.session() as session:
            assert session.exec(select(Client).where(Client.wecom_external_userid == "wm_ok1")).one().opted_out

    def test_database_failure_writes_nothing(self, store, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
        real_flush = None

        def boom(self, *a, **k):  # type: ignore[no-untyped-def]
            raise RuntimeError("disk full")

        from sqlmodel import Session

        real_flush = Session.flush
        monkeypatch.setattr(Session, "flush", boom)
        with pytest.raises(RuntimeError):
            _import_csv(store, tmp_path)
        monkeypatch.setattr(Session, "flush", real_flush)
        with store.session() as session:
            assert session.exec(select(Client)).all() == []


class TestImportAdvisors:
    def test_hours_capacity_and_errors(self, store, tmp_path):  # type: ignore[no-untyped-def]
        path = tmp_path / "advisors.csv"
        path.write_text(
            "userid,name,working_hours,capacity,is_supervisor,active\n"
            "adv_a,王顾问,\"mon-fri=09:00-12:00,13:00-17:30\",50,false,\n"
            "boss,李主管,,,true,true\n"
            "adv_bad,坏数据,mon-xyz=09:00-10:00,,,\n"
            "adv_cap,容量,,-1,,\n",
            encoding="utf-8",
        )
        with store.session() as session:
            report = clients.import_advisors(session=session, rows=clients.read_rows(path), now=NOW)
        assert report.created == 2 and [(e.row, e.field) for e in report.errors] == [(4, "working_hours"), (5, "capacity")]
        with store.session() as session:
            a = session.exec(select(Advisor).where(Advisor.wecom_userid == "adv_a")).one()
            assert a.working_hours["fri"] == ["09:00-12:00", "13:00-17:30"] and "sat" not in a.working_hours
            assert a.capacity == 50 and a.active and not a.is_supervisor
            boss = session.exec(select(Advisor).where(Advisor.wecom_userid == "boss")).one()
            assert boss.is_supervisor and boss.capacity == 20


def test_the_demo_files_import_cleanly(store):  # type: ignore[no-untyped-def]
    from pathlib import Path

    demo = Path(clients.__file__).resolve().parents[1] / "demo"
    if not (demo / "clients.csv").exists():
        pytest.skip("no demo data")
    with store.session() as session:
        advisors = clients.import_advisors_file(session=session, path=demo / "advisors.json", now=NOW)
        report = clients.import_clients_file(session=session, path=demo / "clients.csv", now=NOW)
    assert advisors.ok and report.ok and report.created >= 1


def test_advisor_roles_are_validated(store):  # type: ignore[no-untyped-def]
    from bot.clients import service as client_service
    from tests.scheduler.support import local

    rows = [(1, {"userid": "cmp_1", "roles": "compliance"}), (2, {"userid": "x_2", "roles": "advisor;boss"})]
    with store.session() as session:
        report = client_service.import_advisors(session=session, rows=rows, now=local(2026, 12, 1))
    assert report.created == 1 and [e.row for e in report.errors] == [2]
    assert "boss" in report.errors[0].message
