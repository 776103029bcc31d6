"""Tables of advisors-and-time (issue 5): key-date reminders, campaigns, opt-outs and the escalation history.

    ReminderEvent   market events ops load (IPO / convertible-bond subscription days, ex-dividend dates)
    Campaign        an ops-defined message: segment + template + send window, screened before it is scheduled
    ReminderDelivery the exactly-once ledger: one row per (client, reminder key); the reminder key carries the date
    OptOut          clients who replied 退订 (or were opted out by ops): they get no reminder at all
    EscalationLog   every transition of an escalation (who, when, from -> to), for the console and the SLA sweep
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.models.base import dt_field, json_field


class EventKind(StrEnum):
    ipo = "ipo"  # 新股申购日
    convertible = "convertible"  # 新债（可转债）申购日
    ex_dividend = "ex_dividend"  # 除权除息日


class ReminderEvent(SQLModel, table=True):
    __tablename__ = "reminder_event"
    __table_args__ = (sa.UniqueConstraint("kind", "security_code", "event_date", name="uq_reminder_event"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: EventKind = Field(max_length=16, index=True)
    event_date: date = Field(index=True)
    security_code: str = Field(max_length=16)
    security_name: str = Field(default="", max_length=64)
    detail: str = Field(default="", max_length=200)  # e.g. 每10股派2元
    segment: dict = json_field(dict)  # who gets it; {} = the kind's default segment
    created_at: datetime = dt_field(nullable=False, default_now=True)


class CampaignStatus(StrEnum):
    scheduled = "scheduled"  # screened (allow / warn): sent inside its window
    review = "review"  # the gate asked for a compliance review: not sent until approved
    rejected = "rejected"  # the gate blocked the template
    cancelled = "cancelled"


class Campaign(SQLModel, table=True):
    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=100)
    segment: dict = json_field(dict)  # {"tags_any": [...], "tags_all": [...], "risk_levels": [...], ...}
    template: str = Field(sa_type=sa.Text)  # may use {name}
    screened_text: str = Field(default="", sa_type=sa.Text)  # the template as the gate let it through
    start_at: datetime = dt_field(nullable=False)
    end_at: datetime = dt_field(nullable=False)
    status: CampaignStatus = Field(default=CampaignStatus.review, max_length=16, index=True)
    verdict: str | None = Field(default=None, max_length=16)
    reason: str = Field(default="", max_length=500)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = dt_field(nullable=False, default_now=True)


class DeliveryChannel(StrEnum):
    kf_text = "kf_text"  # inside the client's 48 h kf window
    msg_template = "msg_template"  # a mass-message task the owning advisor confirms
    digest = "digest"  # a task in the advisor's daily digest (call / message the client)


class ReminderDelivery(SQLModel, table=True):
    """Exactly-once ledger. `reminder_key` = kind:ref:offset:date, so one row per client, reminder and date."""

    __tablename__ = "reminder_delivery"
    __table_args__ = (
        sa.UniqueConstraint("external_userid", "reminder_key", name="uq_reminder_delivery"),
        sa.Index("ix_reminder_delivery_client_date", "external_userid", "send_date"),
        sa.Index("ix_reminder_delivery_advisor_date", "advisor_userid", "send_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_userid: str = Field(max_length=64)
    reminder_key: str = Field(max_length=160)
    kind: str = Field(max_length=32)
    send_date: date
    channel: DeliveryChannel = Field(max_length=16)
    advisor_userid: str | None = Field(default=None, max_length=64)
    text: str = Field(default="", sa_type=sa.Text)
    outbox_key: str | None = Field(default=None, max_length=128)
    created_at: datetime = dt_field(nullable=False, default_now=True)


class OptOut(SQLModel, table=True):
    __tablename__ = "reminder_opt_out"

    external_userid: str = Field(primary_key=True, max_length=64)
    source: str = Field(default="keyword", max_length=32)  # keyword | import | api
    created_at: datetime = dt_field(nullable=False, default_now=True)


class EscalationLog(SQLModel, table=True):
    __tablename__ = "escalation_log"

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    at: datetime = dt_field(nullable=False)
    actor: str = Field(max_length=64)  # a staff userid, "bot" or "sla"
    action: str = Field(max_length=32)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    advisor_userid: str | None = Field(default=None, max_length=64)
    detail: dict = json_field(dict)
