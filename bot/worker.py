"""The durable work queue and its workers.

Three kinds of rows drive everything, each claimed with a lease so that a worker that dies mid-way loses nothing (the
lease expires and another worker takes the row) and duplicates nothing (results are written in one transaction that
checks the claim is still ours; WeCom sends carry idempotent msgids):

- `inbound_event`: a stored callback. For 微信客服 it means "pull with kf/sync_msg"; events of one kf account run
  one at a time and the cursor advances in the same transaction as the messages it covers.
- `message` (inbound, status `received`): a client's message waiting for the pipeline; per conversation in order.
- `outbox`: what goes to WeCom, retried with exponential backoff; per conversation in order for client texts.

On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, so several `scrm serve` processes share the queue; on SQLite
`BEGIN IMMEDIATE` serialises the claimers.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, func, select

from bot import outbox
from bot.conversations import service as conversation_service
from bot.conversations.service import KF_WINDOW_MESSAGES
from bot.db import for_update
from bot.escalations import service as escalation_service
from bot.errors import WeComAPIError, WeComTransientError, WeComWindowClosedError
from bot.logging import log_context
from bot.models import (
    Conversation,
    ConversationState,
    Direction,
    EventStatus,
    InboundEvent,
    KfCursor,
    Message,
    MessageStatus,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
)
from bot.pipeline.handler import process_message
from prompts import canned

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # default; settings.scrm_lease_s overrides
MAX_ATTEMPTS = 5
MESSAGE_MAX_ATTEMPTS = 3
KF_ORIGIN_CLIENT, KF_ORIGIN_EVENT, KF_ORIGIN_SERVICER = 3, 4, 5
KF_SESSION_ENDED = 3  # session_status_change.change_type: the servicer ended the session


def _lease(services) -> timedelta:  # type: ignore[no-untyped-def]
    settings = getattr(services, "settings", None)
    return timedelta(seconds=settings.scrm_lease_s) if settings is not None else LEASE


def backoff(attempts: int, *, base: float = 2.0, cap: float = 600.0) -> timedelta:
    """Exponential backoff: 2 s, 4 s, 8 s, ... capped at 10 minutes."""
    return timedelta(seconds=min(cap, base ** max(1, attempts)))


# Inbound events ------------------------------------------------------------------------------------------------


def _claim_head_of_queue(services, model, *, group_by, unfinished, where=()):  # type: ignore[no-untyped-def]
    """Claim the oldest runnable row among the first unfinished row of each group (a kf account's events, a
    conversation's messages), so a group is worked one row at a time and in order. Returns (id, attempt)."""
    now = services.now()
    received, processing = unfinished
    with services.db.session() as session:
        first_per_group = (
            select(func.min(model.id)).where(*where).where(col(model.status).in_(unfinished)).group_by(group_by)
        )
        runnable_at = getattr(model, "next_attempt_at", model.lease_until)
        stmt = (
            select(model)
            .where(col(model.id).in_(first_per_group))
            .where(
                sa.or_(
                    sa.and_(model.status == received, sa.or_(col(runnable_at).is_(None), runnable_at <= now)),
                    sa.and_(model.status == processing, model.lease_until <= now),
                )
            )
            .order_by(model.id)
            .limit(1)
        )
        row = session.exec(for_update(stmt, session)).first()
        if row is None:
            return None
        row.status = processing
        row.attempts += 1
        row.lease_until = now + _lease(services)
        session.add(row)
        return row.id, row.attempts


def claim_event(services) -> tuple[int, int] | None:  # type: ignore[no-untyped-def]
    """Claim the oldest runnable event of a partition (kf account) no other worker holds."""
    return _claim_head_of_queue(services, InboundEvent, group_by=InboundEvent.partition_key,
                                unfinished=(EventStatus.pending, EventStatus.processing))


def process_event(services, event_id: int, attempt: int) -> None:  # type: ignore[no-untyped-def]
    with log_context(event_id=event_id):
        with services.db.session() as session:
            event = session.get(InboundEvent, event_id)
            if event is None or event.status != EventStatus.processing or event.attempts != attempt:
                return
            kind, payload = event.kind, dict(event.payload)
        try:
            if kind == "kf_msg_or_event":
                pull_kf_messages(services, token=payload.get("token"), open_kfid=payload.get("open_kfid", ""))
        except Exception as exc:
            _fail_event(services, event_id, attempt, exc)
            return
        with services.db.session() as session:
            event = session.get(InboundEvent, event_id)
            if event is not None and event.attempts == attempt:
                event.status = EventStatus.done
                event.processed_at = services.now()
                event.lease_until = None
                event.error = None
                session.add(event)


def _fail_event(services, event_id: int, attempt: int, exc: Exception) -> None:  # type: ignore[no-untyped-def]
    log.warning("event.failed attempt=%s error=%s", attempt, type(exc).__name__, exc_info=not isinstance(exc, WeComAPIError))
    now = services.now()
    with services.db.session() as session:
        event = session.get(InboundEvent, event_id)
        if event is None or event.attempts != attempt:
            return
        event.error = f"{type(exc).__name__}: {exc}"[:500]
        event.lease_until = None
        if attempt >= MAX_ATTEMPTS:
            event.status = EventStatus.failed
        else:
            event.status = EventStatus.pending
            event.next_attempt_at = now + backoff(attempt)
        session.add(event)


def pull_kf_messages(services, *, token: str | None, open_kfid: str) -> int:  # type: ignore[no-untyped-def]
    """Follow kf/sync_msg from the stored cursor until has_more is 0; store each message once. Returns new count."""
    stored = 0
    while True:
        with services.db.session() as session:
            row = session.get(KfCursor, open_kfid)
            cursor = row.cursor if row else ""
        page = services.wecom.sync_msg(token=token, cursor=cursor, open_kfid=open_kfid or None)
        now = services.now()
        with services.db.session() as session:
            for item in page.msg_list:
                if store_kf_message(session=session, item=item, now=now):
                    stored += 1
            row = session.get(KfCursor, open_kfid) or KfCursor(open_kfid=open_kfid)
            row.cursor = page.next_cursor or row.cursor
            row.updated_at = now
            session.add(row)
        if not page.has_more:
            break
    if stored:
        services.wake()
    return stored


def store_kf_message(*, session, item: dict, now: datetime) -> bool:  # type: ignore[no-untyped-def]
    """Store one sync_msg item: a client message (to answer), an advisor's reply, or a session event."""
    origin = int(item.get("origin", 0))
    msgid = str(item.get("msgid", ""))
    open_kfid = str(item.get("open_kfid", ""))
    external_userid = str(item.get("external_userid", ""))
    sent_at = datetime.fromtimestamp(int(item.get("send_time", now.timestamp())), UTC)
    msgtype = str(item.get("msgtype", ""))
    if origin == KF_ORIGIN_CLIENT and msgid and external_userid:
        text = str(item.get("text", {}).get("content", "")) if msgtype == "text" else ""
        message = conversation_service.record_inbound(
            session=session, open_kfid=open_kfid, external_userid=external_userid, wecom_msgid=msgid,
            kind=msgtype or "unknown", text=text, sent_at=sent_at, now=now,
        )
        return message is not None and message.status == MessageStatus.received
    if origin == KF_ORIGIN_SERVICER and msgid and msgtype == "text":
        conversation_service.record_servicer_message(
            session=session, open_kfid=open_kfid, external_userid=external_userid,
            servicer_userid=str(item.get("servicer_userid", "")), wecom_msgid=msgid,
            text=str(item.get("text", {}).get("content", "")), sent_at=sent_at, now=now,
        )
        return False
    if origin == KF_ORIGIN_EVENT and msgtype == "event":
        event = item.get("event", {})
        if event.get("event_type") == "enter_session" and event.get("welcome_code"):
            _welcome(session=session, event=event, now=now)
            return False
        if event.get("event_type") == "session_status_change" and int(event.get("change_type", 0)) == KF_SESSION_ENDED:
            conversation = conversation_service.get_or_create_conversation(
                session=session, open_kfid=str(event.get("open_kfid", open_kfid)),
                external_userid=str(event.get("external_userid", external_userid)), now=now,
            )
            conversation.state = ConversationState.bot
            conversation.updated_at = now
            session.add(conversation)
            escalation_service.close_for_conversation(session=session, conversation_id=conversation.id, now=now)
    return False


def _welcome(*, session, event: dict, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """A client opened the chat and WeCom offers a welcome: greet them (reviewed canned text) with its code."""
    conversation = conversation_service.get_or_create_conversation(
        session=session, open_kfid=str(event.get("open_kfid", "")),
        external_userid=str(event.get("external_userid", "")), now=now,
    )
    code, text = str(event["welcome_code"]), canned("kf_welcome")
    key = f"welcome-{code}"[:128]
    if outbox.get_by_key(session=session, key=key) is not None:
        return
    greeting = Message(conversation_id=conversation.id, direction=Direction.outbound, sender="bot", text=text,
                       status=MessageStatus.pending, action="welcome", created_at=now)
    session.add(greeting)
    session.flush()
    outbox.enqueue(session=session, kind=OutboxKind.kf_welcome, key=key, target=conversation.wecom_external_userid,
                   payload={"code": code, "text": text}, conversation_id=conversation.id, message_id=greeting.id)


# Inbound messages ----------------------------------------------------------------------------------------------


def claim_message(services) -> tuple[int, int] | None:  # type: ignore[no-untyped-def]
    """Claim the oldest unanswered client message of a conversation no other worker is answering. (A message put
    back after an error waits until its `lease_until`.)"""
    return _claim_head_of_queue(services, Message, group_by=Message.conversation_id,
                                unfinished=(MessageStatus.received, MessageStatus.processing),
                                where=(Message.direction == Direction.inbound,))


def run_message(services, message_id: int, attempt: int) -> None:  # type: ignore[no-untyped-def]
    """Process one claimed message; on error retry later, and after the last try send one apology and escalate."""
    try:
        process_message(services, message_id, attempt)
    except Exception as exc:
        log.exception("message.failed message_id=%s attempt=%s", message_id, attempt)
        _fail_message(services, message_id, attempt, exc)
    services.wake()


def _fail_message(services, message_id: int, attempt: int, exc: Exception) -> None:  # type: ignore[no-untyped-def]
    now = services.now()
    with services.db.session() as session:
        message = session.get(Message, message_id)
        if message is None or message.status != MessageStatus.processing or message.attempts != attempt:
            return
        message.error = f"{type(exc).__name__}: {exc}"[:500]
        if attempt < MESSAGE_MAX_ATTEMPTS:
            message.status = MessageStatus.received
            message.lease_until = now + backoff(attempt)
            session.add(message)
            return
        message.status = MessageStatus.failed
        message.lease_until = None
        session.add(message)
        conversation = session.get(Conversation, message.conversation_id)
        apology = canned("apology_error")
        reply = Message(conversation_id=conversation.id, direction=Direction.outbound, sender="bot", text=apology,
                        status=MessageStatus.pending, action="escalate", created_at=now)
        session.add(reply)
        session.flush()
        outbox.enqueue(session=session, kind=OutboxKind.kf_text, key=f"reply-{message.id}",
                       target=conversation.wecom_external_userid,
                       payload={"open_kfid": conversation.open_kfid, "text": apology},
                       conversation_id=conversation.id, message_id=reply.id)


# Outbox --------------------------------------------------------------------------------------------------------


def claim_outbox(services, limit: int = 20) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """Claim due outbox items; a client's texts go strictly in order (only the first unsent one is eligible)."""
    now = services.now()
    with services.db.session() as session:
        first_kf = (
            select(func.min(OutboxItem.id))
            .where(OutboxItem.kind == OutboxKind.kf_text)
            .where(col(OutboxItem.status).in_([OutboxStatus.pending, OutboxStatus.sending]))
            .group_by(OutboxItem.conversation_id, OutboxItem.target)
        )
        stmt = (
            select(OutboxItem)
            .where(
                sa.or_(
                    sa.and_(OutboxItem.status == OutboxStatus.pending, OutboxItem.next_attempt_at <= now),
                    sa.and_(OutboxItem.status == OutboxStatus.sending, OutboxItem.lease_until <= now),
                )
            )
            .where(sa.or_(OutboxItem.kind != OutboxKind.kf_text, col(OutboxItem.id).in_(first_kf)))
            .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
            .limit(limit)
        )
        items = session.exec(for_update(stmt, session)).all()
        claimed = []
        for item in items:
            item.status = OutboxStatus.sending
            item.attempts += 1
            item.lease_until = now + _lease(services)
            session.add(item)
            claimed.append((item.id, item.attempts))
        return claimed


def deliver_outbox(services, limit: int = 20) -> int:  # type: ignore[no-untyped-def]
    """Send what is due in the outbox. Returns how many items were handled (sent, failed or retried)."""
    claimed = claim_outbox(services, limit)
    for item_id, attempt in claimed:
        with log_context(outbox_id=item_id):
            deliver_item(services, item_id, attempt)
    return len(claimed)


def deliver_item(services, item_id: int, attempt: int) -> None:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        item = session.get(OutboxItem, item_id)
        if item is None or item.status != OutboxStatus.sending or item.attempts != attempt:
            return
        kind, target, payload = item.kind, item.target, dict(item.payload)
        conversation_id, key = item.conversation_id, item.idempotency_key
    try:
        wecom_msgid = _SENDERS[kind](services, item_id=item_id, key=key, target=target, payload=payload,
                                     conversation_id=conversation_id)
    except WeComWindowClosedError as exc:
        _finish_item(services, item_id, attempt, OutboxStatus.window_closed, error=str(exc))
    except WeComTransientError as exc:
        if attempt >= MAX_ATTEMPTS:
            _finish_item(services, item_id, attempt, OutboxStatus.failed, error=str(exc))
        else:
            _finish_item(services, item_id, attempt, OutboxStatus.pending, error=str(exc),
                         retry_at=services.now() + backoff(attempt))
    except WeComAPIError as exc:
        log.warning("outbox.rejected errcode=%s api=%s", exc.errcode, exc.api)
        _finish_item(services, item_id, attempt, OutboxStatus.failed, error=str(exc))
    else:
        _finish_item(services, item_id, attempt, OutboxStatus.sent, wecom_msgid=wecom_msgid)


def _finish_item(services, item_id: int, attempt: int, status: OutboxStatus, *, error: str | None = None,  # type: ignore[no-untyped-def]
                 retry_at: datetime | None = None, wecom_msgid: str | None = None) -> None:
    now = services.now()
    with services.db.session() as session:
        item = session.get(OutboxItem, item_id)
        if item is None or item.attempts != attempt:
            return
        item.status = status
        item.lease_until = None
        item.error = error[:500] if error else None
        if retry_at is not None:
            item.next_attempt_at = retry_at
        if status == OutboxStatus.sent:
            item.sent_at = now
            item.wecom_msgid = wecom_msgid
        session.add(item)
        if item.message_id is not None and status != OutboxStatus.pending:
            message = session.get(Message, item.message_id)
            if message is not None:
                message.status = MessageStatus.sent if status == OutboxStatus.sent else MessageStatus.failed
                message.sent_at = now if status == OutboxStatus.sent else None
                message.wecom_msgid = wecom_msgid or message.wecom_msgid
                message.error = item.error
                session.add(message)


def _send_kf_text(services, *, item_id: int, key: str, target: str, payload: dict,  # type: ignore[no-untyped-def]
                  conversation_id: int | None) -> str:
    """Send a client text within the kf window: split by UTF-8 bytes, shortened to the messages left in the window.

    Every part carries a msgid derived from the outbox item, so resending after a crash is idempotent at WeCom; the
    parts already sent are remembered in the payload.
    """
    from bot.wecom.textsplit import fit_utf8

    now = services.now()
    with services.db.session() as session:
        conversation = session.get(Conversation, conversation_id) if conversation_id else None
        remaining = conversation_service.window_remaining(conversation, now) if conversation else 5
        parts = payload.get("parts")
        if parts is None:
            # Decide the parts once, on the first attempt, and keep them: a retry sends the same texts.
            # At most the messages left in the window (all 5 when it is closed: the send then fails as such).
            parts = fit_utf8(payload["text"], remaining or KF_WINDOW_MESSAGES, suffix=canned("reply_truncated"))
            item = session.get(OutboxItem, item_id)
            item.payload = {**item.payload, "parts": parts}
            session.add(item)
    sent_parts = int(payload.get("sent_parts", 0))
    last_msgid = payload.get("last_msgid", "")
    for index in range(sent_parts, len(parts)):
        if remaining <= 0:
            raise WeComWindowClosedError(95001, "kf window closed (48 h or 5 messages)", api="kf/send_msg")
        last_msgid = services.wecom.send_kf_text(
            open_kfid=payload["open_kfid"], external_userid=target, text=parts[index], msgid=f"scrm{item_id}p{index}"
        )
        remaining -= 1
        with services.db.session() as session:
            item = session.get(OutboxItem, item_id)
            item.payload = {**item.payload, "sent_parts": index + 1, "last_msgid": last_msgid}
            session.add(item)
            if conversation_id:
                conversation = session.get(Conversation, conversation_id)
                conversation.window_sent += 1
                session.add(conversation)
    return last_msgid


def _send_kf_welcome(services, *, item_id: int, payload: dict, **_: object) -> str:  # type: ignore[no-untyped-def]
    return services.wecom.send_kf_event_text(code=payload["code"], text=payload["text"], msgid=f"scrm{item_id}w")


def _send_app_message(services, *, target: str, payload: dict, **_: object) -> str:  # type: ignore[no-untyped-def]
    return services.wecom.send_app_message(touser=target, msgtype=payload["msgtype"], content=payload["content"])


def _send_service_state(services, *, target: str, payload: dict, **_: object) -> str:  # type: ignore[no-untyped-def]
    return services.wecom.trans_service_state(
        open_kfid=payload["open_kfid"], external_userid=target, state=int(payload["service_state"]),
        servicer_userid=payload.get("servicer_userid"),
    ) or ""


def _send_msg_template(services, *, target: str, payload: dict, **_: object) -> str:  # type: ignore[no-untyped-def]
    result = services.wecom.add_msg_template(sender=target, external_userids=payload["external_userids"],
                                             text=payload["text"])
    return str(result.get("msgid", ""))


_SENDERS = {
    OutboxKind.kf_text: _send_kf_text,
    OutboxKind.kf_welcome: _send_kf_welcome,
    OutboxKind.app_message: _send_app_message,
    OutboxKind.service_state: _send_service_state,
    OutboxKind.msg_template: _send_msg_template,
}


# The pool ------------------------------------------------------------------------------------------------------


def run_once(services) -> bool:  # type: ignore[no-untyped-def]
    """One pass over the three queues. Returns True when anything was done."""
    did = False
    claimed = claim_event(services)
    if claimed:
        process_event(services, *claimed)
        did = True
    claimed = claim_message(services)
    if claimed:
        run_message(services, *claimed)
        did = True
    if deliver_outbox(services):
        did = True
    return did


def drain(services, max_passes: int = 1000) -> int:  # type: ignore[no-untyped-def]
    """Run passes until the queues have nothing due (used by tests and `scrm` one-shot commands)."""
    passes = 0
    while passes < max_passes and run_once(services):
        passes += 1
    return passes


class WorkerPool:
    """N worker threads draining the queues; `wake()` cuts the idle wait short when new work was committed."""

    def __init__(self, services, threads: int, poll_s: float = 0.5) -> None:  # type: ignore[no-untyped-def]
        self.services = services
        self.threads = threads
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.services.wake = self.wake
        for index in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"scrm-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = run_once(self.services)
            except Exception:
                log.exception("worker.pass_failed")
                busy = False
            if not busy:
                self._wake.wait(self.poll_s)
                self._wake.clear()
