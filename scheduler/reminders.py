"""Key-date reminders: who gets what, when, through which channel, exactly once.

    sources (registry) -> candidates per client -> opt-out, frequency cap, compliance -> channel -> ledger + outbox

Sources: risk assessment expiry (30/7/1 days before), ID expiry (30/7), ex-dividend dates of holdings (the trading day
before the ex-date), IPO and convertible-bond subscription days (events ops load), reverse repo before a closure of
three days or more (the trading day before the last trading day before it), and campaigns ops define.

Channels (what WeCom allows): `kf_text` inside the client's 48 h kf window while the bot has the conversation;
otherwise a mass-message task (externalcontact/add_msg_template, one per advisor and text) the owning advisor
confirms, or a task in the advisor's daily digest.

Exactly once: `ReminderDelivery` has UNIQUE(external_userid, reminder_key) and the reminder key carries the date;
the ledger row and its outbox item (idempotency key `rem:...`) are written in one transaction per chunk of clients,
so a job that fires twice, two schedulers, or a restart between runs never sends a reminder twice. Mass-message rows
are batched in a second phase that picks up any row still without an outbox item (also after a crash).
"""

from __future__ import annotations

import hashlib
import logging
import time as _time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from bot import outbox
from bot.conversations import service as conversation_service
from bot.db import Database
from bot.models import (
    Advisor,
    Client,
    Conversation,
    ConversationState,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
)
from bot.models.reminder import (
    Campaign,
    CampaignStatus,
    DeliveryChannel,
    EventKind,
    OptOut,
    ReminderDelivery,
    ReminderEvent,
)
from bot.pipeline.schemas import Context, Gate, Verdict
from prompts import canned
from scheduler import settings as defaults
from scheduler.calendar import MarketCalendar, UnknownYearError, calendar_for
from scheduler.settings import ReminderPolicy

log = logging.getLogger(__name__)

IPO_SEGMENT = {"tags_any": ["打新"]}
CONVERTIBLE_SEGMENT = {"tags_any": ["打新", "可转债"]}
REVERSE_REPO_SEGMENT = {"tags_any": ["理财", "逆回购", "现金管理"]}


@dataclass(frozen=True)
class Kind:
    priority: int  # lower first when the frequency cap allows only some
    template: str  # canned key
    fallback: DeliveryChannel  # outside the kf window


KINDS: dict[str, Kind] = {
    "risk_expiry": Kind(10, "reminder_risk_expiry", DeliveryChannel.msg_template),
    "id_expiry": Kind(20, "reminder_id_expiry", DeliveryChannel.digest),
    "ex_dividend": Kind(30, "reminder_ex_dividend", DeliveryChannel.msg_template),
    "ipo": Kind(40, "reminder_ipo", DeliveryChannel.msg_template),
    "convertible": Kind(41, "reminder_convertible", DeliveryChannel.msg_template),
    "reverse_repo": Kind(50, "reminder_reverse_repo", DeliveryChannel.msg_template),
    "campaign": Kind(60, "reminder_campaign", DeliveryChannel.msg_template),
}


@dataclass(frozen=True)
class Candidate:
    """One reminder one client could get today. `variables` render the template; `name` is filled per client."""

    kind: str
    reminder_key: str
    variables: tuple[tuple[str, str], ...]
    why: str

    def render(self, name: str) -> str:
        return canned(KINDS[self.kind].template, name=name, **dict(self.variables))


class Decision(BaseModel):
    """What preview shows and run-due does: for one client and one reminder."""

    external_userid: str
    kind: str
    reminder_key: str
    channel: str | None = None  # kf_text | msg_template | digest | None (skipped)
    status: str  # queued | task | template | skipped
    reason: str = ""
    why: str = ""
    advisor_userid: str | None = None
    text: str = ""


class RunReport(BaseModel):
    now: datetime
    day: date
    quiet: bool = False
    clients_scanned: int = 0
    queued: Counter = Field(default_factory=Counter)  # by channel
    by_kind: Counter = Field(default_factory=Counter)
    skipped: Counter = Field(default_factory=Counter)  # by reason
    templates_created: int = 0
    blocked_templates: list[str] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)  # only when asked for (preview)
    seconds: float = 0.0
    last_planned_send_at: datetime | None = None
    errors: list[str] = Field(default_factory=list)


@dataclass
class Day:
    """Everything about the day that does not depend on the client, computed once per run."""

    day: date
    now: datetime
    tz: ZoneInfo
    calendar: MarketCalendar
    events: dict[str, list[ReminderEvent]] = field(default_factory=dict)  # ipo/convertible today
    dividends: dict[str, list[ReminderEvent]] = field(default_factory=dict)  # code -> ex-dividend events
    reverse_repo: tuple[str, date, date, int] | None = None  # holiday name, first closed day, reopen, days
    campaigns: list[Campaign] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# Sources -------------------------------------------------------------------------------------------------------


def _risk_expiry(client: Client, day: Day) -> list[Candidate]:
    expires = client.risk_assessment_expires
    if expires is None:
        return []
    days = (expires - day.day).days
    if days not in defaults.RISK_EXPIRY_OFFSETS:
        return []
    return [Candidate("risk_expiry", f"risk_expiry:{expires}:d{days}:{day.day}",
                      (("expires", _cn(expires)), ("days", str(days))),
                      f"风险测评 {expires} 到期，提前 {days} 天提醒")]


def _id_expiry(client: Client, day: Day) -> list[Candidate]:
    expires = client.id_expires
    if expires is None:
        return []
    days = (expires - day.day).days
    if days not in defaults.ID_EXPIRY_OFFSETS:
        return []
    return [Candidate("id_expiry", f"id_expiry:{expires}:d{days}:{day.day}",
                      (("expires", _cn(expires)), ("days", str(days))), f"身份证件 {expires} 到期，提前 {days} 天提醒")]


def _ex_dividend(client: Client, day: Day) -> list[Candidate]:
    found = []
    for code in client.holdings or ():
        for event in day.dividends.get(_code(code), ()):
            found.append(Candidate(
                "ex_dividend", f"ex_dividend:{_code(code)}:{event.event_date}:{day.day}",
                (("security", f"{event.security_name}（{_code(code)}）" if event.security_name else _code(code)),
                 ("date", _cn(event.event_date)), ("detail", event.detail or "以公告为准")),
                f"持有 {_code(code)}，{event.event_date} 除权除息（前一交易日提醒）"))
    return found


def _subscription(kind: str, default_segment: dict) -> Callable[[Client, Day], list[Candidate]]:
    def source(client: Client, day: Day) -> list[Candidate]:
        events = [e for e in day.events.get(kind, ()) if matches(client, e.segment or default_segment)]
        if not events:
            return []
        names = "、".join(f"{e.security_name}（{e.security_code}）" if e.security_name else e.security_code
                         for e in events)
        return [Candidate(kind, f"{kind}:{day.day}", (("date", _cn(day.day)), ("securities", names)),
                          f"{day.day} 申购日：{names}")]

    return source


def _reverse_repo(client: Client, day: Day) -> list[Candidate]:
    if day.reverse_repo is None or not matches(client, REVERSE_REPO_SEGMENT):
        return []
    holiday, start, reopen, days = day.reverse_repo
    end = reopen - timedelta(days=1)
    return [Candidate("reverse_repo", f"reverse_repo:{start}:{day.day}",
                      (("holiday", holiday), ("days", str(days)), ("start", _cn(start)), ("end", _cn(end))),
                      f"{holiday}休市 {days} 天前，最后交易日的前一交易日提醒")]


def _campaigns(client: Client, day: Day) -> list[Candidate]:
    return [
        Candidate("campaign", f"campaign:{c.key}", (("text", c.screened_text or c.template),),
                  f"运营活动「{c.name}」")
        for c in day.campaigns if matches(client, c.segment)
    ]


SOURCES: dict[str, Callable[[Client, Day], list[Candidate]]] = {
    "risk_expiry": _risk_expiry,
    "id_expiry": _id_expiry,
    "ex_dividend": _ex_dividend,
    "ipo": _subscription("ipo", IPO_SEGMENT),
    "convertible": _subscription("convertible", CONVERTIBLE_SEGMENT),
    "reverse_repo": _reverse_repo,
    "campaign": _campaigns,
}


def matches(client: Client, segment: dict | None) -> bool:
    """Whether a client is in a segment: every given condition holds; an empty segment is everyone."""
    if not segment:
        return True
    tags = set(client.tags or ())
    if (any_ := segment.get("tags_any")) and not tags & set(any_):
        return False
    if (all_ := segment.get("tags_all")) and not set(all_) <= tags:
        return False
    if (levels := segment.get("risk_levels")) and client.risk_level not in levels:
        return False
    if (tiers := segment.get("asset_tiers")) and client.asset_tier not in tiers:
        return False
    if (advisors := segment.get("advisors")) and client.advisor_userid not in advisors:
        return False
    if (codes := segment.get("holdings_any")) and not {_code(c) for c in client.holdings or ()} & {
        _code(c) for c in codes
    }:
        return False
    return True


def _code(code: str) -> str:
    return str(code).split(".")[0].strip()


def _cn(day: date) -> str:
    return f"{day.month}月{day.day}日"


# The day -------------------------------------------------------------------------------------------------------


def build_day(session: Session, *, now: datetime, tz: ZoneInfo, calendar: MarketCalendar) -> Day:
    """Load today's events, dividends announced for the next trading day, the reverse-repo trigger and campaigns."""
    today = now.astimezone(tz).date()
    day = Day(day=today, now=now, tz=tz, calendar=calendar)
    for event in session.exec(select(ReminderEvent).where(
            col(ReminderEvent.kind).in_([EventKind.ipo, EventKind.convertible]),
            ReminderEvent.event_date == today)).all():
        day.events.setdefault(event.kind, []).append(event)
    try:
        if calendar.is_trading_day(today):
            next_day = calendar.next_trading_day(today)
            for event in session.exec(select(ReminderEvent).where(
                    ReminderEvent.kind == EventKind.ex_dividend, ReminderEvent.event_date > today,
                    ReminderEvent.event_date <= next_day)).all():
                day.dividends.setdefault(_code(event.security_code), []).append(event)
            day.reverse_repo = reverse_repo_trigger(calendar, today)
    except UnknownYearError as exc:
        day.problems.append(str(exc))
        log.warning("reminders.calendar_missing %s", exc)
    day.campaigns = list(session.exec(select(Campaign).where(
        Campaign.status == CampaignStatus.scheduled, Campaign.start_at <= now, Campaign.end_at > now)).all())
    return day


def reverse_repo_trigger(calendar: MarketCalendar, today: date) -> tuple[str, date, date, int] | None:
    """(holiday, first closed day, reopening day, closed days) when today is the trading day before the last trading
    day before a closure of at least LONG_CLOSURE_DAYS days; else None."""
    if not calendar.is_trading_day(today):
        return None
    last = calendar.next_trading_day(today)
    closed = calendar.closure_after(last)
    if closed < defaults.LONG_CLOSURE_DAYS:
        return None
    first_closed = last + timedelta(days=1)
    name = None
    for offset in range(closed):
        name = calendar.holiday_name(first_closed + timedelta(days=offset))
        if name:
            break
    return name or "长假", first_closed, first_closed + timedelta(days=closed), closed


# Screening -----------------------------------------------------------------------------------------------------


class _Screen:
    """Screens each distinct template text once per run; names are filled in after screening."""

    def __init__(self, gate: Gate | None, now: datetime) -> None:
        self.gate = gate
        self.now = now
        self.cache: dict[str, tuple[bool, str, str]] = {}

    def check(self, candidate: Candidate) -> tuple[bool, str, str]:
        """(allowed, suffix the gate adds, reason)."""
        text = candidate.render("")
        if text in self.cache:
            return self.cache[text]
        if self.gate is None:
            result = (True, "", "")
        else:
            verdict = self.gate.check_outbound(text, Context(now=self.now))
            if verdict.verdict in (Verdict.block, Verdict.review):
                result = (False, "", f"template {verdict.verdict}: {verdict.reason}"[:200])
            else:
                suffix = verdict.text[len(text):] if verdict.text.startswith(text) else ""
                result = (True, suffix, "")
        self.cache[text] = result
        return result


# Planning ------------------------------------------------------------------------------------------------------


@dataclass
class _Pacer:
    """Spreads planned sends so the rate stays inside WeCom's limits and inside the send window."""

    start: datetime
    per_min: int
    window_end: datetime
    next_window_start: datetime
    count: int = 0

    def next(self) -> datetime:
        at = self.start + timedelta(seconds=60.0 * self.count / self.per_min)
        self.count += 1
        if at >= self.window_end:  # past quiet-hours start: the morning after, same pace
            overflow = at - self.window_end
            at = self.next_window_start + overflow
        return at


def _window(now: datetime, tz: ZoneInfo, policy: ReminderPolicy) -> tuple[bool, datetime, datetime]:
    local = now.astimezone(tz)
    start_t, end_t = policy.send_window
    start = datetime.combine(local.date(), start_t, tzinfo=tz)
    end = datetime.combine(local.date(), end_t, tzinfo=tz)
    return start <= local < end, end.astimezone(now.tzinfo), (start + timedelta(days=1)).astimezone(now.tzinfo)


def outbox_key(external_userid: str, reminder_key: str) -> str:
    key = f"rem:{reminder_key}:{external_userid}"
    return key if len(key) <= 128 else "rem:" + hashlib.sha256(key.encode()).hexdigest()


def run_due(
    *,
    db: Database,
    now: datetime,
    gate: Gate | None = None,
    settings: Any = None,
    policy: ReminderPolicy | None = None,
    calendar: MarketCalendar | None = None,
    dry_run: bool = False,
    keep_decisions: bool = False,
    ignore_quiet_hours: bool = False,
) -> RunReport:
    """Plan and queue every reminder due at `now` (idempotent). `dry_run` writes nothing (preview)."""
    started = _time.perf_counter()
    tz = getattr(settings, "tz", None) or ZoneInfo("Asia/Shanghai")
    policy = policy or ReminderPolicy.from_settings(settings)
    calendar = calendar or calendar_for(settings)
    inside, window_end, next_start = _window(now, tz, policy)
    report = RunReport(now=now, day=now.astimezone(tz).date())
    if not inside and not ignore_quiet_hours:
        report.quiet = True
        report.seconds = _time.perf_counter() - started
        return report
    with db.session() as session:
        day = build_day(session, now=now, tz=tz, calendar=calendar)
        advisors = {a.wecom_userid for a in session.exec(select(Advisor).where(Advisor.active)).all()}
    report.errors.extend(day.problems)
    screen = _Screen(gate, now)
    pacer = _Pacer(start=now, per_min=policy.kf_rate_per_min, window_end=window_end, next_window_start=next_start)
    last_id = 0
    while True:
        with db.session() as session:
            clients = session.exec(
                select(Client).where(Client.id > last_id).order_by(Client.id).limit(policy.chunk)
            ).all()
        if not clients:
            break
        last_id = clients[-1].id
        report.clients_scanned += len(clients)
        for attempt in (1, 2):
            try:
                with db.session() as session:
                    _plan_chunk(session, clients, day=day, advisors=advisors, screen=screen, pacer=pacer,
                                policy=policy, report=report, dry_run=dry_run, keep=keep_decisions or dry_run)
                    if dry_run:
                        session.rollback()
                break
            except IntegrityError:
                # Another run (a second scheduler, a manual run-due) wrote some of these rows first: re-read them.
                if attempt == 2:
                    raise
                log.info("reminders.chunk_retry after concurrent run")
    if not dry_run:
        report.templates_created = flush_templates(db=db, now=now, policy=policy, window_end=window_end,
                                                   next_window_start=next_start)
    report.last_planned_send_at = pacer.next() if pacer.count else None
    report.seconds = _time.perf_counter() - started
    log.info("reminders.run_due day=%s scanned=%s queued=%s skipped=%s templates=%s seconds=%.2f", report.day,
             report.clients_scanned, dict(report.queued), dict(report.skipped), report.templates_created,
             report.seconds)
    return report


def preview(*, db: Database, day: date, gate: Gate | None = None, settings: Any = None,
            calendar: MarketCalendar | None = None, policy: ReminderPolicy | None = None) -> RunReport:
    """Who would get what on `day` and why (evaluated at the start of the send window); writes nothing."""
    tz = getattr(settings, "tz", None) or ZoneInfo("Asia/Shanghai")
    policy = policy or ReminderPolicy.from_settings(settings)
    now = datetime.combine(day, policy.send_window[0], tzinfo=tz).astimezone(ZoneInfo("UTC"))
    return run_due(db=db, now=now, gate=gate, settings=settings, policy=policy, calendar=calendar, dry_run=True,
                   keep_decisions=True)


def _plan_chunk(session: Session, clients: list[Client], *, day: Day, advisors: set[str], screen: _Screen,
                pacer: _Pacer, policy: ReminderPolicy, report: RunReport, dry_run: bool, keep: bool) -> None:
    ids = [c.wecom_external_userid for c in clients]
    opted = set(session.exec(select(OptOut.external_userid).where(col(OptOut.external_userid).in_(ids))).all())
    wanted: dict[str, list[Candidate]] = {}
    for client in clients:
        found = [c for source in SOURCES.values() for c in source(client, day)]
        if found:
            wanted[client.wecom_external_userid] = sorted(found, key=lambda c: (KINDS[c.kind].priority, c.reminder_key))
    if not wanted:
        return
    wanted_ids = list(wanted)
    keys = {c.reminder_key for cands in wanted.values() for c in cands}
    done = set(map(tuple, session.exec(select(ReminderDelivery.external_userid, ReminderDelivery.reminder_key).where(
        col(ReminderDelivery.external_userid).in_(wanted_ids), col(ReminderDelivery.reminder_key).in_(keys))).all()))
    week: Counter = Counter()
    today: Counter = Counter()
    for userid, send_date in session.exec(select(ReminderDelivery.external_userid, ReminderDelivery.send_date).where(
            col(ReminderDelivery.external_userid).in_(wanted_ids),
            ReminderDelivery.send_date > day.day - timedelta(days=7))).all():
        week[userid] += 1
        if send_date == day.day:
            today[userid] += 1
    windows = _open_windows(session, wanted_ids, day.now)
    by_id = {c.wecom_external_userid: c for c in clients}
    rows = _Rows()
    for userid, candidates in wanted.items():
        client = by_id[userid]
        for candidate in candidates:
            decision = Decision(external_userid=userid, kind=candidate.kind, reminder_key=candidate.reminder_key,
                                why=candidate.why, status="skipped", advisor_userid=client.advisor_userid)
            if (userid, candidate.reminder_key) in done:
                decision.reason = "already planned"
            elif client.opted_out or userid in opted:
                decision.reason = "opted out"
            elif today[userid] >= policy.max_per_day or week[userid] >= policy.max_per_week:
                decision.reason = "frequency cap"
            else:
                allowed, suffix, why_not = screen.check(candidate)
                if not allowed:
                    decision.reason = why_not
                    if why_not not in report.blocked_templates:
                        report.blocked_templates.append(why_not)
                else:
                    _deliver(rows, client, candidate, decision, suffix=suffix, day=day, windows=windows,
                             advisors=advisors, pacer=pacer)
                    if decision.status != "skipped":
                        today[userid] += 1
                        week[userid] += 1
            if decision.status == "skipped":
                report.skipped[decision.reason.split(":")[0]] += 1
            else:
                report.queued[decision.channel] += 1
                report.by_kind[decision.kind] += 1
            if keep:
                report.decisions.append(decision)
    if not dry_run:
        rows.write(session)


@dataclass
class _Rows:
    """Ledger rows and their outbox items of one chunk, written together with two multi-row INSERTs.

    Same rows `bot.outbox.enqueue` writes (kind, idempotency key, target, payload, not-before), in bulk: at 100,000
    clients one SELECT + SAVEPOINT per item is the bottleneck. Duplicates cannot slip through: the ledger's and the
    outbox's unique keys are checked by the database, and a conflict rolls the whole chunk back for a retry."""

    ledger: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)

    def write(self, session: Session) -> None:
        if self.ledger:
            session.execute(ReminderDelivery.__table__.insert(), self.ledger)
        if self.items:
            session.execute(OutboxItem.__table__.insert(), self.items)


def _open_windows(session: Session, ids: list[str], now: datetime) -> dict[str, tuple[Conversation, int]]:
    """Clients whose kf window is open and whose conversation is with the bot: (conversation, messages left)."""
    since = now - conversation_service.KF_WINDOW
    conversations = session.exec(select(Conversation).where(
        col(Conversation.wecom_external_userid).in_(ids), Conversation.last_client_message_at > since,
        Conversation.state == ConversationState.bot)).all()
    if not conversations:
        return {}
    pending = dict(session.exec(select(OutboxItem.conversation_id, func.count()).where(
        col(OutboxItem.conversation_id).in_([c.id for c in conversations]), OutboxItem.kind == OutboxKind.kf_text,
        col(OutboxItem.status).in_([OutboxStatus.pending, OutboxStatus.sending])).group_by(
        OutboxItem.conversation_id)).all())
    found: dict[str, tuple[Conversation, int]] = {}
    for conversation in sorted(conversations, key=lambda c: c.last_client_message_at):
        left = conversation_service.window_remaining(conversation, now) - int(pending.get(conversation.id, 0))
        if left > 0:
            found[conversation.wecom_external_userid] = (conversation, left)
    return found


def _deliver(rows: _Rows, client: Client, candidate: Candidate, decision: Decision, *, suffix: str, day: Day,
             windows: dict[str, tuple[Conversation, int]], advisors: set[str], pacer: _Pacer) -> None:
    userid = client.wecom_external_userid
    kind = KINDS[candidate.kind]
    advisor = client.advisor_userid if client.advisor_userid in advisors else None
    ledger = {"external_userid": userid, "reminder_key": candidate.reminder_key, "kind": candidate.kind,
              "send_date": day.day, "advisor_userid": advisor, "outbox_key": None, "created_at": day.now}
    window = windows.get(userid)
    if window is not None:
        conversation, left = window
        at = pacer.next()
        if at < conversation.last_client_message_at + conversation_service.KF_WINDOW:
            text = candidate.render(client.name or "") + suffix
            decision.channel, decision.status, decision.text = DeliveryChannel.kf_text, "queued", text
            windows[userid] = (conversation, left - 1)
            if left - 1 <= 0:
                windows.pop(userid)
            key = outbox_key(userid, candidate.reminder_key)
            rows.ledger.append({**ledger, "channel": DeliveryChannel.kf_text, "text": text, "outbox_key": key})
            rows.items.append({
                "idempotency_key": key, "kind": OutboxKind.kf_text, "target": userid,
                "payload": {"open_kfid": conversation.open_kfid, "text": text}, "conversation_id": conversation.id,
                "message_id": None, "status": OutboxStatus.pending, "attempts": 0, "next_attempt_at": at,
                "created_at": day.now,
            })
            return
    if advisor is None:
        decision.reason = "no channel: kf window closed and no active owning advisor"
        return
    channel = kind.fallback
    # A mass message carries the same text to many clients: the non-personalised form.
    name = "" if channel == DeliveryChannel.msg_template else client.name or ""
    text = candidate.render(name) + suffix
    decision.channel, decision.text = channel, text
    decision.status = "template" if channel == DeliveryChannel.msg_template else "task"
    rows.ledger.append({**ledger, "channel": channel, "text": text})


def flush_templates(*, db: Database, now: datetime, policy: ReminderPolicy | None = None,
                    window_end: datetime | None = None, next_window_start: datetime | None = None) -> int:
    """Batch mass-message rows not yet queued into add_msg_template tasks, one per advisor and text (≤ batch size)."""
    policy = policy or ReminderPolicy()
    created = 0
    pacer = _Pacer(start=now, per_min=policy.template_rate_per_min, window_end=window_end or now + timedelta(days=1),
                   next_window_start=next_window_start or now + timedelta(days=1))
    with db.session() as session:
        groups = session.exec(
            select(ReminderDelivery.advisor_userid, ReminderDelivery.text)
            .where(ReminderDelivery.channel == DeliveryChannel.msg_template, col(ReminderDelivery.outbox_key).is_(None))
            .group_by(ReminderDelivery.advisor_userid, ReminderDelivery.text)
        ).all()
    for advisor, text in groups:
        while True:
            with db.session() as session:
                rows = session.exec(
                    select(ReminderDelivery.id, ReminderDelivery.external_userid).where(
                        ReminderDelivery.channel == DeliveryChannel.msg_template,
                        col(ReminderDelivery.outbox_key).is_(None), ReminderDelivery.advisor_userid == advisor,
                        ReminderDelivery.text == text)
                    .order_by(ReminderDelivery.id).limit(policy.template_batch)
                ).all()
                if not rows:
                    break
                recipients = [userid for _, userid in rows]
                digest = hashlib.sha256("\n".join([advisor or "", text, *recipients]).encode()).hexdigest()[:24]
                key = f"remtpl:{advisor}:{digest}"[:128]
                outbox.enqueue(session=session, kind=OutboxKind.msg_template, key=key, target=advisor,
                               payload={"external_userids": recipients, "text": text}, not_before=pacer.next())
                session.execute(
                    ReminderDelivery.__table__.update()
                    .where(ReminderDelivery.__table__.c.id.in_([row_id for row_id, _ in rows]))
                    .values(outbox_key=key)
                )
                created += 1
    return created


# Opt-out -------------------------------------------------------------------------------------------------------


def is_opt_out(text: str) -> bool:
    """Whether a client's message is an opt-out keyword (退订 / TD / 取消订阅 ...), ignoring spaces and punctuation."""
    cleaned = "".join(ch for ch in (text or "") if ch.isalnum()).upper()
    return cleaned in {k.upper() for k in defaults.OPT_OUT_KEYWORDS}


def handle_opt_out_keyword(*, session: Session, external_userid: str, text: str, now: datetime) -> bool:
    """If the text is an opt-out keyword: record the opt-out, cancel queued reminders, return True (the handler
    then replies with canned("reminder_opt_out_confirm") and does not run the pipeline). Otherwise False."""
    if not is_opt_out(text):
        return False
    if session.get(OptOut, external_userid) is None:
        session.add(OptOut(external_userid=external_userid, source="keyword", created_at=now))
    client = session.exec(select(Client).where(Client.wecom_external_userid == external_userid)).first()
    if client is not None and not client.opted_out:
        client.opted_out = True
        client.updated_at = now
        session.add(client)
    for item in session.exec(select(OutboxItem).where(
            OutboxItem.target == external_userid, OutboxItem.kind == OutboxKind.kf_text,
            OutboxItem.status == OutboxStatus.pending, col(OutboxItem.idempotency_key).startswith("rem:"))).all():
        item.status = OutboxStatus.failed
        item.error = "cancelled: the client opted out"
        session.add(item)
    session.flush()
    log.info("reminders.opt_out")
    return True


# Events and campaigns ------------------------------------------------------------------------------------------


def load_events(*, session: Session, rows: Iterable[dict], now: datetime) -> tuple[int, list[str]]:
    """Upsert IPO / convertible / ex-dividend events by (kind, code, date). Returns (count, errors by row)."""
    count, errors = 0, []
    for number, row in enumerate(rows, start=1):
        try:
            kind = EventKind(str(row["kind"]).strip())
            when = row["date"] if isinstance(row["date"], date) else date.fromisoformat(str(row["date"]).strip())
            code = _code(str(row["code"]))
            if not code.isdigit() or len(code) != 6:
                raise ValueError(f"not a security code: {row['code']!r}")
        except (KeyError, ValueError) as exc:
            errors.append(f"row {number}: {exc}")
            continue
        event = session.exec(select(ReminderEvent).where(
            ReminderEvent.kind == kind, ReminderEvent.security_code == code, ReminderEvent.event_date == when
        )).first()
        event = event or ReminderEvent(kind=kind, security_code=code, event_date=when, created_at=now)
        event.security_name = str(row.get("name") or event.security_name or "")[:64]
        event.detail = str(row.get("detail") or event.detail or "")[:200]
        event.segment = dict(row.get("segment") or event.segment or {})
        session.add(event)
        count += 1
    session.flush()
    return count, errors


def create_campaign(*, session: Session, gate: Gate | None, key: str, name: str, template: str, segment: dict,
                    start_at: datetime, end_at: datetime, created_by: str, now: datetime) -> Campaign:
    """Define a campaign; its template is screened now: block -> rejected, review -> waits, else scheduled."""
    if end_at <= start_at:
        raise ValueError("the send window ends before it starts")
    campaign = session.exec(select(Campaign).where(Campaign.key == key)).first() or Campaign(key=key, name=name,
                                                                                           template=template,
                                                                                           start_at=start_at,
                                                                                           end_at=end_at)
    campaign.name, campaign.template, campaign.segment = name, template, dict(segment or {})
    campaign.start_at, campaign.end_at, campaign.created_by = start_at, end_at, created_by
    rendered = canned("reminder_campaign", text=template)
    if gate is None:
        campaign.status, campaign.verdict, campaign.screened_text = CampaignStatus.review, None, ""
        campaign.reason = "no compliance gate available: needs review"
    else:
        result = gate.check_outbound(rendered, Context(now=now))
        campaign.verdict = str(result.verdict)
        campaign.reason = (result.reason or "")[:300] + (f" 建议：{result.rewrite_hint}" if result.rewrite_hint else "")
        if result.verdict == Verdict.block:
            campaign.status, campaign.screened_text = CampaignStatus.rejected, ""
        elif result.verdict == Verdict.review:
            campaign.status, campaign.screened_text = CampaignStatus.review, ""
        else:
            campaign.status = CampaignStatus.scheduled
            suffix = result.text[len(rendered):] if result.text.startswith(rendered) else ""
            campaign.screened_text = template + suffix
    campaign.created_at = campaign.created_at or now
    session.add(campaign)
    session.flush()
    return campaign


# Digest --------------------------------------------------------------------------------------------------------


def tasks_for(*, session: Session, advisor_userid: str, day: date) -> list[ReminderDelivery]:
    """Today's reminder tasks of one advisor (digest rows and mass messages waiting for confirmation)."""
    return list(session.exec(select(ReminderDelivery).where(
        ReminderDelivery.advisor_userid == advisor_userid, ReminderDelivery.send_date == day,
        col(ReminderDelivery.channel).in_([DeliveryChannel.digest, DeliveryChannel.msg_template]))
        .order_by(ReminderDelivery.id)).all())


def daily_digest(*, db: Database, now: datetime, settings: Any = None, max_lines: int = 8) -> int:
    """One markdown app message per advisor with open escalations or reminder tasks today. Returns how many."""
    from bot.escalations import service as escalation_service

    tz = getattr(settings, "tz", None) or ZoneInfo("Asia/Shanghai")
    today = now.astimezone(tz).date()
    base = (getattr(settings, "scrm_public_url", None) or escalation_service.DEFAULT_CONSOLE_URL).rstrip("/")
    sent = 0
    with db.session() as session:
        advisors = session.exec(select(Advisor).where(Advisor.active).order_by(Advisor.id)).all()
        names = {}
        for advisor in advisors:
            escalations = escalation_service.open_for_advisor(session=session, advisor_userid=advisor.wecom_userid)
            tasks = tasks_for(session=session, advisor_userid=advisor.wecom_userid, day=today)
            if not escalations and not tasks:
                continue
            lines = [canned("advisor_digest_title", date=today.isoformat())]
            overdue = sum(1 for e in escalations if e.first_response_at is None and e.first_response_due_at
                          and now > e.first_response_due_at)
            lines.append(canned("advisor_digest_escalations", count=len(escalations), overdue=overdue))
            for e in escalations[:max_lines]:
                lines.append(canned("advisor_digest_escalation_line", id=e.id,
                                    client=(e.client_snapshot or {}).get("name") or "客户",
                                    reason=escalation_service.reason_label(e.reason), status=e.status))
            if len(escalations) > max_lines:
                lines.append(canned("advisor_digest_more", count=len(escalations) - max_lines))
            digest_tasks = [t for t in tasks if t.channel == DeliveryChannel.digest]
            templates = {t.outbox_key for t in tasks if t.channel == DeliveryChannel.msg_template}
            lines.append(canned("advisor_digest_tasks", count=len(digest_tasks)))
            if digest_tasks:
                ids = [t.external_userid for t in digest_tasks[:max_lines]]
                names = dict(session.exec(select(Client.wecom_external_userid, Client.name).where(
                    col(Client.wecom_external_userid).in_(ids))).all())
            for t in digest_tasks[:max_lines]:
                client_name = names.get(t.external_userid) or t.external_userid
                lines.append(canned("advisor_digest_task_line", client=client_name,
                                    kind=canned(f"reminder_kind_{t.kind}")))
            if len(digest_tasks) > max_lines:
                lines.append(canned("advisor_digest_more", count=len(digest_tasks) - max_lines))
            if templates:
                lines.append(canned("advisor_digest_templates", count=len(templates)))
            lines.append(canned("advisor_digest_link", url=f"{base}/console/escalations"))
            content = _clip_bytes("\n".join(lines), 2048)
            outbox.enqueue(session=session, kind=OutboxKind.app_message, key=f"digest:{advisor.wecom_userid}:{today}",
                           target=advisor.wecom_userid,
                           payload={"msgtype": "markdown", "content": {"content": content}})
            sent += 1
    return sent


def _clip_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[: limit - 3].decode("utf-8", errors="ignore") + "…"
