"""decide(): the decision around the answerer and the gate (both scripted here; the real ones are tested e2e)."""

from datetime import UTC, datetime

import pytest

from bot.models import EscalationReason
from bot.pipeline.decide import decide
from bot.pipeline.schemas import (
    Action,
    Context,
    Draft,
    GateResult,
    Hit,
    InboundMessage,
    InboundSignals,
    Outcome,
    Source,
    Verdict,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CTX = Context(now=NOW)


class ScriptedAnswerer:
    def __init__(self, outcome=None, error=None):
        self.outcome, self.error, self.calls = outcome, error, []

    def answer(self, text, ctx):
        self.calls.append(text)
        if self.error:
            raise self.error
        return self.outcome


class ScriptedGate:
    def __init__(self, verdict=Verdict.allow, signals=(), suitability_ok=True, safe_text="安全替代回复"):
        self.verdict, self.signals, self.suitability_ok, self.safe_text = verdict, signals, suitability_ok, safe_text
        self.checked = []

    def check_inbound(self, text, ctx):
        return InboundSignals(signals=frozenset(self.signals))

    def check_outbound(self, text, ctx, *, draft=None):
        self.checked.append(text)
        hits = () if self.verdict == Verdict.allow else (Hit(term="保本", category="guarantee", severity=self.verdict,
                                                            start=0, end=2),)
        text_out = self.safe_text if self.verdict == Verdict.review else text
        return GateResult(verdict=self.verdict, text=text_out, hits=hits, reason="原因",
                          suitability_ok=self.suitability_ok)


ANSWER = Outcome(action=Action.answer, reply="开户需要身份证。", sources=(Source(id="faq_1"),), confidence=0.9)


def inbound(text):
    return InboundMessage(text=text)


class TestDecide:
    def test_human_request_escalates_without_asking_the_kb(self):
        answerer = ScriptedAnswerer(ANSWER)
        decision = decide(inbound("转人工"), CTX, answerer=answerer, gate=ScriptedGate())
        assert decision.outcome.action == Action.escalate
        assert decision.outcome.reason == EscalationReason.requested_human
        assert answerer.calls == []

    @pytest.mark.parametrize("signal,reason", [("complaint", EscalationReason.complaint),
                                               ("distress", EscalationReason.distress)])
    def test_inbound_signals_escalate_at_once(self, signal, reason):
        decision = decide(inbound("..."), CTX, answerer=ScriptedAnswerer(ANSWER), gate=ScriptedGate(signals=[signal]))
        assert decision.outcome.reason == reason
        assert f"inbound:{signal}" in decision.outcome.flags

    def test_allowed_answer_is_sent_as_gated(self):
        decision = decide(inbound("开户要什么"), CTX, answerer=ScriptedAnswerer(ANSWER), gate=ScriptedGate())
        assert decision.outcome.action == Action.answer
        assert decision.outcome.reply == ANSWER.reply
        assert decision.outcome.sources == ANSWER.sources

    def test_blocked_answer_is_never_the_reply_and_goes_to_advisor_as_draft(self):
        decision = decide(inbound("q"), CTX, answerer=ScriptedAnswerer(ANSWER), gate=ScriptedGate(Verdict.block))
        assert decision.outcome.action == Action.escalate
        assert decision.outcome.reason == EscalationReason.blocked_draft
        assert decision.outcome.reply != ANSWER.reply
        assert decision.outcome.draft.text == ANSWER.reply
        assert decision.outcome.detail == "原因"

    def test_review_sends_the_safe_alternative(self):
        decision = decide(inbound("q"), CTX, answerer=ScriptedAnswerer(ANSWER), gate=ScriptedGate(Verdict.review))
        assert decision.outcome.action == Action.answer
        assert decision.outcome.reply == "安全替代回复"
        assert "reply:review" in decision.outcome.flags

    def test_suitability_mismatch_escalates(self):
        outcome = ANSWER.model_copy(update={"draft": Draft(text=ANSWER.reply, product_risk_levels=("R5",))})
        decision = decide(inbound("q"), CTX, answerer=ScriptedAnswerer(outcome), gate=ScriptedGate(suitability_ok=False))
        assert decision.outcome.action == Action.escalate
        assert decision.outcome.reason == EscalationReason.suitability

    def test_answerer_failure_escalates_with_apology(self):
        decision = decide(inbound("q"), CTX, answerer=ScriptedAnswerer(error=RuntimeError("boom")), gate=ScriptedGate())
        assert decision.outcome.action == Action.escalate
        assert decision.outcome.reason == EscalationReason.error
        assert decision.outcome.reply

    def test_escalation_draft_and_holding_reply_are_both_screened(self):
        outcome = Outcome(action=Action.escalate, reply="请稍候", reason=EscalationReason.low_confidence,
                          draft=Draft(text="草稿"))
        gate = ScriptedGate()
        decision = decide(inbound("q"), CTX, answerer=ScriptedAnswerer(outcome), gate=gate)
        assert set(gate.checked) == {"请稍候", "草稿"}
        assert decision.draft_gate is not None
