"""A client who opens the 微信客服 chat is greeted once, with the welcome_code WeCom gives for it."""

from __future__ import annotations

from sqlmodel import select

from bot.models import Message, OutboxItem


def test_entering_the_chat_gets_one_welcome(live):
    assert live.sim.client_enters("wm_new").delivered
    [welcome] = live.sim.wait_for_sent("wm_new", 1, timeout=20)
    assert "欢迎" in welcome["text"] and "转人工" in welcome["text"]
    assert live.services.gate.check_outbound(welcome["text"], _ctx(live)).verdict in ("allow", "warn")
    live.sim.client_says("wm_new", "客服热线是多少？")
    live.sim.wait_for_sent("wm_new", 2, timeout=20)
    assert live.sim.client_enters("wm_new").delivered  # back within 48 h: WeCom gives no welcome_code
    live.sim.client_says("wm_new", "开户需要准备什么材料？")
    texts = [m["text"] for m in live.sim.wait_for_sent("wm_new", 3, timeout=20)]
    assert sum("欢迎" in t for t in texts) == 1
    with live.services.db.session() as s:
        greeting = s.exec(select(Message).where(Message.action == "welcome")).one()
        assert greeting.status == "sent"
        assert len(s.exec(select(OutboxItem).where(OutboxItem.kind == "kf_welcome")).all()) == 1


def _ctx(live):  # type: ignore[no-untyped-def]
    from bot.pipeline.schemas import Context

    return Context(now=live.services.now())
