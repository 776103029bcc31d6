"""Durable inbound events (decrypted callbacks), the kf cursor and shared access tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from bot.models.base import dt_field, json_field


class EventStatus(StrEnum):
    pending = "pending"
    processing = "processing"
    done = "done"
    failed = "failed"


class InboundEvent(SQLModel, table=True):
    """A callback as WeCom delivered it, stored before `success` is returned. Dedupe key = what WeCom repeats."""

    __tablename__ = "inbound_event"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=64)
    # Events of one partition (one kf account) are processed one at a time, in order.
    partition_key: str = Field(default="", max_length=128, index=True)
    payload: dict = json_field(dict)
    status: EventStatus = Field(default=EventStatus.pending, max_length=16, index=True)
    attempts: int = 0
    lease_until: datetime | None = dt_field()
    next_attempt_at: datetime | None = dt_field()
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = dt_field(nullable=False, default_now=True)
    processed_at: datetime | None = dt_field()


class KfCursor(SQLModel, table=True):
    """Where `kf/sync_msg` left off for one kf account; advanced in the same transaction as the messages."""

    __tablename__ = "kf_cursor"

    open_kfid: str = Field(primary_key=True, max_length=64)
    cursor: str = Field(default="", max_length=128)
    updated_at: datetime = dt_field(nullable=False, default_now=True)


class AccessToken(SQLModel, table=True):
    """A WeCom access_token shared by every process; `lock_until` lets one process refresh at a time."""

    __tablename__ = "access_token"

    key: str = Field(primary_key=True, max_length=128)
    token: str = Field(default="", max_length=1024)
    expires_at: datetime | None = dt_field()
    lock_owner: str | None = Field(default=None, max_length=64)
    lock_until: datetime | None = dt_field()
