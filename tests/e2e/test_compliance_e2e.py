"""The compliance gate on the live path: what it stops never reaches the client, and an advisor learns why."""

from __future__ import annotations

import time

from sqlmodel import select

from bot.models import Escalation, Message
from bot.models.compliance import ComplianceFlag


def _escalation(live) -> Escalation:  # type: ignore[no-untyped-def]
    with live.services.db.session() as s:
        return s.exec(select(Escalation)).one()


def _advisor_card(live) -> dict:  # type: ignore[no-untyped-def]
    return live.sim.wait_for(lambda: live.sim.app_messages("adv_li"), timeout=20)[0]


def test_block_level_draft_is_never_sent_and_the_advisor_gets_it_with_the_reason(live):
    live.say("wm_zhang", "稳健一号理财安全吗？")
    [holding] = live.sim.wait_for_sent("wm_zhang", 1, timeout=20)
    time.sleep(0.5)
    texts = [m["text"] for m in live.sim.sent_to("wm_zhang")]
    assert all("保本" not in t and "稳赚" not in t for t in texts)
    assert "服务经理" in holding["text"] or "人工" in holding["text"]
    esc = _escalation(live)
    assert esc.reason == "blocked_draft"
    assert "稳赚不赔" in esc.draft_text  # the advisor sees the draft as written ...
    assert esc.detail  # ... and why it was stopped
    assert _advisor_card(live)
    with live.services.db.session() as s:
        flags = s.exec(select(ComplianceFlag)).all()
        assert any(f.severity == "block" for f in flags)


def test_a_complaint_escalates_at_once(live):
    live.say("wm_zhang", "你们再不处理我就打12386投诉！")
    live.sim.wait_for_sent("wm_zhang", 1, timeout=20)
    assert _escalation(live).reason == "complaint"
    assert _advisor_card(live)


def test_promoting_a_product_above_the_clients_level_is_not_sent_as_is(live):
    live.say("wm_zhang", "星辰成长基金怎么样？")  # wm_zhang is C3; the fund is R5
    live.sim.wait_for_sent("wm_zhang", 1, timeout=20)
    time.sleep(0.5)
    texts = [m["text"] for m in live.sim.sent_to("wm_zhang")]
    assert all("推荐您配置" not in t for t in texts)
    esc = _escalation(live)
    assert esc.reason == "suitability" and "推荐您配置" in esc.draft_text
    with live.services.db.session() as s:
        bot_reply = s.exec(select(Message).where(Message.sender == "bot")).one()
        assert "suitability" in bot_reply.flags
