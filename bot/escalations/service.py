"""Escalations: what the bot hands to a person, from creation to resolution.

    open --claim--> claimed --reply--> replied --resolve--> resolved
      |  \\            |  \\--release--> open        \\--hand_back--> returned
      |   \\--reply--> replied (an advisor may answer without claiming first)
      +--renotify / reassign / supervise (SLA sweep) --> open

Every transition goes through `transition()`, which checks `TRANSITIONS` and writes an `EscalationLog` row; anything
else is a `ConflictError` (HTTP 409). Everything WeCom-bound goes through the outbox in the caller's transaction, so
an escalation and its notifications, handover and replies are atomic; services only add and flush.

kf handover (developer.work.weixin.qq.com/document/path/94669): kf/send_msg works only while service_state is 0
(未处理) or 1 (智能助手接待); from 3 (人工接待) the only moves are to another servicer (3) or to the end (4). So by
default the session stays with the API and the advisor replies from the console through kf/send_msg (the bot stays
silent: the conversation is `waiting_human`/`human`); `takeover()` hands the chat to the advisor inside WeCom (trans
-> 3), after which replies go there and handing back ends the session (trans -> 4; the client's next message starts
a new session in state 0, which the bot answers).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from bot import outbox
from bot.conversations import service as conversation_service
from bot.db import for_update
from bot.errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError
from bot.escalations.policy import DEFAULT_POLICY, Policy
from bot.escalations.schemas import (
    EscalationAction,
    EscalationDetail,
    EscalationSummary,
    KfWindow,
    LogEntry,
    ReplyResult,
    SweepReport,
    Turn,
)
from bot.models import (
    Advisor,
    Client,
    Conversation,
    ConversationState,
    Direction,
    Escalation,
    EscalationStatus,
    Message,
    MessageStatus,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
)
from bot.models.reminder import EscalationLog
from bot.pipeline.schemas import ClientProfile, Context, Draft, Gate, Outcome, Verdict
from prompts import canned

log = logging.getLogger(__name__)

KF_STATE_BOT = 1
KF_STATE_HUMAN = 3
KF_STATE_ENDED = 4
OPEN_STATUSES = (EscalationStatus.open, EscalationStatus.claimed, EscalationStatus.replied)
TERMINAL_STATUSES = (EscalationStatus.resolved, EscalationStatus.returned)
DEFAULT_CONSOLE_URL = "http://127.0.0.1:8000"
TRANSCRIPT_TURNS = 20
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

S, A = EscalationStatus, EscalationAction
TRANSITIONS: dict[tuple[EscalationStatus, EscalationAction], EscalationStatus] = {
    (S.open, A.claim): S.claimed,
    (S.open, A.reply): S.replied,
    (S.open, A.takeover): S.claimed,
    (S.open, A.resolve): S.resolved,
    (S.open, A.hand_back): S.returned,
    (S.open, A.renotify): S.open,
    (S.open, A.reassign): S.open,
    (S.open, A.supervise): S.open,
    (S.claimed, A.reply): S.replied,
    (S.claimed, A.release): S.open,
    (S.claimed, A.takeover): S.claimed,
    (S.claimed, A.resolve): S.resolved,
    (S.claimed, A.hand_back): S.returned,
    (S.claimed, A.reassign): S.open,
    (S.claimed, A.remind_overdue): S.claimed,
    (S.replied, A.reply): S.replied,
    (S.replied, A.takeover): S.replied,
    (S.replied, A.resolve): S.resolved,
    (S.replied, A.hand_back): S.returned,
}
del S, A


# State machine -------------------------------------------------------------------------------------------------


def allowed_actions(status: EscalationStatus) -> list[EscalationAction]:
    """The actions the state machine allows from a status."""
    return [action for (state, action) in TRANSITIONS if state == status]


def transition(
    *,
    session: Session,
    escalation: Escalation,
    action: EscalationAction,
    actor: str,
    now: datetime,
    detail: dict | None = None,
) -> EscalationStatus:
    """Apply one allowed transition and log it; ConflictError when the state machine does not allow it."""
    current = EscalationStatus(escalation.status)
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise ConflictError(f"escalation {escalation.id} is {current}: cannot {action}")
    escalation.status = target
    session.add(escalation)
    session.add(
        EscalationLog(
            escalation_id=escalation.id, at=now, actor=actor, action=action, from_status=current, to_status=target,
            advisor_userid=escalation.advisor_userid, detail=detail or {},
        )
    )
    session.flush()
    return target


# Working hours and routing -------------------------------------------------------------------------------------


def _calendar():  # type: ignore[no-untyped-def]
    from scheduler.calendar import default_calendar

    return default_calendar()


def _is_market_day(day: date) -> bool:
    from scheduler.calendar import UnknownYearError

    try:
        return _calendar().is_trading_day(day)
    except UnknownYearError:
        return day.weekday() < 5


def _spans(advisor: Advisor, day: date, policy: Policy) -> list[tuple[datetime, datetime]]:
    hours = advisor.working_hours or {}
    if hours:
        if not _is_market_day(day) and day.weekday() < 5 and not hours.get("holidays"):
            return []
        ranges = hours.get(_WEEKDAYS[day.weekday()]) or []
    else:
        ranges = list(policy.default_working_hours) if _is_market_day(day) else []
    spans = []
    for text in ranges:
        start, end = (part.strip() for part in str(text).split("-"))
        spans.append((datetime.combine(day, datetime.min.time()) + _hm(start),
                      datetime.combine(day, datetime.min.time()) + _hm(end)))
    return spans


def _hm(text: str) -> timedelta:
    hour, minute = text.split(":")
    return timedelta(hours=int(hour), minutes=int(minute))  # "24:00" is the end of the day


def on_duty(advisor: Advisor, now: datetime, *, tz: Any, policy: Policy = DEFAULT_POLICY) -> bool:
    """Whether the advisor is inside their working hours (or the firm's, on trading days) at `now`."""
    if not advisor.active:
        return False
    local = now.astimezone(tz).replace(tzinfo=None)
    return any(start <= local < end for start, end in _spans(advisor, local.date(), policy))


def next_on_duty(advisor: Advisor, now: datetime, *, tz: Any, policy: Policy = DEFAULT_POLICY) -> datetime | None:
    """When the advisor is next at work (now if on duty), searching two weeks ahead."""
    local = now.astimezone(tz).replace(tzinfo=None)
    for offset in range(15):
        day = local.date() + timedelta(days=offset)
        for start, end in sorted(_spans(advisor, day, policy)):
            if end > local:
                return max(start, local).replace(tzinfo=tz).astimezone(now.tzinfo)
    return None


def _load(session: Session) -> dict[str, int]:
    rows = session.exec(
        select(Escalation.advisor_userid, func.count())
        .where(col(Escalation.status).in_(OPEN_STATUSES))
        .group_by(Escalation.advisor_userid)
    ).all()
    return {userid: n for userid, n in rows if userid}


def route(
    *,
    session: Session,
    client: Client | None,
    now: datetime,
    tz: Any,
    policy: Policy = DEFAULT_POLICY,
    exclude: frozenset[str] = frozenset(),
) -> tuple[Advisor | None, bool]:
    """(advisor, on duty now): the owning advisor when working, else the least-loaded advisor on duty with capacity,
    else the owner (off duty: it waits for them), else the least-loaded active advisor. Never a supervisor."""
    advisors = session.exec(select(Advisor).where(Advisor.active, ~col(Advisor.is_supervisor))).all()
    advisors = [a for a in advisors if a.wecom_userid not in exclude and is_advisor(a)]
    owner = next((a for a in advisors if client and a.wecom_userid == client.advisor_userid), None)
    if owner is not None and on_duty(owner, now, tz=tz, policy=policy):
        return owner, True
    load = _load(session)
    working = [
        a for a in advisors if on_duty(a, now, tz=tz, policy=policy) and load.get(a.wecom_userid, 0) < a.capacity
    ]
    if working:
        return min(working, key=lambda a: (load.get(a.wecom_userid, 0) / max(a.capacity, 1), a.id)), True
    if owner is not None:
        return owner, False
    if advisors:
        return min(advisors, key=lambda a: (load.get(a.wecom_userid, 0), a.id)), False
    return None, False


def pick_advisor(
    *, session: Session, client: Client | None, now: datetime | None = None, tz: Any = None
) -> Advisor | None:
    """The advisor an escalation of this client goes to now (see `route`)."""
    from zoneinfo import ZoneInfo

    from bot.models import utcnow

    advisor, _ = route(session=session, client=client, now=now or utcnow(), tz=tz or ZoneInfo("Asia/Shanghai"))
    return advisor


def _supervisor(session: Session) -> Advisor | None:
    supervisors = session.exec(select(Advisor).where(Advisor.active, Advisor.is_supervisor).order_by(Advisor.id)).all()
    if not supervisors:
        return None
    load = _load(session)
    return min(supervisors, key=lambda a: (load.get(a.wecom_userid, 0), a.id))


def _due(advisor: Advisor | None, now: datetime, *, tz: Any, policy: Policy) -> datetime:
    start = next_on_duty(advisor, now, tz=tz, policy=policy) if advisor else None
    return (start or now) + policy.first_response


# Creating an escalation ----------------------------------------------------------------------------------------


def escalate(
    *,
    session: Session,
    conversation: Conversation,
    message: Message | None,
    outcome: Outcome,
    client: Client | None,
    now: datetime,
    settings: Any = None,
    policy: Policy | None = None,
) -> Escalation:
    """Create the escalation with its draft and context, route it, notify the advisor, adjust the holding reply."""
    settings = settings or _default_settings()
    policy = policy or Policy.from_settings(settings)
    tz = _tz(settings)
    advisor, working = route(session=session, client=client, now=now, tz=tz, policy=policy)
    draft_text = outcome.draft.text if outcome.draft else ""
    flags = list(outcome.flags)
    if not draft_text and advisor is not None:
        # Nothing to propose (e.g. the client just asked for a person): a reviewed opening line the advisor can send.
        draft_text = canned("advisor_draft_opening", advisor=advisor.name or "")
        flags.append("draft:canned")
    escalation = Escalation(
        conversation_id=conversation.id,
        message_id=message.id if message else None,
        reason=outcome.reason,
        detail=outcome.detail[:500],
        advisor_userid=advisor.wecom_userid if advisor else None,
        draft_text=draft_text,
        draft_flags=flags,
        sources=[s.model_dump() for s in outcome.sources],
        client_snapshot=client.model_dump(mode="json", exclude={"id"}) if client else {},
        created_at=now,
        first_response_due_at=_due(advisor, now, tz=tz, policy=policy),
        last_notified_at=now if advisor else None,
        notify_count=1 if advisor else 0,
    )
    session.add(escalation)
    session.flush()
    session.add(
        EscalationLog(
            escalation_id=escalation.id, at=now, actor="bot", action="create", from_status="", to_status="open",
            advisor_userid=escalation.advisor_userid, detail={"on_duty": working, "reason": str(outcome.reason)},
        )
    )
    conversation.state = ConversationState.waiting_human
    conversation.advisor_userid = escalation.advisor_userid
    conversation.updated_at = now
    session.add(conversation)
    if advisor is not None:
        if policy.kf_trans_on_escalate and working:
            _trans(session, escalation, conversation, KF_STATE_HUMAN, advisor.wecom_userid, tag="trans")
            session.add(EscalationLog(escalation_id=escalation.id, at=now, actor="bot", action="takeover",
                                      from_status="open", to_status="open", advisor_userid=advisor.wecom_userid))
        _notify(session, escalation, advisor, conversation, "new", now=now, settings=settings, message=message)
    if message is not None:
        _adjust_holding_reply(session, message, working=working, advisor=advisor, now=now, tz=tz, policy=policy)
    session.flush()
    log.info("escalation.created id=%s reason=%s routed=%s on_duty=%s", escalation.id, escalation.reason,
             bool(advisor), working)
    return escalation


def holding_reply(*, working: bool, next_time: datetime | None, tz: Any) -> str:
    """The honest holding reply: an advisor is at work now, or when they will be."""
    if working:
        return canned("escalation_holding_in_hours")
    when = next_time.astimezone(tz).strftime("%m月%d日 %H:%M") if next_time else "下一个工作日"
    return canned("escalation_holding_after_hours", next_time=when)


def _adjust_holding_reply(session: Session, message: Message, *, working: bool, advisor: Advisor | None,
                          now: datetime, tz: Any, policy: Policy) -> None:
    """Replace the pipeline's generic holding reply (still unsent, same transaction) by the in/after-hours text."""
    item = outbox.get_by_key(session=session, key=f"reply-{message.id}")
    if item is None or item.status != OutboxStatus.pending:
        return
    current = str(item.payload.get("text", ""))
    generic = next((g for g in (canned("holding_reply_working_hours"), canned("holding_reply_after_hours"))
                    if current.startswith(g)), None)
    if generic is None:
        return  # not the generic holding reply (an apology, a refusal): leave it alone
    next_time = next_on_duty(advisor, now, tz=tz, policy=policy) if advisor else None
    text = holding_reply(working=working, next_time=next_time, tz=tz) + current[len(generic):]
    item.payload = {**item.payload, "text": text}
    session.add(item)
    if item.message_id is not None:
        reply = session.get(Message, item.message_id)
        if reply is not None:
            reply.text = text
            session.add(reply)


def _trans(session: Session, escalation: Escalation, conversation: Conversation, state: int,
           servicer: str | None, *, tag: str) -> None:
    outbox.enqueue(
        session=session, kind=OutboxKind.service_state, key=f"esc{escalation.id}-{tag}",
        target=conversation.wecom_external_userid,
        payload={"open_kfid": conversation.open_kfid, "service_state": state, "servicer_userid": servicer},
        conversation_id=conversation.id,
    )


def _notify(session: Session, escalation: Escalation, advisor: Advisor, conversation: Conversation, kind: str, *,
            now: datetime, settings: Any, message: Message | None = None, n: int = 1) -> None:
    """A textcard to the advisor with a link into the console; idempotent per escalation, advisor and step."""
    tz = _tz(settings)
    snapshot = escalation.client_snapshot or {}
    if message is None and escalation.message_id:
        message = session.get(Message, escalation.message_id)
    reason = reason_label(escalation.reason)
    window = kf_window(session, conversation, now)
    window_text = (
        canned("advisor_window_open", messages_left=window.messages_left,
               closes_at=window.closes_at.astimezone(tz).strftime("%m-%d %H:%M"))
        if window.open and window.closes_at else canned("advisor_window_closed")
    )
    due = escalation.first_response_due_at or now
    description = canned(
        "advisor_card_description",
        client=snapshot.get("name") or conversation.wecom_external_userid,
        risk_level=snapshot.get("risk_level") or "未知",
        asset_tier=snapshot.get("asset_tier") or "资产等级未知",
        text=_clip((message.text if message else "") or "（无文字）", 150),
        due=due.astimezone(tz).strftime("%m-%d %H:%M"),
        window=window_text,
    )
    title = canned(f"advisor_card_title_{kind}", reason=reason, n=n)
    outbox.enqueue(
        session=session, kind=OutboxKind.app_message,
        key=f"esc{escalation.id}-{kind}{n}-{advisor.wecom_userid}"[:128],
        target=advisor.wecom_userid,
        payload={
            "msgtype": "textcard",
            "content": {
                "title": _clip_bytes(title, 128),
                "description": _clip_bytes(description, 512),
                "url": console_link(settings, escalation.id),
                "btntxt": canned("advisor_card_button"),
            },
        },
        conversation_id=conversation.id,
    )


def console_link(settings: Any, escalation_id: int) -> str:
    base = (getattr(settings, "scrm_public_url", None) or DEFAULT_CONSOLE_URL).rstrip("/")
    return f"{base}/console/escalations/{escalation_id}"


def reason_label(reason: str) -> str:
    try:
        return canned(f"escalation_reason_{reason}")
    except Exception:
        return str(reason)


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _clip_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "…"


def _default_settings() -> Any:
    try:
        from bot.config import get_settings

        return get_settings()
    except Exception:
        return None


def _tz(settings: Any):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return getattr(settings, "tz", None) or ZoneInfo("Asia/Shanghai")


# Reading -------------------------------------------------------------------------------------------------------


def get_escalation(*, session: Session, escalation_id: int) -> Escalation | None:
    return session.get(Escalation, escalation_id)


def get_escalation_or_raise(*, session: Session, escalation_id: int, lock: bool = False) -> Escalation:
    """The escalation (row-locked on PostgreSQL when `lock`), or NotFoundError."""
    stmt = select(Escalation).where(Escalation.id == escalation_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    escalation = session.exec(stmt).first()
    if escalation is None:
        raise NotFoundError(f"no escalation {escalation_id}")
    return escalation


def kf_window(session: Session, conversation: Conversation | None, now: datetime) -> KfWindow:
    """The 48 h / 5-message window as it stands, minus client texts already queued in the outbox."""
    if conversation is None or conversation.last_client_message_at is None:
        return KfWindow(open=False, messages_left=0)
    pending = session.exec(
        select(func.count()).select_from(OutboxItem).where(
            OutboxItem.conversation_id == conversation.id, OutboxItem.kind == OutboxKind.kf_text,
            col(OutboxItem.status).in_([OutboxStatus.pending, OutboxStatus.sending]),
        )
    ).one()
    left = max(0, conversation_service.window_remaining(conversation, now) - int(pending))
    closes_at = conversation.last_client_message_at + conversation_service.KF_WINDOW
    return KfWindow(open=left > 0 and now < closes_at, messages_left=left, closes_at=closes_at, pending=int(pending))


def _kf_with_advisor(session: Session, escalation: Escalation) -> bool:
    actions = session.exec(
        select(EscalationLog.action).where(
            EscalationLog.escalation_id == escalation.id, col(EscalationLog.action).in_(["takeover", "kf_end"])
        ).order_by(EscalationLog.id)
    ).all()
    return bool(actions) and actions[-1] == "takeover"


def _summary(escalation: Escalation, conversation: Conversation | None, now: datetime) -> dict:
    snapshot = escalation.client_snapshot or {}
    due = escalation.first_response_due_at
    return dict(
        id=escalation.id, status=escalation.status, reason=escalation.reason,
        reason_label=reason_label(escalation.reason), advisor_userid=escalation.advisor_userid,
        client_name=snapshot.get("name") or "",
        external_userid=conversation.wecom_external_userid if conversation else "",
        created_at=escalation.created_at, first_response_due_at=due,
        overdue=bool(due and escalation.first_response_at is None and now > due
                     and escalation.status in OPEN_STATUSES),
        claimed_at=escalation.claimed_at, first_response_at=escalation.first_response_at,
    )


def list_escalations(
    *, session: Session, staff: str | None, now: datetime, statuses: list[EscalationStatus] | None = None,
    everyone: bool = False, limit: int = 100,
) -> list[EscalationSummary]:
    """Escalations assigned to `staff` (or all, for supervisors asking for everyone), open ones by default."""
    stmt = select(Escalation, Conversation).join(Conversation, Conversation.id == Escalation.conversation_id)
    stmt = stmt.where(col(Escalation.status).in_(statuses or list(OPEN_STATUSES)))
    if not everyone:
        stmt = stmt.where(Escalation.advisor_userid == staff)
    rows = session.exec(stmt.order_by(col(Escalation.first_response_due_at), Escalation.id).limit(limit)).all()
    return [EscalationSummary(**_summary(e, c, now)) for e, c in rows]


def get_detail(*, session: Session, escalation_id: int, now: datetime, settings: Any = None) -> EscalationDetail:
    """Everything an advisor needs to act: reason, transcript, client, sources, draft, window, SLA, history."""
    escalation = get_escalation_or_raise(session=session, escalation_id=escalation_id)
    conversation = session.get(Conversation, escalation.conversation_id)
    messages = session.exec(
        select(Message).where(Message.conversation_id == escalation.conversation_id)
        .order_by(col(Message.id).desc()).limit(TRANSCRIPT_TURNS)
    ).all()
    transcript = [
        Turn(role=m.sender, text=m.text, at=m.sent_at or m.created_at, status=m.status) for m in reversed(messages)
    ]
    history = session.exec(
        select(EscalationLog).where(EscalationLog.escalation_id == escalation.id).order_by(EscalationLog.id)
    ).all()
    return EscalationDetail(
        **_summary(escalation, conversation, now),
        detail=escalation.detail, draft_text=escalation.draft_text, draft_flags=list(escalation.draft_flags),
        sources=list(escalation.sources), client=dict(escalation.client_snapshot or {}), transcript=transcript,
        window=kf_window(session, conversation, now), kf_with_advisor=_kf_with_advisor(session, escalation),
        outcome=escalation.outcome, notify_count=escalation.notify_count, reassign_count=escalation.reassign_count,
        history=[LogEntry(**h.model_dump(include=set(LogEntry.model_fields))) for h in history],
        allowed_actions=[a.value for a in allowed_actions(EscalationStatus(escalation.status))
                         if a in _STAFF_ACTIONS],
        console_url=console_link(settings or _default_settings(), escalation.id),
    )


# Advisor actions -----------------------------------------------------------------------------------------------

_STAFF_ACTIONS = (
    EscalationAction.claim, EscalationAction.release, EscalationAction.reply, EscalationAction.resolve,
    EscalationAction.hand_back, EscalationAction.takeover,
)


def is_advisor(staff: Advisor) -> bool:
    """Takes escalations: the advisor role (compliance and ops staff are staff rows too) or a supervisor."""
    return staff.is_supervisor or "advisor" in (staff.roles or ())


def get_staff_or_raise(*, session: Session, userid: str) -> Advisor:
    """The active advisor with this WeCom userid, or ForbiddenError."""
    staff = session.exec(select(Advisor).where(Advisor.wecom_userid == userid)).first()
    if staff is None or not staff.active or not is_advisor(staff):
        raise ForbiddenError(f"{userid!r} is not an active advisor")
    return staff


def _check_owner(escalation: Escalation, staff: Advisor) -> None:
    if staff.is_supervisor or escalation.advisor_userid in (None, staff.wecom_userid):
        return
    raise ForbiddenError(f"escalation {escalation.id} is assigned to another advisor")


def get_visible_or_raise(*, session: Session, escalation_id: int, staff_userid: str) -> Escalation:
    """An escalation this advisor may see: their own, an unassigned one, or any for a supervisor (as the console)."""
    staff = get_staff_or_raise(session=session, userid=staff_userid)
    escalation = get_escalation_or_raise(session=session, escalation_id=escalation_id)
    _check_owner(escalation, staff)
    return escalation


def claim(*, session: Session, escalation_id: int, staff_userid: str, now: datetime) -> Escalation:
    """Take an escalation. Any active advisor may claim an unclaimed one (it helps the SLA); claimed is claimed."""
    staff = get_staff_or_raise(session=session, userid=staff_userid)
    escalation = get_escalation_or_raise(session=session, escalation_id=escalation_id, lock=True)
    if escalation.status == EscalationStatus.claimed and escalation.advisor_userid == staff.wecom_userid:
        return escalation  # a repeated click
    if escalation.status != EscalationStatus.open:
        _check_owner(escalation, staff)  # once someone has it, only they (or a supervisor) act on it
    previous = escalation.advisor_userid
    escalation.advisor_userid = staff.wecom_userid
    transition(session=session, escalation=escalation, action=EscalationAction.claim, actor=staff.wecom_userid,
               now=now, detail={"previous": previous} if previous != staff.wecom_userid else None)
    escalation.claimed_at = now
    conversation = session.get(Conversation, escalation.conversation_id)
    conversation.state = ConversationState.human
    conversation.advisor_userid = staff.wecom_userid
    conversation.updated_at = now
    session.add_all([escalation, conversation])
    session.flush()
    return escalation


def release(*, session: Session, escalation_id: int, staff_userid: str, now: datetime) -> Escalation:
    """Give a claimed escalation back to the queue (the SLA sweep routes it again if nobody takes it)."""
    staff = get_staff_or_raise(session=session, userid=staff_userid)
    escalation = get_escalation_or_raise(session=session, escalation_id=escalation_id, lock=True)
    _check_owner(escalation, staff)
    transition(session=session, escalation=escalation, action=EscalationAction.release, actor=staff.wecom_userid,
               now=now)
    escalation.claimed_at = None
    escalation.last_notified_at = now
    session.add(escalation)
    session.flush()
    return escalation


def send_reply(
    *,
    session: Session,
    escalation_id: int,
    staff_userid: str,
    gate: Gate,
    now: datetime,
    text: str | None = None,
    request_key: str | None = None,
) -> ReplyResult:
    """Send the draft (text=None) or an edited reply through kf, screened again by the gate.

    block, review or failed suitability -> `refused` with the reason and a rewrite hint, nothing sent; a closed
    kf window or a chat taken into WeCom -> ConflictError. `request_key` makes a retried request a no-op.
    """
    staff = get_staff_or_raise(session=session, userid=staff_userid)
    escalation = get_escalation_or_raise(session=session, escalation_id=escalation_id, lock=True)
    _check_owner(escalation, staff)
    key = f"esc{escalation.id}-reply-{request_key}"[:128] if request_key else None
    if key and (existing := outbox.get_by_key(session=session, key=key)) is not None:
        return ReplyResult(status="queued", escalation_id=escalation.id, text=existing.payload.get("text", ""),
                           message_id=existing.message_id)
    if (EscalationStatus(escalation.status), EscalationAction.reply) not in TRANSITIONS:
        raise ConflictError(f"escalation {escalation.id} is {escalation.status}: cannot reply")
    body = (text if text is not None else escalation.draft_text).strip()
    if not body:
        raise BadRequestError("nothing to send: the escalation has no draft and no text was given")
    conversation = session.get(Conversation, escalation.conversation_id)
    if _kf_with_advisor(session, escalation):
        raise ConflictError("the chat was taken into WeCom (人工接待): reply in WeCom, kf/send_msg is closed")
    window = kf_window(session, conversation, now)
    if not window.open:
        raise ConflictError(
            "the kf window is closed (48 h since the client's last message, or its 5 messages are used): "
            "contact the client through a mass-message task or by phone"
        )
    client = conversation_service.get_client(session=session, external_userid=conversation.wecom_external_userid)
    ctx = Context(client=conversation_service.client_profile(client, conversation.wecom_external_userid)
                  if client else ClientProfile(external_userid=conversation.wecom_external_userid),
                  now=now, conversation_id=conversation.id)
    result = gate.check_outbound(body, ctx, draft=Draft(text=body))
    hits = [h.model_dump() for h in result.hits]
    if result.verdict in (Verdict.block, Verdict.review) or not result.suitability_ok:
        reason = result.reason or (
            "suitability: the product's risk is above the client's level" if not result.suitability_ok
            else f"compliance {result.verdict}"
        )
        session.add(EscalationLog(escalation_id=escalation.id, at=now, actor=staff.wecom_userid,
                                  action="reply_refused", from_status=escalation.status,
                                  to_status=escalation.status, advisor_userid=escalation.advisor_userid,
                                  detail={"verdict": str(result.verdict), "reason": reason[:300]}))
        session.flush()
        return ReplyResult(status="refused", escalation_id=escalation.id, text=body, verdict=result.verdict,
                           reason=reason, rewrite_hint=result.rewrite_hint
                           or "请删除承诺收益、保证、推荐个股等表述后重新发送，或提交合规复核。",
                           hits=hits, window=window)
    final = result.text or body
    escalation.advisor_userid = escalation.advisor_userid or staff.wecom_userid
    transition(session=session, escalation=escalation, action=EscalationAction.reply, actor=staff.wecom_userid,
               now=now, detail={"verdict": str(result.verdict), "edited": text is not None})
    if escalation.first_response_at is None:
        escalation.first_response_at = now
    if escalation.claimed_at is None:
        escalation.claimed_at = now
    reply = Message(
        conversation_id=conversation.id, direction=Direction.outbound, sender="advisor", kind="text", text=final,
        status=MessageStatus.pending, action="answer", flags=[f"advisor:{staff.wecom_userid}",
                                                              f"verdict:{result.verdict}"],
        created_at=now,
    )
    session.add(reply)
    session.flush()
    outbox.enqueue(
        session=session, kind=OutboxKind.kf_text, key=key or f"esc{escalation.id}-msg{reply.id}",
        target=conversation.wecom_external_userid, payload={"open_kfid": conversation.open_kfid, "text": final},
        conversation_id=conversation.id, message_id=reply.id,
    )
    conversation.state = ConversationState.human
    conversation.advisor_userid = escalation.advisor_userid
    conversation.updated_at = now
    session.add_all([escalation, conversation])
    session.flush()
    return ReplyResult(status="queued", escalation_id=escalation.id, text=final, verdict=result.verdict,
                       reason=result.reason, hits=hits, message_id=reply.id,
                       window=kf_window(session, conversation, now))


def takeover(*, session: Session, escalation_id: int, staff_userid: str, now: datetime) -> Escalation:
    """Take the chat into WeCom: kf/service_state/trans to 3 (人工接待) with the advisor as servicer."""
    staff = get_staff_or_raise(session=session, userid=staff_userid)
    escalation = get_escalation_or_raise(session=session, escalation_id=escalation_id, lock=True)
    _check_owner(escalation, staff)
    if _kf_with_advisor(session, escalation):
        return escalation
    escalation.advisor_userid = staff.wecom_userid
    transition(session=session, escalation=escalation, action=EscalationAction.takeover, actor=staff.wecom_userid,
               now=now)
    escalation.claimed_at = escalation.claimed_at or now
    conversation = session.get(Conversation, escalation.conversation_id)
    count = session.exec(select(func.count()).select_from(EscalationLog).where(
        EscalationLog.escalation_id == escalation.id, EscalationLog.action == "takeover")).one()
    _trans(session, escalation, conversation, KF_STATE_HUMAN, staff.wecom_userid, tag=f"trans{count}")
    conversation.state = ConversationState.human
    conversation.advisor_userid = staff.wecom_userid
    session.add_all([escalation, conversation])
    session.flush()
    return escalation


def _release_conversation(session: Session, escalation: Escalation, actor: str, now: datetime) -> None:
    conversation = session.get(Conversation, escalation.conversation_id)
    if _kf_with_advisor(session, escalation):
        # 3 -> 1 is not allowed; end the session (4). The client's next message opens a new one for the bot.
        _trans(session, escalation, conversation, KF_STATE_ENDED, None, tag="end")
        session.add(EscalationLog(escalation_id=escalation.id, at=now, actor=actor, action="kf_end",
                                  from_status=escalation.status, to_status=escalation.status))
    conversation.state = ConversationState.bot
    conversation.advisor_userid = None
    conversation.updated_at = now
    session.add(conversation)


def resolve(*, session: Session, escalation_id: int, staff_userid: str, outcome: str, now: datetime) -> Escalation:
    """Close the escalation with an outcome; the conversation goes back to the bot."""
    if not outcome.strip():
        raise BadRequestError("an outcome is required")
    staff = get_staff_or_raise(session=session, userid=staff_userid)
    escalation = get_escalation_or_raise(session=session, escalation_id=escalation_id, lock=True)
    _check_owner(escalation, staff)
    transition(session=session, escalation=escalation, action=EscalationAction.resolve, actor=staff.wecom_userid,
               now=now, detail={"outcome": outcome[:200]})
    _release_conversation(session, escalation, staff.wecom_userid, now)
    escalation.outcome = outcome.strip()[:200]
    escalation.resolved_at = now
    session.add(escalation)
    session.flush()
    return escalation


def hand_back(*, session: Session, escalation_id: int, staff_userid: str, now: datetime,
              note: str = "") -> Escalation:
    """Hand the conversation back to the bot (the escalation ends as `returned`)."""
    staff = get_staff_or_raise(session=session, userid=staff_userid)
    escalation = get_escalation_or_raise(session=session, escalation_id=escalation_id, lock=True)
    _check_owner(escalation, staff)
    transition(session=session, escalation=escalation, action=EscalationAction.hand_back, actor=staff.wecom_userid,
               now=now, detail={"note": note[:200]} if note else None)
    _release_conversation(session, escalation, staff.wecom_userid, now)
    escalation.outcome = (note or "handed back to the bot")[:200]
    escalation.resolved_at = now
    session.add(escalation)
    session.flush()
    return escalation


# SLA -----------------------------------------------------------------------------------------------------------


def sla_sweep(*, session: Session, now: datetime, settings: Any = None, policy: Policy | None = None) -> SweepReport:
    """Unclaimed: re-notify, then reassign to another advisor on duty, then a supervisor. Claimed without a first
    reply past due: remind the advisor once. Safe to run twice: each step is keyed and logged."""
    settings = settings or _default_settings()
    policy = policy or Policy.from_settings(settings)
    tz = _tz(settings)
    report = SweepReport()
    stmt = (
        select(Escalation)
        .where(col(Escalation.status).in_([EscalationStatus.open, EscalationStatus.claimed]))
        .where(col(Escalation.first_response_at).is_(None))
        .order_by(Escalation.id)
    )
    for escalation in session.exec(for_update(stmt, session)).all():
        conversation = session.get(Conversation, escalation.conversation_id)
        answered_at = _answered_in_wecom(session, escalation)
        if answered_at is not None:
            # The advisor answered in WeCom itself (sync_msg origin 5): that is the first response.
            escalation.first_response_at = answered_at
            transition(session=session, escalation=escalation, action=EscalationAction.reply,
                       actor=escalation.advisor_userid or "wecom", now=now, detail={"via": "wecom"})
            continue
        advisor = (
            session.exec(select(Advisor).where(Advisor.wecom_userid == escalation.advisor_userid)).first()
            if escalation.advisor_userid else None
        )
        due = escalation.first_response_due_at or escalation.created_at
        if escalation.status == EscalationStatus.claimed:
            if now >= due and not _logged(session, escalation, "remind_overdue"):
                transition(session=session, escalation=escalation, action=EscalationAction.remind_overdue,
                           actor="sla", now=now)
                if advisor is not None:
                    _notify(session, escalation, advisor, conversation, "overdue", now=now, settings=settings)
                report.reminded.append(escalation.id)
            continue
        if advisor is not None and advisor.is_supervisor:
            continue  # the last rung: the supervisor has it
        advisor_working = advisor is not None and on_duty(advisor, now, tz=tz, policy=policy)
        if now < due:
            last = escalation.last_notified_at or escalation.created_at
            if (advisor_working and escalation.notify_count < policy.max_notify
                    and now - last >= policy.renotify_after):
                escalation.notify_count += 1
                escalation.last_notified_at = now
                transition(session=session, escalation=escalation, action=EscalationAction.renotify, actor="sla",
                           now=now, detail={"n": escalation.notify_count})
                _notify(session, escalation, advisor, conversation, "renotify", now=now, settings=settings,
                        n=escalation.notify_count)
                report.renotified.append(escalation.id)
            continue
        # Past due and nobody claimed it: another advisor on duty, then a supervisor.
        tried = frozenset(_assigned_before(session, escalation))
        target = None
        if escalation.reassign_count < policy.max_reassign:
            client = (
                conversation_service.get_client(session=session, external_userid=conversation.wecom_external_userid)
                if conversation else None
            )
            candidate, working = route(session=session, client=client, now=now, tz=tz, policy=policy, exclude=tried)
            if candidate is not None and working:
                target = candidate
        if target is not None:
            _assign(session, escalation, target, now=now, tz=tz, policy=policy, action=EscalationAction.reassign)
            escalation.reassign_count += 1
            _notify(session, escalation, target, conversation, "reassigned", now=now, settings=settings,
                    n=escalation.reassign_count)
            report.reassigned.append(escalation.id)
            continue
        supervisor = _supervisor(session)
        if supervisor is not None and supervisor.wecom_userid not in tried:
            _assign(session, escalation, supervisor, now=now, tz=tz, policy=policy, action=EscalationAction.supervise)
            _notify(session, escalation, supervisor, conversation, "supervisor", now=now, settings=settings)
            report.supervised.append(escalation.id)
    session.flush()
    return report


def _answered_in_wecom(session: Session, escalation: Escalation) -> datetime | None:
    return session.exec(
        select(Message.created_at).where(
            Message.conversation_id == escalation.conversation_id, Message.direction == Direction.outbound,
            Message.sender == "advisor", Message.created_at >= escalation.created_at,
        ).order_by(Message.id)
    ).first()


def close_for_conversation(*, session: Session, conversation_id: int, now: datetime,
                           outcome: str = "session ended in WeCom") -> list[Escalation]:
    """Resolve the open escalations of a conversation whose kf session ended in WeCom (session_status_change 3);
    for the worker to call when it stores that event."""
    closed = []
    for escalation in session.exec(select(Escalation).where(
            Escalation.conversation_id == conversation_id, col(Escalation.status).in_(OPEN_STATUSES))).all():
        transition(session=session, escalation=escalation, action=EscalationAction.resolve, actor="wecom", now=now,
                   detail={"outcome": outcome})
        session.add(EscalationLog(escalation_id=escalation.id, at=now, actor="wecom", action="kf_end",
                                  from_status=escalation.status, to_status=escalation.status))
        escalation.outcome = outcome[:200]
        escalation.resolved_at = now
        session.add(escalation)
        closed.append(escalation)
    session.flush()
    return closed


def _assign(session: Session, escalation: Escalation, advisor: Advisor, *, now: datetime, tz: Any, policy: Policy,
            action: EscalationAction) -> None:
    previous = escalation.advisor_userid
    escalation.advisor_userid = advisor.wecom_userid
    transition(session=session, escalation=escalation, action=action, actor="sla", now=now,
               detail={"from": previous, "to": advisor.wecom_userid})
    escalation.notify_count = 1
    escalation.last_notified_at = now
    escalation.first_response_due_at = _due(advisor, now, tz=tz, policy=policy)
    conversation = session.get(Conversation, escalation.conversation_id)
    if conversation is not None:
        conversation.advisor_userid = advisor.wecom_userid
        session.add(conversation)
    session.add(escalation)


def _logged(session: Session, escalation: Escalation, action: str) -> bool:
    return session.exec(select(EscalationLog.id).where(
        EscalationLog.escalation_id == escalation.id, EscalationLog.action == action)).first() is not None


def _assigned_before(session: Session, escalation: Escalation) -> set[str]:
    rows = session.exec(select(EscalationLog.advisor_userid, EscalationLog.detail).where(
        EscalationLog.escalation_id == escalation.id)).all()
    seen = {userid for userid, _ in rows if userid}
    for _, detail in rows:
        for key in ("from", "to", "previous"):
            if isinstance(detail, dict) and detail.get(key):
                seen.add(detail[key])
    if escalation.advisor_userid:
        seen.add(escalation.advisor_userid)
    return seen


def open_for_advisor(*, session: Session, advisor_userid: str) -> list[Escalation]:
    """Open escalations assigned to one advisor (for the digest)."""
    return list(session.exec(
        select(Escalation).where(Escalation.advisor_userid == advisor_userid,
                                 col(Escalation.status).in_(OPEN_STATUSES)).order_by(Escalation.id)
    ).all())


__all__ = [
    "TRANSITIONS", "allowed_actions", "claim", "close_for_conversation", "escalate", "get_detail", "hand_back", "holding_reply",
    "list_escalations", "next_on_duty", "on_duty", "pick_advisor", "release", "resolve", "route", "send_reply",
    "sla_sweep", "takeover", "transition",
]
