"""The scheduled jobs: plain functions of a Services object. Each opens its own unit of work and is idempotent."""

from __future__ import annotations

import logging

from bot.escalations import service as escalation_service
from scheduler import reminders

log = logging.getLogger(__name__)


def sla_sweep(services) -> dict:  # type: ignore[no-untyped-def]
    """Re-notify, reassign or escalate to a supervisor what nobody picked up in time."""
    with services.db.session() as session:
        report = escalation_service.sla_sweep(session=session, now=services.now(), settings=services.settings)
    _wake(services)
    return report.model_dump()


def run_due_reminders(services) -> dict:  # type: ignore[no-untyped-def]
    """Plan and queue the key-date reminders due now (nothing in quiet hours)."""
    report = reminders.run_due(db=services.db, now=services.now(), gate=services.gate, settings=services.settings)
    _wake(services)
    return report.model_dump(exclude={"decisions"})


def daily_digest(services) -> int:  # type: ignore[no-untyped-def]
    """Each advisor's open escalations and today's reminder tasks, as one app message."""
    count = reminders.daily_digest(db=services.db, now=services.now(), settings=services.settings)
    _wake(services)
    return count


def retry_stale_outbox(services) -> int:  # type: ignore[no-untyped-def]
    """Deliver outbox items whose retry time has come (or whose sender died mid-way)."""
    from bot.worker import deliver_outbox

    total = 0
    while (handled := deliver_outbox(services)) and total < 10_000:
        total += handled
    return total


def _wake(services) -> None:  # type: ignore[no-untyped-def]
    wake = getattr(services, "wake", None)
    if callable(wake):
        wake()
