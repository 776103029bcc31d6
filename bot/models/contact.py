"""Clients (external contacts) and advisors (staff)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from bot.models.base import dt_field, json_field


class Client(SQLModel, table=True):
    """A WeChat client as the brokerage knows them (imported from CRM, keyed by WeCom's external_userid)."""

    __tablename__ = "client"

    id: int | None = Field(default=None, primary_key=True)
    wecom_external_userid: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(default="", max_length=64)
    risk_level: str | None = Field(default=None, max_length=2)  # C1..C5
    risk_assessment_expires: date | None = None
    asset_tier: str | None = Field(default=None, max_length=32)
    advisor_userid: str | None = Field(default=None, max_length=64, index=True)
    tags: list[str] = json_field(list)
    holdings: list[str] = json_field(list)
    id_expires: date | None = None
    opted_out: bool = False
    created_at: datetime = dt_field(nullable=False, default_now=True)
    updated_at: datetime = dt_field(nullable=False, default_now=True)


class Advisor(SQLModel, table=True):
    """A staff member who takes escalations (投顾 / 服务经理), addressed by WeCom userid."""

    __tablename__ = "advisor"

    id: int | None = Field(default=None, primary_key=True)
    wecom_userid: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(default="", max_length=64)
    # {"mon": ["09:00-17:30"], ...}; empty = the default working hours of the firm.
    working_hours: dict = json_field(dict)
    capacity: int = 20
    is_supervisor: bool = False
    # Console roles: advisor (own escalations), compliance (review queue), ops (knowledge base, clients, reminders).
    roles: list[str] = json_field(lambda: ["advisor"])
    active: bool = True
    created_at: datetime = dt_field(nullable=False, default_now=True)
