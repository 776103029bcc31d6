"""The gate plugged into the pipeline's decision (bot.pipeline.decide) with a stub answerer: the contract."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.models.escalation import EscalationReason
from bot.pipeline.decide import decide
from bot.pipeline.schemas import Action, ClientProfile, Context, Draft, InboundMessage, Outcome
from compliance.gate import ComplianceGate
from prompts import canned

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class StubAnswerer:
    def __init__(self, reply: str, levels: tuple[str, ...] = ()) -> None:
        self.reply, self.levels = reply, levels

    def answer(self, text: str, ctx: Context) -> Outcome:
        draft = Draft(text=self.reply, confidence=0.9, product_risk_levels=self.levels)
        return Outcome(action=Action.answer, reply=self.reply, draft=draft, confidence=0.9)


@pytest.fixture(scope="module")
def gate() -> ComplianceGate:
    return ComplianceGate(semantic=None)


def run(gate: ComplianceGate, text: str, reply: str, levels: tuple[str, ...] = (), level: str = "C3"):  # type: ignore[no-untyped-def]
    ctx = Context(client=ClientProfile(risk_level=level, risk_assessment_expires=date(2027, 1, 1)), now=NOW)
    return decide(InboundMessage(text=text), ctx, answerer=StubAnswerer(reply, levels), gate=gate)


def test_block_level_draft_is_never_sent(gate: ComplianceGate) -> None:
    d = run(gate, "这个基金怎么样", "这只基金稳赚不赔，放心买。")
    assert d.outcome.action == Action.escalate and d.outcome.reason == EscalationReason.blocked_draft
    assert "稳赚不赔" not in d.outcome.reply
    assert d.outcome.draft and "稳赚不赔" in d.outcome.draft.text
    assert "稳赚不赔" in d.outcome.detail  # the advisor sees why


def test_complaint_escalates(gate: ComplianceGate) -> None:
    d = run(gate, "再不处理我就去证监会投诉你们", "好的")
    assert d.outcome.action == Action.escalate and d.outcome.reason == EscalationReason.complaint


def test_suitability_mismatch_is_not_sent(gate: ComplianceGate) -> None:
    d = run(gate, "有什么推荐", "这只基金业绩稳健，可以考虑。", levels=("R5",), level="C2")
    assert d.outcome.action == Action.escalate and d.outcome.reason == EscalationReason.suitability


def test_clean_answer_gets_disclosure(gate: ComplianceGate) -> None:
    d = run(gate, "ETF怎么买", "场内ETF可以在APP的交易页面输入代码买入，100份起。")
    assert d.outcome.action == Action.answer and d.outcome.reply.endswith(canned("compliance_disclosure"))


def test_guarantee_question_is_answered_not_flagged(gate: ComplianceGate) -> None:
    d = run(gate, "这个产品保本吗", canned("compliance_safe_guarantee"))
    assert d.outcome.action == Action.answer
    assert "inbound:guarantee_request" in d.outcome.flags
