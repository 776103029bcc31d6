"""The semantic stage: keyword-free promises go to review; compliant look-alikes do not."""

from __future__ import annotations

import numpy as np
import pytest

from compliance.screening import screen
from compliance.semantic import EmbeddingSemantic, sentences

EXAMPLES = {"positives": {"guarantee_return": ["钱只会变多"]}, "negatives": ["投资可能亏损"]}


def fake_encode(texts: list[str]) -> np.ndarray:
    """Two directions: 'promise' and 'disclosure', by a keyword (the logic, not the model, is under test)."""
    out = []
    for t in texts:
        v = np.array([1.0, 0.0]) if ("多" in t or "增" in t) else np.array([0.0, 1.0])
        out.append(v)
    return np.array(out, dtype="float32")


class TestLogic:
    def test_sentences(self) -> None:
        assert sentences("第一句。 第二句！第三句") == [(0, 4), (5, 9), (9, 12)]

    def test_hit_is_review_with_sentence_span(self) -> None:
        sem = EmbeddingSemantic(EXAMPLES, encode=fake_encode, threshold=0.9, margin=0.1, k=1)
        text = "您好。这笔钱以后肯定越来越多啊。"
        result = screen(text, semantic=sem, direction="out")
        assert result.flagged and result.severity == "review"
        hit = result.hits[0]
        assert hit.layer == "semantic" and text[hit.start:hit.end] == "这笔钱以后肯定越来越多啊。"
        assert hit.category == "guarantee_return" and hit.term.startswith("≈")

    def test_sentences_with_lexical_hits_are_skipped(self) -> None:
        calls: list[list[str]] = []

        def encode(texts: list[str]) -> np.ndarray:
            calls.append(list(texts))
            return fake_encode(texts)

        sem = EmbeddingSemantic(EXAMPLES, encode=encode, threshold=0.9, margin=0.1)
        screen("这个产品保本，钱会变多。", semantic=sem, direction="out")
        assert not any("这个产品保本，钱会变多。" in batch for batch in calls)

    def test_not_used_for_inbound(self) -> None:
        sem = EmbeddingSemantic(EXAMPLES, encode=fake_encode, threshold=0.9, margin=0.1, k=1)
        assert not screen("钱会越来越多的吧", semantic=sem, direction="in").hits


@pytest.fixture(scope="module")
def model() -> EmbeddingSemantic:
    return EmbeddingSemantic()


class TestOfflineModel:
    """The bundled model with the packaged examples (none of these sentences is an example)."""

    @pytest.mark.parametrize(
        "text",
        [
            "要是跌了，少掉的那部分公司会补偿给您。",
            "您把账户密码都发给我，我每天帮您盯着买卖。",
            "这款产品您投多少，到期就能拿回多少，再加上利息。",
            "我跟您打包票，这个钱稳稳当当。",
        ],
    )
    def test_keyword_free_promises_reach_review(self, model: EmbeddingSemantic, text: str) -> None:
        p, n, _ = model.scores([text])[0]
        assert p >= model.threshold and p - n >= model.margin, (p, n)

    @pytest.mark.parametrize(
        "text",
        [
            "好的，我明天上午给您回电话。",
            "回访是公司独立进行的，请按真实情况回答即可。",
            "本产品不保本，投资者可能损失部分本金。",
            "请您本人在APP中完成交易，工作人员不能代为操作。",
            "开通创业板需要两年交易经验和10万元资产。",
            "国债逆回购到期后本金和利息自动到账。",
            "这个基金过去一年涨了10%，但波动也比较大。",
        ],
    )
    def test_compliant_sentences_stay_clean(self, model: EmbeddingSemantic, text: str) -> None:
        assert model.find(text) == []


def test_canned_texts_pass_the_semantic_stage(model: EmbeddingSemantic) -> None:
    """What the product itself sends (safe replies, refusals, holding replies) is never a semantic hit."""
    from prompts import _canned

    texts = {k: v for k, v in _canned().items()
             if k.startswith(("compliance_safe_", "compliance_disclosure", "kb_refuse", "kb_holding", "holding_",
                              "escalation_holding"))}
    flagged = {k: [h.matched for h in model.find(v)] for k, v in texts.items()}
    assert {k: v for k, v in flagged.items() if v} == {}
