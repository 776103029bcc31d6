"""Conversations and their messages (in and out)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.models.base import dt_field, json_field


class ConversationState(StrEnum):
    bot = "bot"
    waiting_human = "waiting_human"
    human = "human"


class Conversation(SQLModel, table=True):
    """One client's chat with one kf account."""

    __tablename__ = "conversation"
    __table_args__ = (sa.UniqueConstraint("open_kfid", "wecom_external_userid"),)

    id: int | None = Field(default=None, primary_key=True)
    open_kfid: str = Field(max_length=64)
    wecom_external_userid: str = Field(max_length=64, index=True)
    state: ConversationState = Field(default=ConversationState.bot, max_length=16)
    advisor_userid: str | None = Field(default=None, max_length=64)
    # The kf send window: 48 h after the client's last message, at most 5 messages in it.
    last_client_message_at: datetime | None = dt_field()
    window_sent: int = 0
    created_at: datetime = dt_field(nullable=False, default_now=True)
    updated_at: datetime = dt_field(nullable=False, default_now=True)


class Direction(StrEnum):
    inbound = "in"
    outbound = "out"


class MessageStatus(StrEnum):
    # inbound
    received = "received"
    processing = "processing"
    answered = "answered"
    escalated = "escalated"
    refused = "refused"
    skipped = "skipped"  # not for the bot: conversation with a human, unsupported kind
    failed = "failed"
    # outbound
    pending = "pending"
    sent = "sent"
    blocked = "blocked"


class Message(SQLModel, table=True):
    """A message in or out. Inbound rows are the work queue of the pipeline (status-driven)."""

    __tablename__ = "message"
    __table_args__ = (
        sa.UniqueConstraint("wecom_msgid", name="uq_message_wecom_msgid"),
        sa.Index("ix_message_queue", "direction", "status", "conversation_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    direction: Direction = Field(max_length=4)
    sender: str = Field(default="client", max_length=16)  # client | bot | advisor | system
    kind: str = Field(default="text", max_length=32)
    text: str = Field(default="", sa_type=sa.Text)
    wecom_msgid: str | None = Field(default=None, max_length=128)
    status: MessageStatus = Field(max_length=16)
    action: str | None = Field(default=None, max_length=16)  # answer | escalate | refuse
    sources: list = json_field(list)
    confidence: float | None = None
    flags: list = json_field(list)
    prompt_version: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    lease_until: datetime | None = dt_field()
    error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = dt_field()
    created_at: datetime = dt_field(nullable=False, default_now=True, index=True)
    processed_at: datetime | None = dt_field()
