"""Escalations: what the bot hands to a person, with the reason and a drafted reply."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

import sqlalchemy as sa

from bot.models.base import dt_field, json_field


class EscalationReason(StrEnum):
    requested_human = "requested_human"
    complaint = "complaint"
    distress = "distress"
    blocked_draft = "blocked_draft"
    review_draft = "review_draft"
    low_confidence = "low_confidence"
    out_of_scope = "out_of_scope"
    account_specific = "account_specific"
    suitability = "suitability"
    handoff_topic = "handoff_topic"
    error = "error"


class EscalationStatus(StrEnum):
    open = "open"  # created, advisor notified, nobody claimed yet
    claimed = "claimed"  # an advisor took it
    replied = "replied"  # the advisor answered the client at least once
    resolved = "resolved"
    returned = "returned"  # handed back to the bot


class Escalation(SQLModel, table=True):
    __tablename__ = "escalation"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    reason: EscalationReason = Field(max_length=32)
    detail: str = Field(default="", max_length=500)
    status: EscalationStatus = Field(default=EscalationStatus.open, max_length=16, index=True)
    advisor_userid: str | None = Field(default=None, max_length=64, index=True)
    draft_text: str = Field(default="", sa_type=sa.Text)
    draft_flags: list = json_field(list)
    sources: list = json_field(list)
    client_snapshot: dict = json_field(dict)
    outcome: str | None = Field(default=None, max_length=200)
    notify_count: int = 0
    reassign_count: int = 0
    created_at: datetime = dt_field(nullable=False, default_now=True)
    first_response_due_at: datetime | None = dt_field(index=True)
    last_notified_at: datetime | None = dt_field()
    claimed_at: datetime | None = dt_field()
    first_response_at: datetime | None = dt_field()
    resolved_at: datetime | None = dt_field()
