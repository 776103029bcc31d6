"""Screening: evasion classes, every category, compliant contexts, negation traps, windows, spans, dev-set quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compliance.lexicon import default_lexicon
from compliance.screening import screen

SHARED = Path(__file__).resolve().parents[3] / "shared"
HERE = Path(__file__).parent


def flagged(text: str, **kw) -> bool:  # type: ignore[no-untyped-def]
    return screen(text, **kw).flagged


def categories(text: str, **kw) -> set[str]:  # type: ignore[no-untyped-def]
    return {h.category for h in screen(text, **kw).hits}


class TestEvasions:
    @pytest.mark.parametrize(
        ("text", "evasion"),
        [
            ("这个产品保本", "none"),
            ("这个产品保 本", "space"),
            ("这个产品保\u3000本", "ideographic space"),
            ("这个产品保*本", "symbol"),
            ("保-本-保-息，放心", "dashes"),
            ("这个产品保\u200b本", "zero width space"),
            ("这个产品保\u200d本", "zero width joiner"),
            ("这个产品保\u2060本", "word joiner"),
            ("这个产品保\ufeff本", "BOM"),
            ("这个产品保\u00ad本", "soft hyphen"),
            ("这个产品穩賺不賠", "traditional"),
            ("零風險產品", "traditional 2"),
            ("这个产品baoben", "pinyin"),
            ("这个产品bao ben的", "spaced pinyin"),
            ("这个产品BAO BEN", "upper-case pinyin"),
            ("这个产品bao本", "mixed pinyin"),
            ("这个稳zhuan不赔", "mixed pinyin 2"),
            ("wen zhuan bu pei 的产品", "full pinyin"),
            ("bì zhǎng 的票", "tone marks"),
            ("我们这款是宝本的", "homophone"),
            ("饱本型理财", "homophone 2"),
            ("这个保夲", "look-alike"),
            ("🈚风险，年化6%", "enclosed ideograph"),
            ("0风险产品", "digit for 零"),
            ("〇风险产品", "ideographic zero"),
            ("稳💰赚💰不💰赔", "emoji between"),
            ("ｂａｏｂｅｎ理财", "full-width Latin"),
            ("你把yzm发我", "initials"),
            ("我 帮 你 操 作 一 下", "space every char"),
            ("能保\n本的", "line break"),
        ],
    )
    def test_caught(self, text: str, evasion: str) -> None:
        assert flagged(text, direction="out"), evasion

    def test_pinyin_only_hit_is_capped_at_review(self) -> None:
        result = screen("这个产品baoben", direction="out")
        assert result.severity == "review"
        assert result.hits[0].layer == "pinyin"

    @pytest.mark.parametrize(
        "text",
        ["我用支付宝本月还了信用卡", "big zhang", "查看 abaobenx 说明", "宝贝本月表现不错", "新股申购规则"],
    )
    def test_pinyin_layer_does_not_misfire(self, text: str) -> None:
        assert not flagged(text, direction="out")


class TestCategories:
    @pytest.mark.parametrize(
        ("text", "category"),
        [
            ("这款理财保底收益4%", "guarantee_return"),
            ("跌了的部分我们公司给您补上", "guarantee_return"),
            ("这笔钱只会多不会少", "guarantee_return"),
            ("到期肯定能拿回本金", "guarantee_return"),
            ("年化收益锁定5%", "guarantee_return"),
            ("这只票下周肯定涨停", "certainty_prediction"),
            ("现在闭眼买就行", "certainty_prediction"),
            ("重组消息还没公布，先买", "stock_tip_insider"),
            ("主力准备拉升了", "stock_tip_insider"),
            ("进我们的VIP群跟老师操作", "stock_tip_insider"),
            ("账户交给我打理", "discretionary_trading"),
            ("赚了我们五五分", "discretionary_trading"),
            ("我替您下单", "discretionary_trading"),
            ("把交易密码发我", "credential_request"),
            ("收到的六位数字报给我", "credential_request"),
            ("全网最强的产品", "exaggeration"),
            ("胜率100%", "exaggeration"),
            ("认购款转到我个人账户", "improper_inducement"),
            ("佣金我私下返您一半", "improper_inducement"),
            ("可以做场外配资", "improper_inducement"),
            ("测评都选最激进的", "suitability_evasion"),
            ("您是C2，这个R4的也能买，没问题", "suitability_evasion"),
            ("回访的时候你就说是自己买的", "suitability_evasion"),
            ("这个计划预期收益率6%", "misleading_performance"),
            ("这只基金从来没亏过", "misleading_performance"),
            ("我要去证监局投诉你们", "complaint_escalation"),
            ("已经报警了", "complaint_escalation"),
            ("我真的不想活了", "client_distress"),
        ],
    )
    def test_category(self, text: str, category: str) -> None:
        assert category in categories(text)

    @pytest.mark.parametrize(
        ("text", "severity"),
        [("这个产品保本", "block"), ("小道消息说要涨", "review"), ("预期收益率5%", "review"), ("胜率100%", "block")],
    )
    def test_severity(self, text: str, severity: str) -> None:
        assert screen(text, direction="out").severity == severity


class TestCompliantContexts:
    @pytest.mark.parametrize(
        ("text", "why"),
        [
            ("本产品不保本，可能损失本金", "negation 不"),
            ("这是非保本浮动收益型产品", "negation 非"),
            ("根据资管新规，产品都不能承诺保本保收益", "multi-char negation cue"),
            ("您的保本价是12.35元", "allow covers: break-even price"),
            ("请确保本人操作", "allow covers: 确保本人"),
            ("保本基金已转型为避险策略基金", "historical name"),
            ("超额收益等于收益率减去无风险利率", "finance term"),
            ("没有零风险的投资", "negated"),
            ("没有哪只股票是必涨的", "没有哪 cue"),
            ("定投不能保证一定盈利", "negated guarantee"),
            ("宣传材料里不能出现'零风险''保本'这类字眼", "quoted mention"),
            ("这款产品“不保本”三个字写在合同首页", "quoted and negated"),
            ("如果有人向您承诺稳赚不赔，请提高警惕", "investor education"),
            ("请不要相信所谓的内部消息", "investor education 2"),
            ("近期有不法分子冒充员工拉人进荐股群", "fraud warning"),
            ("工作人员不会向您索要交易密码或验证码", "security notice"),
            ("登录验证码请勿告诉任何人", "security notice 2"),
            ("我帮您查一下操作流程", "gap phrase"),
            ("我不能替您做买卖决定", "negated 替您"),
            ("您最好先完成风险测评", "advice 最好"),
            ("第一步，打开APP首页", "ordinal"),
            ("您的等级C3，可以购买R1至R3的产品", "proper matching"),
            ("业绩比较基准不是预期收益", "negated"),
            ("过往业绩不代表未来表现", "disclosure"),
            ("如对服务不满意，可以拨打客服热线或通过12386平台反映", "outbound mention of 12386"),
            ("这个产品会不会亏？", "client question"),
            ("这个产品保本吗", "client question 2"),
            ("两融业务亏损也可能翻倍", "disclosure 翻倍"),
            ("新股申购中签后请确保资金充足", "确保 without 本"),
            ("任何投资都不是没有风险的", "trap negated by trap_negators"),
            ("忙得要死", "idiom"),
        ],
    )
    def test_clean(self, text: str, why: str) -> None:
        result = screen(text)
        assert not result.flagged, (why, [(h.term, h.matched) for h in result.hits])

    @pytest.mark.parametrize(
        "text",
        ["这个基金不会亏", "放心，亏不了", "跌不下去了", "本金一分不会少", "这个产品没有风险", "不用担心亏钱",
         "本金绝对不会有损失"],
    )
    def test_negation_traps_stay_violations(self, text: str) -> None:
        assert flagged(text, direction="out")

    def test_scare_quotes_alone_stay_a_violation(self) -> None:
        assert flagged("这个产品是“保本”的", direction="out")

    def test_negation_does_not_cross_clause(self) -> None:
        assert flagged("不要犹豫，这个产品保本", direction="out")


class TestDirectionAndWindow:
    def test_complaint_terms_are_inbound_only(self) -> None:
        assert not flagged("我要投诉你们", direction="out")
        assert flagged("我要投诉你们", direction="in")

    def test_inbound_signals(self) -> None:
        assert screen("我要去证监会投诉", direction="in").signals == {"complaint"}
        assert "guarantee_request" in screen("这个能保本吗", direction="in").signals
        assert "distress" in screen("活不下去了", direction="in").signals

    def test_client_asking_for_guarantee_is_not_a_violation(self) -> None:
        result = screen("这个产品保本吗？", direction="in")
        assert not result.flagged and "guarantee_request" in result.signals

    def test_split_over_messages(self) -> None:
        result = screen("本的，放心", recent=["这款产品能保"], direction="out")
        assert result.flagged
        hit = result.hits[0]
        assert (hit.start, hit.end, hit.layer) == (0, 1, "window")

    def test_old_hits_are_not_reported_again(self) -> None:
        assert not screen("好的", recent=["这个产品保本"], direction="out").flagged


class TestSpans:
    @pytest.mark.parametrize(
        ("text", "matched"),
        [
            ("这个产品保\u200b本保收益。", "保\u200b本保收益"),
            ("放心，這個穩賺不賠", "穩賺不賠"),
            ("产品是保*本的", "保*本"),
            ("这只基金baoben", "baoben"),
            ("🈚风险，年化6%", "🈚风险"),
        ],
    )
    def test_span_is_in_original_text(self, text: str, matched: str) -> None:
        hits = screen(text, direction="out").hits
        assert any(text[h.start:h.end] == matched for h in hits), [(h.start, h.end, h.matched) for h in hits]

    def test_to_json_shape(self) -> None:
        out = screen("保 本").to_json()
        assert set(out) == {"text", "flagged", "severity", "hits"}
        assert set(out["hits"][0]) == {"term", "category", "severity", "start", "end"}


def _score(path: Path) -> tuple[float, float]:
    lex = default_lexicon()
    tp = fp = fn = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        got = screen(row["text"], lexicon=lex).flagged
        exp = row["expected"] == "flag"
        tp += got and exp
        fp += got and not exp
        fn += exp and not got
    return tp / (tp + fp), tp / (tp + fn)


class TestQuality:
    """Lexical stages only (no semantic stage, no LLM): the floor of the engine."""

    @pytest.mark.skipif(not (SHARED / "eval" / "compliance_dev.jsonl").exists(), reason="../shared not present")
    def test_dev_set(self) -> None:
        precision, recall = _score(SHARED / "eval" / "compliance_dev.jsonl")
        assert precision >= 0.95 and recall >= 0.95, (precision, recall)

    def test_own_held_out_sets(self) -> None:
        paths = sorted((HERE / "data").glob("heldout*.jsonl"))
        assert len(paths) >= 4
        for path in paths:
            precision, recall = _score(path)
            assert precision >= 0.95 and recall >= 0.95, (path.name, precision, recall)


@pytest.mark.skipif(not (SHARED / "eval" / "kb").exists(), reason="../shared not present")
def test_compliant_knowledge_base_text_is_not_flagged() -> None:
    """Every sentence of the sample knowledge base (real, compliant bot answers) passes: the precision floor."""
    import re

    import yaml

    texts: list[str] = []
    for path in sorted((SHARED / "eval" / "kb" / "docs").glob("*")):
        texts += re.split(r"[。！？\n]", path.read_text(encoding="utf-8"))
    faq = yaml.safe_load((SHARED / "eval" / "kb" / "faq.yaml").read_text(encoding="utf-8"))
    for entry in faq if isinstance(faq, list) else faq.get("entries", []):
        texts += re.split(r"[。！？\n]", str(entry.get("answer", "")))
    texts = [t.strip() for t in texts if len(t.strip()) >= 8 and not t.strip().startswith(("#", "|", "id:"))]
    lex = default_lexicon()
    flagged_texts = [t for t in texts if screen(t, lexicon=lex, direction="out").flagged]
    assert len(texts) > 300 and flagged_texts == []


class _FlagEverySentence:
    """A semantic stage that flags whatever it is not told to skip."""

    def find(self, text, *, skip=()):
        from compliance.screening import ScreenHit

        if any(s < len(text) and e > 0 for s, e in skip):
            return []
        return [ScreenHit(term="≈", category="guarantee_return", severity="review", start=0, end=len(text),
                          layer="semantic", matched=text)]


def test_semantic_stage_skips_a_sentence_whose_keyword_was_cleared_as_a_warning() -> None:
    warning = "要是有人跟你说买这个稳赚，那是骗人的，别信。"
    assert not screen(warning, direction="out", semantic=_FlagEverySentence()).flagged
    # a plain negation is not a warning: the semantic stage still sees the sentence
    assert screen("这款不保本，但只会多不会少。", direction="out", semantic=_FlagEverySentence()).flagged


@pytest.mark.parametrize("text", [
    "到期本金如数返还，您只管放心。",
    "收益只是多赚少赚的问题，不会亏。",
    "有我们公司托底，跌了也不要紧。",
    "年化六个点是稳稳的。",
    "验证码发过来我帮您弄。",
    "把信用卡背面的三位数字发我。",
    "认购满二十万，再送您两张购物卡。",
    "这家私募的基金经理从来没看走眼过。",
    "拿您父母的账户去买就不用测评了。",
])
def test_general_families_added_for_unseen_phrasings(text: str) -> None:
    assert screen(text, direction="out").flagged, text


@pytest.mark.parametrize("text", [
    "我们没办法保证收益，请理性投资。",
    "全权委托是被禁止的，请您本人下单。",
    "验证码会发送到您手机，请勿告诉他人。",
    "政策托底预期升温，市场情绪回暖。",
    "单笔最高可申购100万元。",
])
def test_compliant_lookalikes_of_the_new_families(text: str) -> None:
    assert not screen(text, direction="out").flagged, text


@pytest.mark.parametrize("text", ["想找个地方了结自己。", "活着真没意思。", "干脆一死了之。"])
def test_more_distress_phrasings(text: str) -> None:
    assert screen(text, direction="in").flagged, text


@pytest.mark.parametrize("text", [
    "这款是bbbx的，额度不多了。",
    "稳嫌不赔的好机会。",
    "本金100% safe，放心。",
    "这个年化回报不低于7个点。",
    "收益率5个点起步。",
    "这只基金零回撤。",
])
def test_initials_lookalikes_english_and_return_floors(text: str) -> None:
    assert screen(text, direction="out").flagged, text


@pytest.mark.parametrize("text", [
    "我们从来不向投资者承诺收益。",
    "起购金额不低于1万元。",
    "业绩比较基准不低于3%，不代表实际收益。",
])
def test_negated_object_scope_and_amount_floors_are_clean(text: str) -> None:
    assert not screen(text, direction="out").flagged, text


@pytest.mark.parametrize("text", [
    "这只票今年以来跌了30%，风险较大，请谨慎。",  # 0风险 inside a longer number
    "保本理财已经退出历史舞台，现在都是净值型产品。",
])
def test_digit_inside_a_number_and_historical_mentions_are_clean(text: str) -> None:
    assert not screen(text, direction="out").flagged, text


@pytest.mark.parametrize("text", [
    "0风险，放心买。",
    "把授权页面截图发我，我帮您确认。",
    "顾问费支付宝直接转我。",
    "明天会有重大利好，您早点准备。",
])
def test_zero_risk_digit_still_caught_and_new_families(text: str) -> None:
    assert screen(text, direction="out").flagged, text


@pytest.mark.parametrize("text", [
    "群主晚上会推明天的股，跟着买就行。",
    "我在那边有内线，消息很准。",
    "做测评时挑风险最大的那个选项。",
    "这只基金业内收益排第一。",
    "入金后给您打两百元话费。",
])
def test_tips_via_groups_insiders_answers_superlatives_and_gifts(text: str) -> None:
    assert screen(text, direction="out").flagged, text


def test_outbound_invitation_to_report_is_not_a_complaint() -> None:
    assert not screen("看到违规宣传可以直接向我们举报。", direction="out").flagged
    assert screen("我要去你们公司门口拉横幅。", direction="in").flagged


def test_past_returns_carried_into_this_year() -> None:
    assert screen("前年涨了40%，明年照样能赚。", direction="out").flagged
    assert not screen("过去业绩不代表今年也一样。", direction="out").flagged
