"""The decision: one inbound client text -> what the client gets and what an advisor gets.

Used by live chat (bot.pipeline.handler) and by `scrm ask` / `scrm eval`, so both take exactly the same path:

1. inbound screening (complaint / distress escalate at once) and the human-request rule;
2. the answerer (knowledge base: FAQ, grounded answer, refusal, or escalation with a draft);
3. the compliance gate on every client-facing text: block -> escalate with the draft and the reason,
   failed suitability -> escalate, review -> the safe alternative is sent, warn -> sent and tagged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.models.escalation import EscalationReason
from bot.pipeline import triage
from bot.pipeline.schemas import (
    Action,
    Answerer,
    Context,
    Draft,
    Gate,
    GateResult,
    InboundMessage,
    InboundSignals,
    Outcome,
    Verdict,
)
from prompts import canned

log = logging.getLogger(__name__)

_SIGNAL_REASONS = {"complaint": EscalationReason.complaint, "distress": EscalationReason.distress}


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    inbound: InboundSignals
    reply_gate: GateResult | None = None  # verdict on outcome.reply (what the client gets)
    draft_gate: GateResult | None = None  # verdict on the advisor's draft, if any


def decide(inbound: InboundMessage, ctx: Context, *, answerer: Answerer, gate: Gate) -> Decision:
    """Decide what to do with one client message (pure apart from the answerer's and gate's own reads)."""
    signals = gate.check_inbound(inbound.text, ctx)
    outcome = _propose(inbound, ctx, answerer=answerer, signals=signals)
    return _apply_gate(outcome, ctx, gate=gate, signals=signals)


def _propose(inbound: InboundMessage, ctx: Context, *, answerer: Answerer, signals: InboundSignals) -> Outcome:
    if triage.asks_for_human(inbound.text):
        return _escalation(EscalationReason.requested_human, draft=None)
    for signal, reason in _SIGNAL_REASONS.items():
        if signal in signals.signals:
            return _escalation(reason, draft=None, flags=(f"inbound:{signal}",))
    try:
        return answerer.answer(inbound.text, ctx)
    except Exception:
        log.exception("answerer failed")
        return _escalation(EscalationReason.error, draft=None, reply=canned("apology_error"))


def _escalation(
    reason: EscalationReason,
    *,
    draft: Draft | None,
    reply: str | None = None,
    detail: str = "",
    flags: tuple[str, ...] = (),
    base: Outcome | None = None,
) -> Outcome:
    return Outcome(
        action=Action.escalate,
        reply=reply or canned("holding_reply_working_hours"),
        draft=draft,
        reason=reason,
        detail=detail,
        sources=base.sources if base else (draft.sources if draft else ()),
        confidence=base.confidence if base else 0.0,
        flags=tuple(dict.fromkeys((*(base.flags if base else ()), *flags))),
        prompt_version=base.prompt_version if base else None,
    )


def _apply_gate(outcome: Outcome, ctx: Context, *, gate: Gate, signals: InboundSignals) -> Decision:
    inbound_flags = tuple(f"inbound:{s}" for s in sorted(signals.signals))
    if outcome.action == Action.escalate:
        draft_gate = gate.check_outbound(outcome.draft.text, ctx, draft=outcome.draft) if outcome.draft else None
        reply_gate = gate.check_outbound(outcome.reply, ctx)
        reply = reply_gate.text if reply_gate.verdict != Verdict.block else canned("holding_reply_working_hours")
        flags = (*outcome.flags, *inbound_flags, *_verdict_flags("draft", draft_gate))
        final = outcome.model_copy(update={"reply": reply, "flags": tuple(dict.fromkeys(flags))})
        return Decision(final, signals, reply_gate=reply_gate, draft_gate=draft_gate)

    draft = outcome.draft or Draft(
        text=outcome.reply, sources=outcome.sources, confidence=outcome.confidence,
        prompt_version=outcome.prompt_version,
    )
    result = gate.check_outbound(outcome.reply, ctx, draft=draft)
    flags = (*inbound_flags, *_verdict_flags("reply", result))
    if result.verdict == Verdict.block:
        blocked = _escalation(
            EscalationReason.blocked_draft, draft=draft, detail=result.reason, flags=flags, base=outcome
        )
        return Decision(blocked, signals, reply_gate=result, draft_gate=result)
    if not result.suitability_ok:
        unsuitable = _escalation(
            EscalationReason.suitability, draft=draft, detail=result.reason, flags=(*flags, "suitability"),
            base=outcome,
        )
        return Decision(unsuitable, signals, reply_gate=result, draft_gate=result)
    final = outcome.model_copy(
        update={"reply": result.text, "flags": tuple(dict.fromkeys((*outcome.flags, *flags)))}
    )
    return Decision(final, signals, reply_gate=result)


def _verdict_flags(prefix: str, result: GateResult | None) -> tuple[str, ...]:
    if result is None or result.verdict == Verdict.allow:
        return ()
    return (f"{prefix}:{result.verdict}", *(f"{prefix}:{h.category}" for h in result.hits))
