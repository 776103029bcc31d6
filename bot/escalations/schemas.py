"""What the escalation service returns to the API and the console (non-table models)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class EscalationAction(StrEnum):
    claim = "claim"
    release = "release"
    reply = "reply"  # send the draft or an edited reply through kf
    resolve = "resolve"
    hand_back = "hand_back"  # back to the bot
    takeover = "takeover"  # take the chat into WeCom (kf/service_state/trans -> 3)
    renotify = "renotify"  # SLA: remind the same advisor
    reassign = "reassign"  # SLA: another advisor on duty
    supervise = "supervise"  # SLA: a supervisor
    remind_overdue = "remind_overdue"  # SLA: claimed but no first reply yet


class KfWindow(BaseModel):
    """The kf send window: 48 h after the client's last message, at most 5 messages in it."""

    open: bool
    messages_left: int
    closes_at: datetime | None = None
    pending: int = 0  # messages queued in the outbox, not yet sent (already counted out of messages_left)


class Turn(BaseModel):
    role: str
    text: str
    at: datetime | None = None
    status: str | None = None


class LogEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    from_status: str
    to_status: str
    advisor_userid: str | None = None
    detail: dict = Field(default_factory=dict)


class EscalationSummary(BaseModel):
    id: int
    status: str
    reason: str
    reason_label: str
    advisor_userid: str | None
    client_name: str
    external_userid: str
    created_at: datetime
    first_response_due_at: datetime | None
    overdue: bool
    claimed_at: datetime | None = None
    first_response_at: datetime | None = None


class EscalationDetail(EscalationSummary):
    detail: str = ""
    draft_text: str = ""
    draft_flags: list = Field(default_factory=list)
    sources: list = Field(default_factory=list)
    client: dict = Field(default_factory=dict)
    transcript: list[Turn] = Field(default_factory=list)
    window: KfWindow
    kf_with_advisor: bool = False  # the chat was taken into WeCom: reply there, not through the API
    outcome: str | None = None
    notify_count: int = 0
    reassign_count: int = 0
    history: list[LogEntry] = Field(default_factory=list)
    allowed_actions: list[str] = Field(default_factory=list)
    console_url: str = ""


class ReplyResult(BaseModel):
    """The answer to "send this reply": queued for kf, or refused by the compliance gate (nothing sent)."""

    status: str  # queued | refused
    escalation_id: int
    text: str = ""
    verdict: str | None = None
    reason: str = ""
    rewrite_hint: str | None = None
    hits: list[dict] = Field(default_factory=list)
    message_id: int | None = None
    window: KfWindow | None = None


class SweepReport(BaseModel):
    renotified: list[int] = Field(default_factory=list)
    reassigned: list[int] = Field(default_factory=list)
    supervised: list[int] = Field(default_factory=list)
    reminded: list[int] = Field(default_factory=list)
