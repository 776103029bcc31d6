"""Enqueue work for WeCom in the caller's transaction. The outbox sender (bot.worker) delivers it.

Payload contract per kind:
- kf_text:       target=external_userid, payload={"open_kfid", "text"}
- kf_welcome:    target=external_userid, payload={"code", "text"} (the enter_session welcome_code, valid 20 s)
- app_message:   target=staff userid,    payload={"msgtype": "text"|"markdown"|"textcard"|"template_card", "content": {...}}
- service_state: target=external_userid, payload={"open_kfid", "service_state": int, "servicer_userid": str|None}
- msg_template:  target=staff userid (the sender who confirms), payload={"external_userids": [...], "text"}

The idempotency key makes enqueueing exactly-once: a second enqueue with the same key returns the existing row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.models import OutboxItem, OutboxKind, utcnow


def get_by_key(*, session: Session, key: str) -> OutboxItem | None:
    return session.exec(select(OutboxItem).where(OutboxItem.idempotency_key == key)).first()


def enqueue(
    *,
    session: Session,
    kind: OutboxKind,
    key: str,
    target: str,
    payload: dict,
    conversation_id: int | None = None,
    message_id: int | None = None,
    not_before: datetime | None = None,
) -> OutboxItem:
    """Add an outbox item unless one with the same idempotency key exists; return the stored item."""
    existing = get_by_key(session=session, key=key)
    if existing is not None:
        return existing
    item = OutboxItem(
        idempotency_key=key,
        kind=kind,
        target=target,
        payload=payload,
        conversation_id=conversation_id,
        message_id=message_id,
        next_attempt_at=not_before or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:
        found = get_by_key(session=session, key=key)
        if found is None:
            raise
        return found
    return item
