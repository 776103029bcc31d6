"""The scheduler: explicit jobs, persistent job store, exactly one leader across processes, jobs run on Services."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bot.db import Database
from bot.models import OutboxItem
from scheduler import registry
from scheduler.leader import LeaderLock
from tests.scheduler.support import FakeGate, FakeServices, local, make_advisor, make_client, make_conversation


def _stored_jobs(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return sorted(row[0] for row in conn.execute(sa.text(f"SELECT id FROM {registry.JOBSTORE_TABLE}")))


class TestJobs:
    def test_the_jobs_are_listed_explicitly(self):  # type: ignore[no-untyped-def]
        assert [spec.id for spec in registry.JOBS] == [
            "escalations.sla_sweep", "reminders.run_due", "advisors.daily_digest", "outbox.retry_stale",
        ]

    def test_each_job_runs_on_services(self, services):  # type: ignore[no-untyped-def]
        services.clock_at = local(2026, 12, 1, 10)
        with services.db.session() as s:
            make_advisor(s, "adv_a")
            make_client(s, "wm1", advisor_userid="adv_a", risk_assessment_expires=local(2026, 12, 8).date())
            make_conversation(s, "wm1", last_client_message_at=services.clock_at - timedelta(hours=1))

        class Wecom:
            sent: list = []

            def send_kf_text(self, **kw):  # type: ignore[no-untyped-def]
                self.sent.append(kw)
                return "msg1"

        services.wecom = Wecom()
        assert registry.run_job_now(services, "escalations.sla_sweep")["renotified"] == []
        assert registry.run_job_now(services, "reminders.run_due")["queued"] == {"kf_text": 1}
        assert registry.run_job_now(services, "advisors.daily_digest") == 0
        assert registry.run_job_now(services, "outbox.retry_stale") == 1
        assert Wecom.sent[0]["external_userid"] == "wm1"


class TestLeadership:
    def test_one_leader_and_a_takeover(self, any_store, settings):  # type: ignore[no-untyped-def]
        first = FakeServices(settings=settings, db=any_store, gate=FakeGate())
        other_db = Database(str(any_store.engine.url.render_as_string(hide_password=False)))  # another process
        second = FakeServices(settings=settings, db=other_db, gate=FakeGate())
        a = registry.SchedulerRunner(first, paused=True)
        b = registry.SchedulerRunner(second, paused=True)
        try:
            assert a.poll() is True
            assert b.poll() is False and b.poll() is False
            assert a.poll() is True  # still holds it
            assert _stored_jobs(any_store) == sorted(spec.id for spec in registry.JOBS)
            a.shutdown()
            assert b.poll() is True  # the waiting process takes over
            assert _stored_jobs(any_store) == sorted(spec.id for spec in registry.JOBS)  # replaced, not duplicated
        finally:
            a.shutdown()
            b.shutdown()
            other_db.dispose()

    def test_stale_jobs_are_removed(self, store, settings):  # type: ignore[no-untyped-def]
        services = FakeServices(settings=settings, db=store)
        runner = registry.SchedulerRunner(services, paused=True)
        runner.poll()
        runner.shutdown()
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {registry.JOBSTORE_TABLE} SET id='old.job' WHERE id='outbox.retry_stale'"))
        runner = registry.SchedulerRunner(services, paused=True)
        try:
            runner.poll()
            assert "old.job" not in _stored_jobs(store)
        finally:
            runner.shutdown()

    def test_lock_is_released_with_the_connection(self, any_store):  # type: ignore[no-untyped-def]
        lock = LeaderLock(any_store, name="t.lock")
        assert lock.try_acquire() and lock.alive()
        lock.release()
        other = LeaderLock(any_store, name="t.lock")
        assert other.try_acquire()
        other.release()

    def test_start_scheduler_returns_a_handle_the_app_can_shut_down(self, store, settings):  # type: ignore[no-untyped-def]
        services = FakeServices(settings=settings, db=store)
        handle = registry.start_scheduler(services, paused=True, retry_s=3600)
        try:
            assert handle.is_leader
            next_runs = {job.id: job.next_run_time for job in handle.scheduler.get_jobs()}
            assert set(next_runs) == {spec.id for spec in registry.JOBS}
        finally:
            handle.shutdown()
        assert not handle.is_leader


def test_outbox_table_untouched_by_scheduler_start(store, settings):  # type: ignore[no-untyped-def]
    handle = registry.start_scheduler(FakeServices(settings=settings, db=store), paused=True, retry_s=3600)
    handle.shutdown()
    with store.session() as s:
        assert s.exec(sa.select(OutboxItem)).all() == []


def test_run_blocking_stops_cleanly(store, settings):  # type: ignore[no-untyped-def]
    import threading

    stop = threading.Event()
    stop.set()
    registry.run_blocking(FakeServices(settings=settings, db=store), stop=stop)
    from scheduler.leader import LeaderLock

    lock = LeaderLock(store)
    assert lock.try_acquire()  # released on the way out
    lock.release()
