"""Benchmark: key-date reminders for 100,000 clients planned and queued, with time, memory and the planned send rate.

    /tmp/venv/bin/python bench/bench_reminders.py [--clients 100000] [--db URL] [--kf-share 0.4]

Every client has a risk assessment expiring in 7 days (so every client is due today); a share of them wrote to the kf
account in the last 48 h (kf_text), the others get a mass-message task through their advisor (add_msg_template) or,
without one, nothing. The run is repeated to show it queues nothing twice. The planned kf sends are checked against
WeCom's documented limits: 10,000 calls/min and 150,000/hour per corp and API (developer.work.weixin.qq.com/document/
path/90454); the mass messages against "one per client per day" (path/92135 allows at most one a day per client by
default when configured so, and month-length per month otherwise).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from sqlmodel import select  # noqa: E402

import bot.models  # noqa: E402,F401
from bot.db import Database  # noqa: E402
from bot.models import Advisor, Client, Conversation, OutboxItem, OutboxKind  # noqa: E402
from bot.models.reminder import ReminderDelivery  # noqa: E402
from scheduler import reminders  # noqa: E402
from scheduler.settings import KF_RATE_PER_MIN, ReminderPolicy  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=TZ).astimezone(UTC)  # a trading day, the start of the send window
WECOM_LIMIT_PER_MIN = 10_000
WECOM_LIMIT_PER_HOUR = 150_000


class AllowGate:
    """A gate that allows everything (screening cost is per distinct template, not per client)."""

    def check_inbound(self, text, ctx):  # type: ignore[no-untyped-def]
        from bot.pipeline.schemas import InboundSignals

        return InboundSignals()

    def check_outbound(self, text, ctx, *, draft=None):  # type: ignore[no-untyped-def]
        from bot.pipeline.schemas import GateResult, Verdict

        return GateResult(verdict=Verdict.allow, text=text)


def seed(db: Database, n: int, kf_share: float, advisors: int) -> float:
    started = time.perf_counter()
    expires = (NOW.astimezone(TZ) + timedelta(days=7)).date()
    with db.engine.begin() as conn:
        conn.execute(sa.insert(Advisor.__table__), [
            {"wecom_userid": f"adv{i:03d}", "name": f"顾问{i}", "working_hours": {}, "capacity": 50,
             "is_supervisor": False, "active": True, "created_at": NOW} for i in range(advisors)])
    batch = 5000
    def has_kf(i: int) -> bool:  # exactly kf_share of the clients, spread evenly
        return int((i + 1) * kf_share) > int(i * kf_share)

    for start in range(0, n, batch):
        clients, conversations = [], []
        for i in range(start, min(n, start + batch)):
            uid = f"wm{i:07d}"
            clients.append({"wecom_external_userid": uid, "name": f"客户{i}", "risk_level": "C3",
                            "risk_assessment_expires": expires, "asset_tier": "长尾",
                            "advisor_userid": f"adv{i % advisors:03d}" if i % 50 else None,
                            "tags": ["理财"] if i % 3 == 0 else [], "holdings": [], "id_expires": None,
                            "opted_out": i % 97 == 0, "created_at": NOW, "updated_at": NOW})
            if has_kf(i):
                conversations.append({"open_kfid": "wkBENCH", "wecom_external_userid": uid, "state": "bot",
                                      "last_client_message_at": NOW - timedelta(hours=3), "window_sent": 1,
                                      "created_at": NOW, "updated_at": NOW})
        with db.engine.begin() as conn:
            conn.execute(sa.insert(Client.__table__), clients)
            if conversations:
                conn.execute(sa.insert(Conversation.__table__), conversations)
    return time.perf_counter() - started


def rate_check(db: Database) -> dict:
    with db.session() as s:
        kf_times = s.exec(select(OutboxItem.next_attempt_at).where(OutboxItem.kind == OutboxKind.kf_text)).all()
        templates = s.exec(select(OutboxItem).where(OutboxItem.kind == OutboxKind.msg_template)).all()
    per_min = Counter(t.replace(second=0, microsecond=0) for t in kf_times)
    per_hour = Counter(t.replace(minute=0, second=0, microsecond=0) for t in kf_times)
    tpl_min = Counter(t.next_attempt_at.replace(second=0, microsecond=0) for t in templates)
    recipients = Counter(u for t in templates for u in t.payload["external_userids"])
    local_times = [t.astimezone(TZ).time() for t in kf_times]
    return {
        "kf_items": len(kf_times),
        "kf_max_per_min": max(per_min.values(), default=0),
        "kf_max_per_hour": max(per_hour.values(), default=0),
        "kf_first": min(kf_times).astimezone(TZ).isoformat() if kf_times else None,
        "kf_last": max(kf_times).astimezone(TZ).isoformat() if kf_times else None,
        "kf_all_inside_send_window": all("09:00" <= t.strftime("%H:%M") < "20:00" for t in local_times),
        "template_calls": len(templates),
        "template_max_per_min": max(tpl_min.values(), default=0),
        "template_max_recipients": max((len(t.payload["external_userids"]) for t in templates), default=0),
        "template_max_per_client": max(recipients.values(), default=0),
        "wecom_limits_ok": (max(per_min.values(), default=0) <= WECOM_LIMIT_PER_MIN
                            and max(per_hour.values(), default=0) <= WECOM_LIMIT_PER_HOUR
                            and max(recipients.values(), default=0) <= 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--advisors", type=int, default=25)
    parser.add_argument("--kf-share", type=float, default=0.4)
    parser.add_argument("--db", default=None, help="database URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    db = Database(url)
    db.migrate()
    seed_s = seed(db, args.clients, args.kf_share, args.advisors)

    policy = ReminderPolicy()
    tracemalloc.start()
    first = reminders.run_due(db=db, now=NOW, gate=AllowGate(), policy=policy)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    second = reminders.run_due(db=db, now=NOW + timedelta(minutes=30), gate=AllowGate(), policy=policy)
    with db.session() as s:
        ledger = s.exec(select(sa.func.count()).select_from(ReminderDelivery)).one()
        outbox = s.exec(select(sa.func.count()).select_from(OutboxItem)).one()
    result = {
        "clients": args.clients,
        "database": db.engine.dialect.name,
        "seed_seconds": round(seed_s, 2),
        "run_seconds": round(first.seconds, 2),
        "clients_per_second": round(args.clients / first.seconds),
        "python_peak_mb": round(peak / 2**20, 1),
        "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "queued": dict(first.queued),
        "skipped": dict(first.skipped),
        "template_tasks": first.templates_created,
        "ledger_rows": ledger,
        "outbox_rows": outbox,
        "second_run_seconds": round(second.seconds, 2),
        "second_run_queued": sum(second.queued.values()),
        "planned_kf_rate_per_min": policy.kf_rate_per_min,
        "rate": rate_check(db),
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    db.dispose()
    tmp.cleanup()
    assert result["second_run_queued"] == 0, "a second run queued something again"
    assert result["rate"]["wecom_limits_ok"], "planned sends exceed WeCom's limits"
    assert KF_RATE_PER_MIN <= WECOM_LIMIT_PER_MIN


if __name__ == "__main__":
    main()
