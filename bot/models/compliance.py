"""Compliance records: every screened text that was flagged, with its evidence and its review."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.models.base import dt_field, json_field


class ReviewStatus(StrEnum):
    open = "open"
    confirmed = "confirmed"  # a real violation (or a real complaint / distress signal)
    dismissed = "dismissed"  # a false positive


class ComplianceFlag(SQLModel, table=True):
    """One flagged text (in or out) with the hits and their spans in `text`, the verdict and the lexicon version."""

    __tablename__ = "compliance_flag"
    __table_args__ = (sa.Index("ix_compliance_flag_status_created", "status", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    direction: str = Field(max_length=4)  # in | out
    sender: str = Field(default="", max_length=16)  # client | bot | advisor | system
    text: str = Field(default="", sa_type=sa.Text)  # exactly what was screened (spans refer to it)
    sent_text: str | None = Field(default=None, sa_type=sa.Text)  # what was sent instead (safe alternative)
    verdict: str = Field(max_length=8)  # allow | warn | review | block (inbound: the signal severity)
    severity: str | None = Field(default=None, max_length=8)
    categories: list = json_field(list)
    signals: list = json_field(list)
    hits: list = json_field(list)  # [{term, category, severity, start, end, matched, layer}]
    suitability_ok: bool = True
    reason: str = Field(default="", sa_type=sa.Text)
    rewrite_hint: str | None = Field(default=None, sa_type=sa.Text)
    context: list = json_field(list)  # the sender's recent messages screened with it (split-message window)
    lexicon_version: str = Field(default="", max_length=64)
    status: ReviewStatus = Field(default=ReviewStatus.open, max_length=16)
    reviewer: str | None = Field(default=None, max_length=64)
    review_note: str | None = Field(default=None, sa_type=sa.Text)
    reviewed_at: datetime | None = dt_field()
    created_at: datetime = dt_field(nullable=False, default_now=True, index=True)
