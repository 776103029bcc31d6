"""UTF-8 byte-aware splitting and shortening (WeCom text limit: 2048 bytes)."""

from __future__ import annotations

import pytest

from bot.wecom.textsplit import fit_utf8, shorten_utf8, split_utf8, utf8_len


def _joined_equals(parts: list[str], text: str) -> bool:
    """Pieces reassemble to the text, up to the whitespace dropped at the cuts."""
    return "".join("".join(p.split()) for p in parts) == "".join(text.split())


CASES = [
    ("ascii", "The quick brown fox. " * 300),
    ("chinese sentences", "请注意投资风险，市场有风险，投资需谨慎。" * 200),
    ("no punctuation", "中" * 3000),
    ("emoji", "😀" * 1500),
    ("zwj family emoji", "👨‍👩‍👧" * 400),
    ("combining marks", "e\u0301" * 2500),
    ("flags", "🇨🇳" * 600),
    ("paragraphs", ("第一段内容。\n\n" + "正文" * 300 + "\n") * 6),
    ("mixed", "基金A（代码000001）的风险等级为R3。Fund risk level R3! 请确认您的风险承受能力？" * 60),
]


class TestSplit:
    @pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
    @pytest.mark.parametrize("limit", [2048, 100, 7])
    def test_every_piece_fits_and_nothing_is_lost(self, name, text, limit):
        parts = split_utf8(text, limit)
        assert parts and all(0 < utf8_len(p) <= limit for p in parts)
        assert _joined_equals(parts, text)
        for p in parts:  # each piece is valid text on its own
            assert p.encode("utf-8").decode("utf-8") == p

    def test_short_text_is_unchanged(self):
        assert split_utf8("  你好！ ") == ["  你好！ "]

    @pytest.mark.parametrize("text", ["", "   ", "\n\n"])
    def test_blank_gives_nothing(self, text):
        assert split_utf8(text) == []

    def test_prefers_sentence_ends(self):
        text = "这是一个完整的句子。" * 300
        parts = split_utf8(text)
        assert len(parts) > 1 and all(p.endswith("。") for p in parts)

    def test_prefers_paragraphs_over_sentences(self):
        para = "句子一。句子二。" * 40
        text = "\n\n".join([para] * 8)
        parts = split_utf8(text, 2048)
        assert all(p.endswith("。") for p in parts) and all(not p.startswith("\n") for p in parts)
        assert all(utf8_len(p) >= 1024 for p in parts[:-1])  # boundaries never leave tiny pieces

    def test_closing_quote_stays_with_its_sentence(self):
        text = "他说：“请谨慎投资。”" * 200
        assert all(p.endswith("”") for p in split_utf8(text, 300))

    def test_never_splits_inside_a_character(self):
        text = "a" + "中" * 700  # 1 + 2100 bytes: a naive byte cut lands inside a character
        parts = split_utf8(text, 2048)
        assert [utf8_len(p) for p in parts] == [2047, 54]

    def test_zwj_sequence_stays_whole(self):
        family = "👨‍👩‍👧"  # 18 bytes
        parts = split_utf8(family * 10, 40)
        assert all(p.count("👨") == p.count("👧") for p in parts)

    def test_flags_stay_whole(self):
        parts = split_utf8("a" + "🇨🇳" * 20, 46)  # 1 + 11 * 4 bytes: a naive cut splits a flag
        assert all(len(p.lstrip("a")) % 2 == 0 for p in parts)

    def test_rejects_tiny_limits(self):
        with pytest.raises(ValueError):
            split_utf8("abc", 3)


class TestShorten:
    def test_fits_unchanged(self):
        assert shorten_utf8("短消息", 2048, "（节选）") == "短消息"

    @pytest.mark.parametrize("limit", [2048, 500, 64])
    def test_within_limit_with_suffix(self, limit):
        text = "风险提示：基金过往业绩不代表未来表现。" * 200
        short = shorten_utf8(text, limit, "（节选）")
        assert utf8_len(short) <= limit and short.endswith("（节选）")
        assert text.startswith(short.removesuffix("（节选）").rstrip("\n"))

    def test_cuts_at_a_sentence_end(self):
        short = shorten_utf8("一句话说完。" * 400, 2048, "…")
        assert short.removesuffix("…").rstrip().endswith("。")

    def test_suffix_longer_than_limit(self):
        with pytest.raises(ValueError):
            shorten_utf8("x" * 100, 3, "（节选）")


class TestFit:
    def test_fits_in_parts(self):
        text = "句子。" * 1000  # ~9000 bytes
        parts = fit_utf8(text, 5, 2048, "（节选）")
        assert len(parts) == 5 and all(utf8_len(p) <= 2048 for p in parts)
        assert not parts[-1].endswith("（节选）")

    def test_too_long_ends_with_suffix(self):
        text = "句子。" * 5000  # ~45000 bytes, far more than 3 messages
        parts = fit_utf8(text, 3, 2048, "（节选）")
        assert len(parts) == 3 and all(utf8_len(p) <= 2048 for p in parts)
        assert parts[-1].endswith("（节选）")

    def test_no_room(self):
        assert fit_utf8("text", 0) == []
