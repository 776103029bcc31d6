"""The one wiring point: build_services(settings) builds every client once; everything else receives a Services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.config import Settings
from bot.db import Database
from bot.pipeline.schemas import Answerer, Gate


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    db: Database
    wecom: Any  # bot.wecom.client.WeComClient
    answerer: Answerer
    gate: Gate
    kb: Any = None  # knowledge_base.service.KnowledgeBase
    llm: Any = None  # a LangChain chat model, or None (extractive answers)
    clock: Callable[[], datetime] = field(default=system_clock)
    # Wakes the in-process workers after new work was committed (set by the worker pool; no-op without one).
    wake: Callable[[], None] = field(default=lambda: None)

    def now(self) -> datetime:
        return self.clock()


def build_services(settings: Settings, *, wecom: Any = None, migrate: bool = True) -> Services:
    """Build every client once from settings: database, WeCom, knowledge base, LLM, answerer, compliance gate."""
    from bot.llm import build_chat_model
    from bot.pipeline.answer import KBAnswerer
    from bot.wecom.client import WechatpyWeComClient
    from compliance.gate import ComplianceGate
    from knowledge_base.service import KnowledgeBase

    db = Database(settings.db_url)
    if migrate:
        db.migrate()
    llm = build_chat_model(settings.llm) if settings.llm else None
    kb = KnowledgeBase.from_settings(settings, db)
    return Services(
        settings=settings,
        db=db,
        wecom=wecom or WechatpyWeComClient(settings.wecom, db),
        answerer=KBAnswerer(kb, llm=llm, llm_timeout_s=settings.llm_timeout_s),
        gate=ComplianceGate.from_settings(settings, llm=llm),
        kb=kb,
        llm=llm,
    )
