"""A client's message through the whole live path: simulator -> encrypted callback -> edge -> worker -> kf/sync_msg
-> pipeline -> outbox -> kf/send_msg -> simulator."""

from __future__ import annotations

import time

from sqlmodel import select

from bot.models import Escalation, InboundEvent, Message, MessageStatus, OutboxItem, OutboxStatus


def test_url_verification_through_the_simulator(live):
    assert live.sim.url_verify()


def test_faq_question_gets_the_approved_answer(live):
    live.say("wm_zhang", "开户需要准备什么材料？")
    [reply] = live.sim.wait_for_sent("wm_zhang", 1, timeout=20)
    assert "身份证" in reply["text"] and "银行卡" in reply["text"]
    with live.services.db.session() as s:
        out = s.exec(select(Message).where(Message.sender == "bot")).one()
        assert out.status == MessageStatus.sent and out.sources and out.sources[0]["id"] == "faq_open_account"


def test_asking_for_a_person_hands_over_to_the_advisor(live):
    live.say("wm_zhang", "转人工")
    [holding] = live.sim.wait_for_sent("wm_zhang", 1, timeout=20)
    assert "人工" in holding["text"] or "服务经理" in holding["text"]
    card = live.sim.wait_for(lambda: live.sim.app_messages("adv_li"), timeout=20)[0]
    assert card["touser"] == "adv_li" if "touser" in card else True
    with live.services.db.session() as s:
        [esc] = s.exec(select(Escalation)).all()
        assert esc.reason == "requested_human" and esc.advisor_userid == "adv_li"


def test_duplicate_and_retried_callbacks_give_one_reply(live):
    live.say("wm_zhang", "客服热线是多少？", duplicate=True)
    live.sim.send_kf_callback()  # a stray callback: sync_msg finds nothing new
    live.sim.wait_for_sent("wm_zhang", 1, timeout=20)
    time.sleep(1.0)  # give a (wrong) second reply the chance to appear
    assert len(live.sim.sent_to("wm_zhang")) == 1
    with live.services.db.session() as s:
        assert len(s.exec(select(Message).where(Message.direction == "in")).all()) == 1


def test_transient_send_failure_is_retried_and_delivered_once(live):
    live.sim.fail_next("kf/send_msg", -1, times=2)
    live.say("wm_zhang", "创业板涨跌幅限制是多少")
    [reply] = live.sim.wait_for_sent("wm_zhang", 1, timeout=30)
    assert "20%" in reply["text"]
    with live.services.db.session() as s:
        [item] = s.exec(select(OutboxItem)).all()
        assert item.status == OutboxStatus.sent


def test_messages_of_one_client_are_answered_in_order(live):
    for text in ("客服热线是多少？", "开户需要准备什么材料？", "创业板涨跌幅限制是多少"):
        live.say("wm_zhang", text, wait=False)
    replies = live.sim.wait_for_sent("wm_zhang", 3, timeout=40)
    assert "95000" in replies[0]["text"]
    assert "身份证" in replies[1]["text"]
    assert "20%" in replies[2]["text"]
    with live.services.db.session() as s:
        assert all(e.status == "done" for e in s.exec(select(InboundEvent)).all())
