"""Normalisation: every evasion class folds to the same skeleton, and spans map back to the original text."""

from __future__ import annotations

import pytest

from compliance.normalize import Normalizer, pinyin_tokens, segment_latin

NORM = Normalizer({"夲": "本"})


class TestFold:
    @pytest.mark.parametrize(
        ("text", "skeleton"),
        [
            ("保 本", "保本"),  # ASCII space
            ("保\u3000本", "保本"),  # ideographic space
            ("保*本", "保本"),  # symbol
            ("保-本-保-息", "保本保息"),
            ("验.证.码", "验证码"),
            ("保\u200b本", "保本"),  # zero width space
            ("保\u200c\u200d\u2060\ufeff\u2063本", "保本"),  # other invisible format characters
            ("保\u00ad本", "保本"),  # soft hyphen
            ("保\ufe0f本", "保本"),  # variation selector
            ("ｂａｏ本", "bao本"),  # full width
            ("１００％", "100"),
            ("🈚风险", "无风险"),  # enclosed ideograph -> 無 -> 无
            ("穩賺不賠", "稳赚不赔"),  # traditional
            ("內幕消息", "内幕消息"),
            ("WEN ZHUAN", "wenzhuan"),  # case
            ("bì zhǎng", "bizhang"),  # tone marks
            ("稳💰赚💰不💰赔", "稳赚不赔"),  # emoji
            ("0️⃣风险", "0风险"),  # keycap sequence
            ("保夲", "保本"),  # confusable
            ("①", "1"),
        ],
    )
    def test_evasion_folds(self, text: str, skeleton: str) -> None:
        assert NORM.normalize(text).skeleton == skeleton

    def test_span_maps_back_to_original(self) -> None:
        text = "这个产品保\u200b 本，放心"
        norm = NORM.normalize(text)
        s = norm.skeleton.index("保本")
        start, end = norm.span(s, s + 2)
        assert text[start:end] == "保\u200b 本"

    def test_expansion_keeps_index(self) -> None:
        norm = NORM.normalize("⑩倍")
        assert norm.skeleton == "10倍"
        assert norm.span(0, 2) == (0, 1)

    def test_sentences_and_clauses(self) -> None:
        norm = NORM.normalize("不要犹豫，保本。好的")
        assert norm.clause[0] != norm.clause[norm.skeleton.index("保")]
        assert norm.sentence[norm.skeleton.index("好")] == norm.sentence[0] + 1


class TestPinyin:
    @pytest.mark.parametrize(
        ("run", "syllables"),
        [("baoben", ["bao", "ben"]), ("bizhang", ["bi", "zhang"]), ("wenzhuanbupei", ["wen", "zhuan", "bu", "pei"])],
    )
    def test_segment_latin(self, run: str, syllables: list[str]) -> None:
        assert segment_latin(run) == syllables

    def test_tokens_mix_han_and_latin(self) -> None:
        toks = pinyin_tokens("bao本")
        assert toks.text == "|bao|ben|"
        assert toks.latin == (True, False)

    def test_non_pinyin_run_is_marked(self) -> None:
        toks = pinyin_tokens("xyzbaoben")
        assert not all(toks.run_ok)
