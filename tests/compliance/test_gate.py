"""The gate as the pipeline sees it: verdicts, safe alternatives, disclosures, suitability, inbound signals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.pipeline.schemas import ClientProfile, Context, Draft, Gate, GateResult, Turn, Verdict
from compliance.gate import ComplianceGate, OutboundResult
from compliance.semantic import LLMJudge
from prompts import canned

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def gate() -> ComplianceGate:
    return ComplianceGate(semantic=None)


def ctx(level: str | None = "C3", expires: date | None = date(2027, 6, 30), history: tuple[Turn, ...] = ()) -> Context:
    client = ClientProfile(external_userid="wm1", risk_level=level, risk_assessment_expires=expires)
    return Context(client=client, now=NOW, history=history, conversation_id=1)


class TestOutbound:
    def test_implements_gate_protocol(self, gate: ComplianceGate) -> None:
        def use(g: Gate) -> GateResult:
            return g.check_outbound("您好", ctx())

        assert isinstance(use(gate), GateResult)

    def test_block_is_never_the_original(self, gate: ComplianceGate) -> None:
        result = gate.check_outbound("这款产品保本，到期本金一分不会少。", ctx())
        assert result.verdict == Verdict.block
        assert "保本，" not in result.text and result.text == canned("compliance_safe_guarantee")
        assert "保本保收益" in result.reason and "「保本」" in result.reason
        assert result.rewrite_hint and "非保本" in result.rewrite_hint
        assert result.original_text.startswith("这款产品保本")
        assert result.lexicon_version and result.hits[0].start == 4

    def test_review_sends_the_safe_alternative(self, gate: ComplianceGate) -> None:
        result = gate.check_outbound("这个资管计划预期收益率6%。", ctx())
        assert result.verdict == Verdict.review
        assert result.text == canned("compliance_safe_performance")

    def test_warn_sends_original(self) -> None:
        from compliance.lexicon import load_lexicon

        lex = load_lexicon()
        # no warn-level outbound term in the packaged lexicon: use an inbound signal-only category as out-of-scope
        gate = ComplianceGate(lexicon=lex, semantic=None, disclosure=False)
        result = gate.check_outbound("您好，请问有什么可以帮您？", ctx())
        assert result.verdict == Verdict.allow and result.text == "您好，请问有什么可以帮您？"

    def test_disclosure_added_when_talking_about_products(self, gate: ComplianceGate) -> None:
        result = gate.check_outbound("这只基金近一年最大回撤12%。", ctx())
        assert result.verdict == Verdict.allow
        assert result.text.endswith(canned("compliance_disclosure"))

    def test_no_double_disclosure(self, gate: ComplianceGate) -> None:
        text = "这只基金属于R3中风险。市场有风险，投资需谨慎。"
        assert gate.check_outbound(text, ctx()).text == text

    def test_no_disclosure_for_service_answers(self, gate: ComplianceGate) -> None:
        text = "修改手机号请在APP「我的-设置」中办理。"
        assert gate.check_outbound(text, ctx()).text == text

    def test_split_phrase_with_previous_outbound_turn(self, gate: ComplianceGate) -> None:
        history = (Turn(role="advisor", text="这款产品能保", at=NOW - timedelta(seconds=30)),)
        assert gate.check_outbound("本的，放心", ctx(history=history)).verdict == Verdict.block

    def test_window_expires(self, gate: ComplianceGate) -> None:
        history = (Turn(role="advisor", text="这款产品能保", at=NOW - timedelta(minutes=10)),)
        assert gate.check_outbound("本的，放心", ctx(history=history)).verdict == Verdict.allow

    def test_client_turns_are_not_the_senders_window(self, gate: ComplianceGate) -> None:
        history = (Turn(role="client", text="能保", at=NOW),)
        assert gate.check_outbound("本的话请看合同", ctx(history=history)).verdict == Verdict.allow


class TestSuitability:
    CASES = [
        ("C3", date(2027, 1, 1), ("R3",), True, "ok"),
        ("C3", date(2027, 1, 1), ("R4",), False, "above_level"),
        ("C1", date(2027, 1, 1), ("R2",), False, "above_level"),
        ("C5", date(2027, 1, 1), ("R5",), True, "ok"),
        (None, None, ("R1",), False, "assessment_missing"),
        ("C4", date(2026, 11, 22), ("R2",), False, "assessment_expired"),
        ("C4", date(2026, 11, 23), ("R2",), True, "ok"),  # valid through its last day
    ]

    @pytest.mark.parametrize(("level", "expires", "products", "ok", "code"), CASES)
    def test_promoting_a_product_the_client_may_not_buy_is_not_sent(self, gate: ComplianceGate, level, expires,
                                                                     products, ok, code) -> None:  # type: ignore[no-untyped-def]
        text = f"这只{products[0]}的基金不错，推荐您关注。"
        result = gate.check_outbound(text, ctx(level, expires), draft=Draft(text=text, product_risk_levels=products))
        assert (result.suitability_ok, result.suitability_code) == (ok, code)
        if not ok:
            assert result.verdict == Verdict.review
            assert result.text == canned("compliance_safe_suitability_mismatch")
            assert "适当性不匹配" in result.reason and result.rewrite_hint

    @pytest.mark.parametrize(("level", "expires", "products", "ok", "code"), CASES)
    def test_describing_a_product_adds_what_the_client_may_buy(self, gate: ComplianceGate, level, expires,
                                                               products, ok, code) -> None:  # type: ignore[no-untyped-def]
        text = "这只产品的说明请看附件。"
        result = gate.check_outbound(text, ctx(level, expires), draft=Draft(text=text, product_risk_levels=products))
        assert result.suitability_ok  # a description is sent, never replaced
        assert result.suitability_code == f"described_{code}"
        assert result.text.startswith(text)
        if ok:
            assert "温馨提示" not in result.text
        else:
            assert "温馨提示" in result.text and products[0] in result.text
            assert result.verdict == (Verdict.allow if code == "assessment_missing" else Verdict.warn)

    def test_no_products(self, gate: ComplianceGate) -> None:
        result = gate.check_outbound("开户需要身份证。", ctx("C2"), draft=Draft(text="x"))
        assert (result.suitability_ok, result.suitability_code) == (True, "no_products")

    def test_promoted_level_in_text(self, gate: ComplianceGate) -> None:
        result = gate.check_outbound("这只R4的基金不错，推荐您关注。", ctx("C2"))
        assert not result.suitability_ok

    def test_rule_statement_is_not_a_promotion(self, gate: ComplianceGate) -> None:
        result = gate.check_outbound("该产品风险等级R4，高于您的C3等级，系统暂不支持购买。", ctx("C3"))
        assert result.suitability_ok

    def test_product_disclosure_names_levels(self, gate: ComplianceGate) -> None:
        result = gate.check_outbound("这只债券基金的介绍如下。", ctx("C3"), draft=Draft(text="x", product_risk_levels=("R2",)))
        assert result.verdict == Verdict.allow and "R2" in result.text and "不保本" in result.text


class TestInbound:
    @pytest.mark.parametrize(
        ("text", "signal"),
        [
            ("你们再不处理我就打12386", "complaint"),
            ("我要去證監會舉報", "complaint"),
            ("已经找律师准备起诉", "complaint"),
            ("全亏了，不想活了", "distress"),
            ("这个理财能保本吗", "guarantee_request"),
            ("会不会亏啊", "guarantee_request"),
            ("有没有内幕消息", "insider_request"),
            ("推荐几只股票吧", "stock_tip_request"),
            ("你帮我买一点", "trade_request"),
            ("有人问我要验证码", "account_security"),
        ],
    )
    def test_signals(self, gate: ComplianceGate, text: str, signal: str) -> None:
        assert signal in gate.check_inbound(text, ctx()).signals

    def test_plain_question_has_no_signal(self, gate: ComplianceGate) -> None:
        assert gate.check_inbound("怎么开通创业板？", ctx()).signals == frozenset()

    def test_split_complaint(self, gate: ComplianceGate) -> None:
        history = (Turn(role="client", text="我要去证监", at=NOW - timedelta(seconds=5)),)
        assert "complaint" in gate.check_inbound("会", ctx(history=history)).signals


class FakeChat:
    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.reply


class TestLLMJudge:
    def test_judge_hit_is_review_and_pii_is_masked(self) -> None:
        chat = FakeChat('{"violation": true, "category": "guarantee_return", "quote": "收益会很稳", "reason": "暗示收益"}')
        gate = ComplianceGate(semantic=None, judge=LLMJudge(chat))
        result = gate.check_outbound("放心，收益会很稳，联系我13812345678", ctx())
        assert result.verdict == Verdict.review
        assert result.hits[0].category == "guarantee_return"
        assert "13812345678" not in chat.prompts[0] and "138****5678" in chat.prompts[0]

    @pytest.mark.parametrize("reply", ['{"violation": false}', "not json", ""])
    def test_judge_clean_or_broken(self, reply: str) -> None:
        gate = ComplianceGate(semantic=None, judge=LLMJudge(FakeChat(reply)))
        assert gate.check_outbound("您好", ctx()).verdict == Verdict.allow

    def test_from_settings_is_lazy(self, settings) -> None:  # type: ignore[no-untyped-def]
        gate = ComplianceGate.from_settings(settings)
        assert gate.semantic is not None and not gate.semantic._ready
        assert isinstance(gate.check_outbound("这个产品保本", ctx()), OutboundResult)
