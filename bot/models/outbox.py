"""The outbox: every message the product sends to WeCom, sent idempotently and retried with backoff."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from bot.models.base import dt_field, json_field


class OutboxKind(StrEnum):
    kf_text = "kf_text"  # kf/send_msg to a client
    kf_welcome = "kf_welcome"  # kf/send_msg_on_event with an enter_session welcome_code
    app_message = "app_message"  # message/send to staff
    service_state = "service_state"  # kf/service_state/trans
    msg_template = "msg_template"  # externalcontact/add_msg_template (advisor confirms)


class OutboxStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"  # gave up after retries; visible to ops
    window_closed = "window_closed"  # kf window shut; handed to another channel


class OutboxItem(SQLModel, table=True):
    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=128, unique=True)
    kind: OutboxKind = Field(max_length=32)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    target: str = Field(max_length=128)  # external_userid or staff userid
    payload: dict = json_field(dict)
    status: OutboxStatus = Field(default=OutboxStatus.pending, max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = dt_field(index=True)
    lease_until: datetime | None = dt_field()
    wecom_msgid: str | None = Field(default=None, max_length=128)
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = dt_field(nullable=False, default_now=True)
    sent_at: datetime | None = dt_field()
