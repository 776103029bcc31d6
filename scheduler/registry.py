"""The jobs, listed explicitly, and the one scheduler that runs them.

    start_scheduler(services) -> SchedulerRunner   # `scrm serve` / `scrm demo` (bot.main lifespan); .shutdown()

APScheduler 3 `BackgroundScheduler` with a `SQLAlchemyJobStore` on the project database (table `apscheduler_jobs`),
so next run times survive restarts. Only the process holding the leader lock (scheduler.leader) runs it; the others
retry the lock every few seconds and take over when the leader goes away. Stored jobs reference
`scheduler.registry:run_job` with the job id, and run against the Services of the process that leads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.logging import log_context
from scheduler import jobs
from scheduler.leader import LeaderLock
from scheduler.settings import LOCK_RETRY_S

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[Any], Any]
    trigger: Callable[[Any], BaseTrigger]  # tz -> trigger
    description: str = ""


JOBS: list[JobSpec] = [
    JobSpec("escalations.sla_sweep", jobs.sla_sweep, lambda tz: IntervalTrigger(minutes=1, timezone=tz),
            "re-notify / reassign / supervisor for unclaimed escalations"),
    JobSpec("reminders.run_due", jobs.run_due_reminders,
            lambda tz: CronTrigger(hour="9-19", minute="0,30", timezone=tz),
            "key-date reminders due now (idempotent; nothing in quiet hours)"),
    JobSpec("advisors.daily_digest", jobs.daily_digest,
            lambda tz: CronTrigger(day_of_week="mon-fri", hour=9, minute=15, timezone=tz),
            "each advisor's open escalations and today's reminder tasks"),
    JobSpec("outbox.retry_stale", jobs.retry_stale_outbox, lambda tz: IntervalTrigger(minutes=2, timezone=tz),
            "deliver outbox items whose retry time has come"),
]
_BY_ID = {spec.id: spec for spec in JOBS}
_runtime: dict[str, Any] = {}  # the Services of the process whose scheduler is running


def run_job(job_id: str) -> Any:
    """Entry point of every stored job (a textual reference, so the job store never pickles Services)."""
    services = _runtime.get("services")
    if services is None:
        log.warning("scheduler.no_services job_id=%s", job_id)
        return None
    return run_job_now(services, job_id)


def run_job_now(services: Any, job_id: str) -> Any:
    """Run one job at once with these services (for `scrm scheduler run-once` and tests)."""
    spec = _BY_ID[job_id]
    with log_context(job_id=job_id):
        try:
            result = spec.func(services)
        except Exception:
            log.exception("job.failed")
            raise
        log.info("job.done")
        return result


def build_scheduler(services: Any, *, jobs_: list[JobSpec] | None = None) -> BackgroundScheduler:
    """A BackgroundScheduler with the persistent job store and every job of JOBS (replacing stored definitions)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    tz = services.settings.tz
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=services.db.engine, tablename=JOBSTORE_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone=tz,
    )
    for spec in jobs_ or JOBS:
        scheduler.add_job("scheduler.registry:run_job", trigger=spec.trigger(tz), args=[spec.id], id=spec.id,
                          name=spec.description or spec.id, replace_existing=True)
    return scheduler


class SchedulerRunner:
    """Leads (runs the scheduler) while it holds the lock; otherwise retries the lock every `retry_s` seconds."""

    def __init__(self, services: Any, *, retry_s: float = LOCK_RETRY_S, paused: bool = False,
                 lock: LeaderLock | None = None) -> None:
        self.services = services
        self.retry_s = retry_s
        self.paused = paused
        self.lock = lock or LeaderLock(services.db)
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    def start(self) -> "SchedulerRunner":
        self.poll()
        self._thread = threading.Thread(target=self._loop, name="scrm-scheduler-leader", daemon=True)
        self._thread.start()
        return self

    def poll(self) -> bool:
        """One step: a follower tries to become leader; a leader checks it still holds the lock. Returns is_leader."""
        with self._mutex:
            if self._stop.is_set():
                return False
            if self.scheduler is not None:
                if not self.lock.alive():
                    self._stop_scheduler()
                return self.is_leader
            if self.lock.try_acquire():
                _remove_unknown_jobs(self.services)
                self.scheduler = build_scheduler(self.services)
                _runtime["services"] = self.services
                self.scheduler.start(paused=self.paused)
                log.info("scheduler.leader jobs=%s", [spec.id for spec in JOBS])
            return self.is_leader

    def shutdown(self, wait: bool = False) -> None:
        self._stop.set()
        with self._mutex:
            self._stop_scheduler(wait=wait)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _stop_scheduler(self, wait: bool = False) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown(wait=wait)
            finally:
                self.scheduler = None
                if _runtime.get("services") is self.services:
                    _runtime.pop("services", None)
        self.lock.release()

    def _loop(self) -> None:
        while not self._stop.wait(self.retry_s):
            try:
                self.poll()
            except Exception:
                log.exception("scheduler.poll_failed")


def _remove_unknown_jobs(services: Any) -> None:
    """Drop stored jobs no longer listed in JOBS (renamed or removed), so they never fire."""
    import sqlalchemy as sa

    inspector = sa.inspect(services.db.engine)
    if not inspector.has_table(JOBSTORE_TABLE):
        return
    with services.db.engine.begin() as conn:
        table = sa.Table(JOBSTORE_TABLE, sa.MetaData(), autoload_with=conn)
        conn.execute(table.delete().where(table.c.id.not_in(list(_BY_ID))))


def start_scheduler(services: Any, **kwargs: Any) -> SchedulerRunner:
    """Start the scheduler role in this process: it leads at once if the lock is free, else waits its turn."""
    return SchedulerRunner(services, **kwargs).start()


def run_blocking(services: Any, stop: threading.Event | None = None) -> None:
    """A dedicated scheduler process (`scrm scheduler run`): lead or wait for the lock until stopped or interrupted."""
    runner = start_scheduler(services)
    stop = stop or threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        runner.shutdown(wait=True)
