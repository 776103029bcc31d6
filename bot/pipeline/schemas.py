"""The pipeline's value types and the seams the knowledge base and the compliance engine plug into.

    InboundMessage + Context --decide--> Outcome(answer | escalate | refuse)

`Answerer` proposes an Outcome from the knowledge base; `Gate` screens what goes in and out. Both are Protocols so the
pipeline depends on neither implementation.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bot.models.escalation import EscalationReason


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class InboundMessage(_Frozen):
    message_id: int | None = None
    conversation_id: int | None = None
    channel: str = "wecom_kf"
    wecom_msgid: str | None = None
    wecom_external_userid: str = ""
    open_kfid: str = ""
    kind: str = "text"
    text: str = ""
    sent_at: datetime | None = None


class ClientProfile(_Frozen):
    external_userid: str = ""
    name: str = ""
    risk_level: str | None = None  # C1..C5
    risk_assessment_expires: date | None = None
    asset_tier: str | None = None
    advisor_userid: str | None = None
    tags: tuple[str, ...] = ()
    holdings: tuple[str, ...] = ()
    opted_out: bool = False


class Turn(_Frozen):
    role: Literal["client", "bot", "advisor"]
    text: str
    at: datetime | None = None


class Context(_Frozen):
    """What the pipeline knows when it decides: the client, recent turns (oldest first), the time."""

    client: ClientProfile | None = None
    history: tuple[Turn, ...] = ()
    now: datetime
    conversation_id: int | None = None


class Action(StrEnum):
    answer = "answer"
    escalate = "escalate"
    refuse = "refuse"


class Source(_Frozen):
    id: str
    title: str = ""
    kind: Literal["faq", "document", "canned"] = "faq"
    score: float | None = None


class Draft(_Frozen):
    """A reply the bot could send, with where it came from."""

    text: str
    sources: tuple[Source, ...] = ()
    confidence: float = 0.0
    prompt_version: str | None = None
    # Risk levels (R1..R5) of products the text recommends or describes: checked against the client's level.
    product_risk_levels: tuple[str, ...] = ()


class Outcome(_Frozen):
    """What to do with one inbound message. `reply` is what the client gets (answer, refusal or holding reply);
    on escalation `draft` is what the advisor gets to send or edit."""

    action: Action
    reply: str
    draft: Draft | None = None
    reason: EscalationReason | None = None
    detail: str = ""
    sources: tuple[Source, ...] = ()
    confidence: float = 0.0
    flags: tuple[str, ...] = ()
    prompt_version: str | None = None


class Answerer(Protocol):
    """Proposes an outcome for a client's text from the knowledge base (FAQ, documents, LLM or extractive)."""

    def answer(self, text: str, ctx: Context) -> Outcome: ...


class Verdict(StrEnum):
    allow = "allow"
    warn = "warn"
    review = "review"
    block = "block"


class Hit(_Frozen):
    term: str
    category: str
    severity: str
    start: int
    end: int


class GateResult(_Frozen):
    """The compliance verdict on one outgoing text. `text` is what may be sent: the original, the original with a
    required disclosure added, or (on review) the safe alternative."""

    verdict: Verdict
    text: str
    hits: tuple[Hit, ...] = ()
    reason: str = ""
    rewrite_hint: str | None = None
    suitability_ok: bool = True
    lexicon_version: str | None = None


class InboundSignals(_Frozen):
    """What screening an inbound client message found: complaint, distress, a request for guarantees, ..."""

    signals: frozenset[str] = Field(default_factory=frozenset)
    hits: tuple[Hit, ...] = ()


class Gate(Protocol):
    """The compliance engine as the pipeline sees it."""

    def check_inbound(self, text: str, ctx: Context) -> InboundSignals: ...

    def check_outbound(self, text: str, ctx: Context, *, draft: Draft | None = None) -> GateResult: ...
