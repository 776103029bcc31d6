"""Builders shared by the advisors-and-time tests (escalations, clients, scheduler): plain functions that add+flush."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.db import Database
from bot.models import Advisor, Client, Conversation, Message, Direction, MessageStatus
from bot.pipeline.schemas import Context, Draft, GateResult, Hit, InboundSignals, Verdict

TZ = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time as tz-aware UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


def ready_db(url: str) -> Database:
    """A database migrated to the newest revision."""
    database = Database(url)
    database.migrate()
    return database


def make_advisor(session: Session, userid: str, **overrides: Any) -> Advisor:
    advisor = Advisor(wecom_userid=userid, name=overrides.pop("name", userid), **overrides)
    session.add(advisor)
    session.flush()
    return advisor


def make_client(session: Session, external_userid: str, **overrides: Any) -> Client:
    client = Client(wecom_external_userid=external_userid, name=overrides.pop("name", "张先生"), **overrides)
    session.add(client)
    session.flush()
    return client


def make_conversation(session: Session, external_userid: str, *, last_client_message_at: datetime | None,
                      open_kfid: str = "wkDEMO", **overrides: Any) -> Conversation:
    conversation = Conversation(open_kfid=open_kfid, wecom_external_userid=external_userid,
                                last_client_message_at=last_client_message_at, **overrides)
    session.add(conversation)
    session.flush()
    return conversation


def make_inbound(session: Session, conversation: Conversation, text: str, at: datetime) -> Message:
    message = Message(conversation_id=conversation.id, direction=Direction.inbound, sender="client", text=text,
                      status=MessageStatus.processing, created_at=at, wecom_msgid=f"m{conversation.id}-{at.timestamp()}")
    session.add(message)
    session.flush()
    return message


@dataclass
class FakeGate:
    """A Gate with fixed rules: texts containing a blocked term are blocked, others allowed (with a disclosure)."""

    blocked: tuple[str, ...] = ("保证收益", "稳赚")
    review: tuple[str, ...] = ("推荐买入",)
    disclosure: str = ""
    seen: list[str] = field(default_factory=list)

    def check_inbound(self, text: str, ctx: Context) -> InboundSignals:
        return InboundSignals()

    def check_outbound(self, text: str, ctx: Context, *, draft: Draft | None = None) -> GateResult:
        self.seen.append(text)
        for term in self.blocked:
            if term in text:
                start = text.index(term)
                return GateResult(verdict=Verdict.block, text=text, reason=f"承诺收益：{term}",
                                  rewrite_hint="删除承诺收益的表述",
                                  hits=(Hit(term=term, category="guarantee", severity="block", start=start,
                                            end=start + len(term)),))
        for term in self.review:
            if term in text:
                return GateResult(verdict=Verdict.review, text="（已转合规复核）", reason=f"荐股：{term}")
        return GateResult(verdict=Verdict.allow, text=text + self.disclosure)


@dataclass
class FakeServices:
    """What jobs and routers read from bot.services.Services, with a controlled clock."""

    settings: Any
    db: Database
    gate: Any = field(default_factory=FakeGate)
    wecom: Any = None
    clock_at: datetime = field(default_factory=lambda: local(2026, 12, 1))

    def now(self) -> datetime:
        return self.clock_at


def d(text: str) -> date:
    return date.fromisoformat(text)
