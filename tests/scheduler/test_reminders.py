"""Key-date reminders on a real database: channels, quiet hours, cap, opt-out, screening, exactly-once."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlmodel import select

from bot.db import Database
from bot.models import OutboxItem, OutboxKind, OutboxStatus
from bot.models.reminder import Campaign, CampaignStatus, DeliveryChannel, OptOut, ReminderDelivery
from scheduler import reminders
from tests.scheduler.support import FakeGate, local, make_advisor, make_client, make_conversation

NOW = local(2026, 12, 1, 10, 0)  # Tuesday, a trading day, inside the send window
IN_7_DAYS = date(2026, 12, 8)


def _items(db, kind=None):  # type: ignore[no-untyped-def]
    with db.session() as s:
        stmt = select(OutboxItem).order_by(OutboxItem.id)
        if kind:
            stmt = stmt.where(OutboxItem.kind == kind)
        return s.exec(stmt).all()


def _ledger(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.exec(select(ReminderDelivery).order_by(ReminderDelivery.id)).all()


def _seed(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        make_advisor(s, "adv_a")
        make_client(s, "wm_kf", name="张三", advisor_userid="adv_a", risk_assessment_expires=IN_7_DAYS)
        make_conversation(s, "wm_kf", last_client_message_at=NOW - timedelta(hours=20))
        make_client(s, "wm_tpl1", name="李四", advisor_userid="adv_a", risk_assessment_expires=IN_7_DAYS)
        make_client(s, "wm_tpl2", name="王五", advisor_userid="adv_a", risk_assessment_expires=IN_7_DAYS)
        make_client(s, "wm_optout", advisor_userid="adv_a", risk_assessment_expires=IN_7_DAYS, opted_out=True)
        make_client(s, "wm_keyword", advisor_userid="adv_a", risk_assessment_expires=IN_7_DAYS)
        s.add(OptOut(external_userid="wm_keyword", created_at=NOW))
        make_client(s, "wm_id", name="赵六", advisor_userid="adv_a", id_expires=IN_7_DAYS)
        make_client(s, "wm_orphan", risk_assessment_expires=IN_7_DAYS)  # no window, no advisor
        make_client(s, "wm_later", risk_assessment_expires=IN_7_DAYS + timedelta(days=1))


class TestRunDue:
    def test_channels_and_exclusions(self, store):  # type: ignore[no-untyped-def]
        _seed(store)
        report = reminders.run_due(db=store, now=NOW, gate=FakeGate())
        assert report.queued == {"kf_text": 1, "msg_template": 2, "digest": 1}
        assert report.skipped["opted out"] == 2 and report.skipped["no channel"] == 1
        kf = _items(store, OutboxKind.kf_text)
        assert [(i.target, i.idempotency_key) for i in kf] == [
            ("wm_kf", "rem:risk_expiry:2026-12-08:d7:2026-12-01:wm_kf")]
        assert "张三您好" in kf[0].payload["text"] and "12月8日" in kf[0].payload["text"]
        templates = _items(store, OutboxKind.msg_template)
        assert len(templates) == 1 and templates[0].target == "adv_a"
        assert templates[0].payload["external_userids"] == ["wm_tpl1", "wm_tpl2"]
        assert "李四" not in templates[0].payload["text"]  # a mass message is not personalised
        digest = [r for r in _ledger(store) if r.channel == DeliveryChannel.digest]
        assert [(r.external_userid, r.kind) for r in digest] == [("wm_id", "id_expiry")]

    def test_twice_and_after_a_restart_is_still_once(self, store, settings):  # type: ignore[no-untyped-def]
        _seed(store)
        reminders.run_due(db=store, now=NOW, gate=FakeGate())
        again = reminders.run_due(db=store, now=NOW + timedelta(minutes=30), gate=FakeGate())
        assert sum(again.queued.values()) == 0 and again.skipped["already planned"] == 4
        restarted = Database(settings.db_url)  # a new process: new engine, same database
        try:
            reminders.run_due(db=restarted, now=NOW + timedelta(hours=3), gate=FakeGate())
        finally:
            restarted.dispose()
        assert len(_items(store, OutboxKind.kf_text)) == 1
        assert len(_items(store, OutboxKind.msg_template)) == 1
        assert len(_ledger(store)) == 4

    def test_quiet_hours_send_nothing(self, store):  # type: ignore[no-untyped-def]
        _seed(store)
        for hour in (7, 21, 23):
            report = reminders.run_due(db=store, now=local(2026, 12, 1, hour), gate=FakeGate())
            assert report.quiet
        assert _items(store) == [] and _ledger(store) == []

    def test_planned_sends_stay_inside_the_window_and_rate(self, store):  # type: ignore[no-untyped-def]
        from scheduler.settings import ReminderPolicy

        with store.session() as s:
            for n in range(30):
                make_client(s, f"wm{n}", risk_assessment_expires=IN_7_DAYS)
                make_conversation(s, f"wm{n}", last_client_message_at=NOW - timedelta(hours=1))
        late = local(2026, 12, 1, 19, 59)
        reminders.run_due(db=store, now=late, gate=FakeGate(), policy=ReminderPolicy(kf_rate_per_min=10))
        times = sorted(i.next_attempt_at for i in _items(store, OutboxKind.kf_text))
        assert len(times) == 30
        assert all(t < local(2026, 12, 1, 20) or t >= local(2026, 12, 2, 9) for t in times)
        per_minute = {}
        for t in times:
            per_minute[t.replace(second=0, microsecond=0)] = per_minute.get(t.replace(second=0, microsecond=0), 0) + 1
        assert max(per_minute.values()) <= 10

    def test_frequency_cap_keeps_the_most_important(self, store):  # type: ignore[no-untyped-def]
        with store.session() as s:
            make_advisor(s, "adv_a")
            make_client(s, "wm1", advisor_userid="adv_a", risk_assessment_expires=IN_7_DAYS, tags=["打新"])
            reminders.load_events(session=s, rows=[{"kind": "ipo", "date": "2026-12-01", "code": "301999",
                                                    "name": "某某科技"}], now=NOW)
        report = reminders.run_due(db=store, now=NOW, gate=FakeGate())
        assert report.by_kind == {"risk_expiry": 1} and report.skipped["frequency cap"] == 1

    def test_blocked_template_is_not_scheduled(self, store):  # type: ignore[no-untyped-def]
        _seed(store)
        report = reminders.run_due(db=store, now=NOW, gate=FakeGate(blocked=("风险承受能力",)))
        assert report.by_kind.get("risk_expiry", 0) == 0 and report.blocked_templates
        assert report.by_kind["id_expiry"] == 1

    def test_holdings_ipo_and_reverse_repo(self, store):  # type: ignore[no-untyped-def]
        with store.session() as s:
            make_advisor(s, "adv_a")
            make_client(s, "wm_hold", advisor_userid="adv_a", holdings=["600519.SH"])
            make_client(s, "wm_new", advisor_userid="adv_a", tags=["打新"])
            make_client(s, "wm_cash", advisor_userid="adv_a", tags=["理财"])
            make_client(s, "wm_none", advisor_userid="adv_a")
            reminders.load_events(session=s, now=NOW, rows=[
                {"kind": "ex_dividend", "date": "2026-09-30", "code": "600519", "name": "贵州茅台",
                 "detail": "每10股派现金红利"},
                {"kind": "convertible", "date": "2026-09-29", "code": "113999", "name": "某某转债"},
            ])
        report = reminders.preview(db=store, day=date(2026, 9, 29), gate=FakeGate())
        got = {(d.external_userid, d.kind) for d in report.decisions if d.status != "skipped"}
        assert got == {("wm_hold", "ex_dividend"), ("wm_new", "convertible"), ("wm_cash", "reverse_repo")}
        repo = next(d for d in report.decisions if d.kind == "reverse_repo")
        assert "国庆节" in repo.text and "7天" in repo.text and repo.why
        assert _items(store) == []  # preview writes nothing

    def test_unknown_calendar_year_skips_calendar_reminders_only(self, store):  # type: ignore[no-untyped-def]
        with store.session() as s:
            make_client(s, "wm1", risk_assessment_expires=date(2027, 3, 8))
            make_conversation(s, "wm1", last_client_message_at=local(2027, 3, 1, 9))
        report = reminders.run_due(db=store, now=local(2027, 3, 1, 10), gate=FakeGate())
        assert report.errors and "2027" in report.errors[0]
        assert report.by_kind == {"risk_expiry": 1}


class TestCampaigns:
    def test_screened_before_scheduled_and_sent_in_its_window(self, store):  # type: ignore[no-untyped-def]
        with store.session() as s:
            make_client(s, "wm_vip", tags=["高净值"], name="钱总")
            make_conversation(s, "wm_vip", last_client_message_at=NOW - timedelta(hours=1))
            make_client(s, "wm_other")
            make_conversation(s, "wm_other", last_client_message_at=NOW - timedelta(hours=1))
            bad = reminders.create_campaign(session=s, gate=FakeGate(), key="c_bad", name="坏活动",
                                            template="本产品稳赚不赔", segment={}, start_at=NOW, end_at=NOW + timedelta(days=1),
                                            created_by="ops", now=NOW)
            good = reminders.create_campaign(session=s, gate=FakeGate(disclosure="【投资有风险】"), key="c_good",
                                             name="投教直播", template="本周四晚8点投教直播，欢迎参加。",
                                             segment={"tags_any": ["高净值"]}, start_at=NOW + timedelta(hours=1),
                                             end_at=NOW + timedelta(days=2), created_by="ops", now=NOW)
            assert bad.status == CampaignStatus.rejected and "稳赚" in bad.reason
            assert good.status == CampaignStatus.scheduled and good.screened_text.endswith("【投资有风险】")
        assert sum(reminders.run_due(db=store, now=NOW, gate=FakeGate()).queued.values()) == 0  # window not open
        reminders.run_due(db=store, now=NOW + timedelta(hours=2), gate=FakeGate())
        reminders.run_due(db=store, now=NOW + timedelta(days=1), gate=FakeGate())  # once per campaign
        kf = _items(store, OutboxKind.kf_text)
        assert [i.target for i in kf] == ["wm_vip"] and "投教直播" in kf[0].payload["text"]
        with store.session() as s:
            assert s.exec(select(Campaign).where(Campaign.key == "c_bad")).one().status == CampaignStatus.rejected


class TestOptOut:
    @pytest.mark.parametrize(("text", "expected"), [
        ("退订", True), (" 退订！", True), ("TD", True), ("td", True), ("取消订阅", True),
        ("怎么退订基金", False), ("", False), ("退订了吗？", False),
    ])
    def test_keyword(self, text, expected):  # type: ignore[no-untyped-def]
        assert reminders.is_opt_out(text) is expected

    def test_opt_out_records_and_cancels_queued_reminders(self, store):  # type: ignore[no-untyped-def]
        _seed(store)
        reminders.run_due(db=store, now=NOW, gate=FakeGate())
        with store.session() as s:
            assert reminders.handle_opt_out_keyword(session=s, external_userid="wm_kf", text="退订", now=NOW)
            assert not reminders.handle_opt_out_keyword(session=s, external_userid="wm_kf", text="你好", now=NOW)
        item = _items(store, OutboxKind.kf_text)[0]
        assert item.status == OutboxStatus.failed and "opted out" in item.error
        with store.session() as s:
            assert s.get(OptOut, "wm_kf") is not None
        report = reminders.run_due(db=store, now=local(2026, 12, 7, 10), gate=FakeGate())  # the d1 reminder
        assert report.by_kind.get("risk_expiry", 0) == 2  # wm_tpl1/2 only


class TestDigest:
    def test_one_digest_per_advisor_per_day(self, store, settings):  # type: ignore[no-untyped-def]
        _seed(store)
        reminders.run_due(db=store, now=NOW, gate=FakeGate())
        assert reminders.daily_digest(db=store, now=NOW, settings=settings) == 1
        reminders.daily_digest(db=store, now=NOW + timedelta(minutes=5), settings=settings)
        digests = _items(store, OutboxKind.app_message)
        assert len(digests) == 1 and digests[0].payload["msgtype"] == "markdown"
        content = digests[0].payload["content"]["content"]
        assert "赵六" in content and "群发" in content and len(content.encode()) <= 2048


class TestConcurrentRuns:
    def test_two_runs_at_once_queue_each_reminder_once(self, any_store):  # type: ignore[no-untyped-def]
        with any_store.session() as s:
            for n in range(60):
                make_client(s, f"wm{n}", risk_assessment_expires=IN_7_DAYS)
                make_conversation(s, f"wm{n}", last_client_message_at=NOW - timedelta(hours=2))
        from scheduler.settings import ReminderPolicy

        errors = []

        def run():  # type: ignore[no-untyped-def]
            try:
                reminders.run_due(db=any_store, now=NOW, gate=FakeGate(), policy=ReminderPolicy(chunk=7))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        items = _items(any_store, OutboxKind.kf_text)
        assert len(items) == 60 and len({i.target for i in items}) == 60
        assert len(_ledger(any_store)) == 60
