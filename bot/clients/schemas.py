"""Rows of the client and advisor import (DESIGN.md §3 "Client import") and the import report."""

from __future__ import annotations

import json
import re
from datetime import date

from pydantic import BaseModel, Field, field_validator

RISK_LEVELS = ("C1", "C2", "C3", "C4", "C5")
_SECURITY = re.compile(r"^\d{6}(\.(SH|SZ|BJ))?$")
_USERID = re.compile(r"^[A-Za-z0-9_\-@.]{1,64}$")
_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f", ""}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")


STAFF_ROLES = ("advisor", "compliance", "ops")


def _split(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        items = [str(v).strip() for v in value]
    else:
        items = [part.strip() for part in str(value).split(";")]
    return list(dict.fromkeys(item for item in items if item))


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _date(value: object) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a date YYYY-MM-DD, got {value!r}") from None


class ClientRow(BaseModel):
    """One client as the CRM exports it. Fields absent from the file keep their stored value."""

    external_userid: str
    name: str = Field(default="", max_length=64)
    risk_level: str | None = None
    risk_assessment_expires: date | None = None
    asset_tier: str | None = Field(default=None, max_length=32)
    advisor_userid: str | None = None
    tags: list[str] = Field(default_factory=list)
    holdings: list[str] = Field(default_factory=list)
    id_expires: date | None = None
    opted_out: bool = False

    @field_validator("external_userid", mode="before")
    @classmethod
    def _userid(cls, value: object) -> str:
        text = str(value or "").strip()
        if not _USERID.match(text):
            raise ValueError("required: WeCom external_userid (letters, digits, _-@., at most 64)")
        return text

    @field_validator("name", "asset_tier", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return str(value).strip() if value is not None else value

    @field_validator("risk_level", mode="before")
    @classmethod
    def _risk(cls, value: object) -> str | None:
        text = str(value or "").strip().upper()
        if not text:
            return None
        if text not in RISK_LEVELS:
            raise ValueError(f"must be one of C1–C5, got {value!r}")
        return text

    @field_validator("advisor_userid", mode="before")
    @classmethod
    def _advisor(cls, value: object) -> str | None:
        text = str(value or "").strip()
        if not text:
            return None
        if not _USERID.match(text):
            raise ValueError(f"not a WeCom userid: {value!r}")
        return text

    @field_validator("risk_assessment_expires", "id_expires", mode="before")
    @classmethod
    def _dates(cls, value: object) -> date | None:
        return _date(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: object) -> list[str]:
        return _split(value)

    @field_validator("holdings", mode="before")
    @classmethod
    def _holdings(cls, value: object) -> list[str]:
        codes = [code.upper() for code in _split(value)]
        bad = [code for code in codes if not _SECURITY.match(code)]
        if bad:
            raise ValueError(f"not security codes (6 digits, optional .SH/.SZ/.BJ): {', '.join(bad[:3])}")
        return codes

    @field_validator("opted_out", mode="before")
    @classmethod
    def _opted_out(cls, value: object) -> bool:
        return _bool(value)


def parse_working_hours(value: object) -> dict:
    """`{"mon": ["09:00-17:30"], ...}` from a mapping, JSON, or "mon-fri=09:00-12:00,13:00-17:30;sat=10:00-12:00"."""
    if value in (None, ""):
        return {}
    if isinstance(value, str) and value.strip().startswith("{"):
        value = json.loads(value)
    if isinstance(value, dict):
        hours: dict = {}
        for day, spans in value.items():
            if day == "holidays":
                hours[day] = _bool(spans)
                continue
            if day not in _DAYS:
                raise ValueError(f"unknown day {day!r} (mon..sun)")
            spans = [spans] if isinstance(spans, str) else list(spans)
            hours[day] = [_check_span(s) for s in spans]
        return hours
    hours = {}
    for part in str(value).split(";"):
        if not part.strip():
            continue
        days_text, _, spans_text = part.partition("=")
        spans = [_check_span(s) for s in spans_text.split(",") if s.strip()]
        for day in _day_range(days_text.strip().lower()):
            hours[day] = spans
    return hours


def _check_span(text: str) -> str:
    text = str(text).strip()
    if not _HOURS.match(text) or text[:5] >= text[6:]:
        raise ValueError(f"not a time span HH:MM-HH:MM: {text!r}")
    return text


def _day_range(text: str) -> list[str]:
    days = []
    for piece in text.split(","):
        start, _, end = piece.strip().partition("-")
        if start not in _DAYS or (end and end not in _DAYS):
            raise ValueError(f"unknown day range {piece!r} (mon..sun, e.g. mon-fri)")
        i, j = _DAYS.index(start), _DAYS.index(end or start)
        days.extend(_DAYS[i : j + 1])
    return days


class AdvisorRow(BaseModel):
    userid: str
    name: str = Field(default="", max_length=64)
    working_hours: dict = Field(default_factory=dict)
    capacity: int = Field(default=20, ge=0, le=100000)
    is_supervisor: bool = False
    active: bool = True
    # advisor (takes escalations), compliance (review queue), ops (knowledge base, clients, reminders)
    roles: list[str] = Field(default_factory=lambda: ["advisor"])

    @field_validator("roles", mode="before")
    @classmethod
    def _roles(cls, value: object) -> list[str]:
        roles = _split(value)
        unknown = [r for r in roles if r not in STAFF_ROLES]
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)} (use {', '.join(STAFF_ROLES)})")
        return roles

    @field_validator("userid", mode="before")
    @classmethod
    def _userid(cls, value: object) -> str:
        text = str(value or "").strip()
        if not _USERID.match(text):
            raise ValueError("required: the advisor's WeCom userid")
        return text

    @field_validator("working_hours", mode="before")
    @classmethod
    def _hours(cls, value: object) -> dict:
        return parse_working_hours(value)

    @field_validator("capacity", mode="before")
    @classmethod
    def _capacity(cls, value: object) -> object:
        return 20 if value in (None, "") else value

    @field_validator("is_supervisor", "active", mode="before")
    @classmethod
    def _flags(cls, value: object) -> object:
        return value if value in (None,) else _bool(value)


class RowError(BaseModel):
    row: int  # CSV: the line number in the file (header = 1); JSONL: the line number; JSON API: 1-based index
    field: str | None = None
    message: str


class ImportReport(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = Field(default_factory=list)
    warnings: list[RowError] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors
