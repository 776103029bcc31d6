"""Escalation service: the state machine, routing, holding replies, advisor actions and the SLA sweep (real DB)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.errors import ConflictError, ForbiddenError
from bot.escalations import service as esc
from bot.escalations.schemas import EscalationAction
from bot.models import (
    ConversationState,
    Escalation,
    EscalationReason,
    EscalationStatus,
    Message,
    OutboxItem,
    OutboxKind,
)
from bot.pipeline.schemas import Action, Draft, Outcome
from prompts import canned
from tests.scheduler.support import FakeGate, local, make_advisor, make_client, make_conversation, make_inbound

TUESDAY_10 = local(2026, 12, 1, 10, 0)  # a trading day, in working hours
TUESDAY_22 = local(2026, 12, 1, 22, 0)  # after hours


def _outbox(session, kind=None):  # type: ignore[no-untyped-def]
    stmt = select(OutboxItem).order_by(OutboxItem.id)
    if kind:
        stmt = stmt.where(OutboxItem.kind == kind)
    return session.exec(stmt).all()


def _escalate(session, settings, now, *, client_id="wm_c1", owner="adv_a", draft="您好，开户需要身份证原件。",  # type: ignore[no-untyped-def]
              reason=EscalationReason.requested_human):
    client = make_client(session, client_id, advisor_userid=owner, risk_level="C3", asset_tier="长尾")
    conversation = make_conversation(session, client_id, last_client_message_at=now - timedelta(minutes=1))
    message = make_inbound(session, conversation, "我要找人工", now - timedelta(minutes=1))
    outcome = Outcome(action=Action.escalate, reply=canned("holding_reply_working_hours"),
                      draft=Draft(text=draft) if draft else None, reason=reason)
    # what the pipeline handler enqueues before it calls escalate()
    reply = Message(conversation_id=conversation.id, direction="out", sender="bot", text=outcome.reply,
                    status="pending")
    session.add(reply)
    session.flush()
    from bot import outbox

    outbox.enqueue(session=session, kind=OutboxKind.kf_text, key=f"reply-{message.id}", target=client_id,
                   payload={"open_kfid": conversation.open_kfid, "text": outcome.reply},
                   conversation_id=conversation.id, message_id=reply.id)
    return esc.escalate(session=session, conversation=conversation, message=message, outcome=outcome, client=client,
                        now=now, settings=settings)


class TestTransitions:
    @pytest.mark.parametrize("status", list(EscalationStatus))
    @pytest.mark.parametrize("action", list(EscalationAction))
    def test_only_listed_transitions_are_allowed(self, store, settings, status, action):  # type: ignore[no-untyped-def]
        with store.session() as session:
            escalation = _escalate(session, settings, TUESDAY_10)
            escalation.status = status
            expected = esc.TRANSITIONS.get((status, action))
            if expected is None:
                with pytest.raises(ConflictError):
                    esc.transition(session=session, escalation=escalation, action=action, actor="t", now=TUESDAY_10)
            else:
                assert esc.transition(session=session, escalation=escalation, action=action, actor="t",
                                      now=TUESDAY_10) == expected

    def test_terminal_states_allow_nothing(self):  # type: ignore[no-untyped-def]
        assert esc.allowed_actions(EscalationStatus.resolved) == []
        assert esc.allowed_actions(EscalationStatus.returned) == []


class TestRoute:
    def test_owner_at_work_gets_it(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            make_advisor(session, "adv_b")
            client = make_client(session, "wm1", advisor_userid="adv_a")
            advisor, working = esc.route(session=session, client=client, now=TUESDAY_10, tz=settings.tz)
            assert (advisor.wecom_userid, working) == ("adv_a", True)

    def test_owner_off_duty_goes_to_least_loaded_on_duty(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a", working_hours={"tue": ["13:00-18:00"]})
            make_advisor(session, "adv_b")
            make_advisor(session, "adv_c")
            make_advisor(session, "boss", is_supervisor=True)
            _escalate(session, settings, TUESDAY_10, client_id="wm_x", owner="adv_b")  # adv_b has one open
            client = make_client(session, "wm1", advisor_userid="adv_a")
            advisor, working = esc.route(session=session, client=client, now=TUESDAY_10, tz=settings.tz)
            assert (advisor.wecom_userid, working) == ("adv_c", True)

    def test_nobody_on_duty_keeps_the_owner(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            make_advisor(session, "adv_b")
            client = make_client(session, "wm1", advisor_userid="adv_a")
            advisor, working = esc.route(session=session, client=client, now=TUESDAY_22, tz=settings.tz)
            assert (advisor.wecom_userid, working) == ("adv_a", False)

    def test_working_hours_follow_the_market_calendar(self, settings):  # type: ignore[no-untyped-def]
        from bot.models import Advisor

        advisor = Advisor(wecom_userid="a")
        assert esc.on_duty(advisor, local(2026, 10, 8, 10), tz=settings.tz)  # first trading day after 国庆
        assert not esc.on_duty(advisor, local(2026, 10, 5, 10), tz=settings.tz)  # Monday in the 国庆 closure
        assert esc.next_on_duty(advisor, local(2026, 10, 5, 10), tz=settings.tz) == local(2026, 10, 8, 9)


class TestEscalate:
    def test_in_hours_routes_notifies_and_keeps_kf_with_the_api(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_10)
            assert escalation.advisor_userid == "adv_a"
            assert escalation.first_response_due_at == TUESDAY_10 + timedelta(minutes=15)
            cards = _outbox(session, OutboxKind.app_message)
            assert len(cards) == 1 and cards[0].target == "adv_a"
            content = cards[0].payload["content"]
            assert cards[0].payload["msgtype"] == "textcard"
            assert content["url"] == f"http://127.0.0.1:8000/console/escalations/{escalation.id}"
            assert len(content["description"].encode()) <= 512
            assert _outbox(session, OutboxKind.service_state) == []
            reply = _outbox(session, OutboxKind.kf_text)[0]
            assert reply.payload["text"] == canned("escalation_holding_in_hours")

    def test_after_hours_holding_reply_says_when(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_22)
            reply = _outbox(session, OutboxKind.kf_text)[0]
            assert "非工作时间" in reply.payload["text"] and "12月02日 09:00" in reply.payload["text"]
            assert session.get(Message, reply.message_id).text == reply.payload["text"]
            assert escalation.first_response_due_at == local(2026, 12, 2, 9, 15)


    def test_no_draft_gets_the_reviewed_opening_line(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a", name="王顾问")
            escalation = _escalate(session, settings, TUESDAY_10, draft=None)
            assert escalation.draft_text == canned("advisor_draft_opening", advisor="王顾问")
            assert "draft:canned" in escalation.draft_flags

    def test_other_replies_are_left_alone(self, store, settings):  # type: ignore[no-untyped-def]
        from bot import outbox

        with store.session() as session:
            make_advisor(session, "adv_a")
            client = make_client(session, "wm9", advisor_userid="adv_a")
            conversation = make_conversation(session, "wm9", last_client_message_at=TUESDAY_22)
            message = make_inbound(session, conversation, "？", TUESDAY_22)
            outbox.enqueue(session=session, kind=OutboxKind.kf_text, key=f"reply-{message.id}", target="wm9",
                           payload={"open_kfid": "k", "text": canned("apology_error")}, conversation_id=conversation.id)
            outcome = Outcome(action=Action.escalate, reply=canned("apology_error"), reason=EscalationReason.error)
            esc.escalate(session=session, conversation=conversation, message=message, outcome=outcome, client=client,
                         now=TUESDAY_22, settings=settings)
            assert _outbox(session, OutboxKind.kf_text)[0].payload["text"] == canned("apology_error")


class TestAdvisorActions:
    def test_claim_send_draft_resolve(self, store, settings):  # type: ignore[no-untyped-def]
        gate = FakeGate(disclosure="（投资有风险）")
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_10)
            esc.claim(session=session, escalation_id=escalation.id, staff_userid="adv_a", now=TUESDAY_10)
            result = esc.send_reply(session=session, escalation_id=escalation.id, staff_userid="adv_a", gate=gate,
                                    now=TUESDAY_10 + timedelta(minutes=2))
            assert result.status == "queued" and result.text.endswith("（投资有风险）")
            sent = _outbox(session, OutboxKind.kf_text)[-1]
            assert sent.payload["text"] == result.text and sent.target == "wm_c1"
            assert escalation.status == EscalationStatus.replied
            assert escalation.first_response_at == TUESDAY_10 + timedelta(minutes=2)
            esc.resolve(session=session, escalation_id=escalation.id, staff_userid="adv_a", outcome="已解答",
                        now=TUESDAY_10 + timedelta(minutes=5))
            conversation = session.get(__import__("bot.models", fromlist=["Conversation"]).Conversation,
                                       escalation.conversation_id)
            assert escalation.status == EscalationStatus.resolved and conversation.state == ConversationState.bot
            detail = esc.get_detail(session=session, escalation_id=escalation.id, now=TUESDAY_10, settings=settings)
            assert [h.action for h in detail.history] == ["create", "claim", "reply", "resolve"]

    def test_blocked_edit_is_refused_with_a_hint(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_10)
            before = len(_outbox(session, OutboxKind.kf_text))
            result = esc.send_reply(session=session, escalation_id=escalation.id, staff_userid="adv_a",
                                    gate=FakeGate(), now=TUESDAY_10, text="这只基金保证收益8%")
            assert result.status == "refused" and result.rewrite_hint and "保证收益" in result.reason
            assert len(_outbox(session, OutboxKind.kf_text)) == before
            assert escalation.status == EscalationStatus.open

    def test_closed_window_is_respected(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_10)
            with pytest.raises(ConflictError, match="window"):
                esc.send_reply(session=session, escalation_id=escalation.id, staff_userid="adv_a", gate=FakeGate(),
                               now=TUESDAY_10 + timedelta(hours=49))

    def test_window_counts_queued_messages(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_10)
            detail = esc.get_detail(session=session, escalation_id=escalation.id, now=TUESDAY_10)
            assert detail.window.open and detail.window.messages_left == 4 and detail.window.pending == 1
            for n in range(4):
                esc.send_reply(session=session, escalation_id=escalation.id, staff_userid="adv_a", gate=FakeGate(),
                               now=TUESDAY_10, text=f"第{n}条")
            with pytest.raises(ConflictError):
                esc.send_reply(session=session, escalation_id=escalation.id, staff_userid="adv_a", gate=FakeGate(),
                               now=TUESDAY_10, text="第6条")

    def test_other_advisor_may_not_reply(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            make_advisor(session, "adv_b")
            escalation = _escalate(session, settings, TUESDAY_10)
            with pytest.raises(ForbiddenError):
                esc.send_reply(session=session, escalation_id=escalation.id, staff_userid="adv_b", gate=FakeGate(),
                               now=TUESDAY_10)

    def test_takeover_then_hand_back_ends_the_kf_session(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_10)
            esc.takeover(session=session, escalation_id=escalation.id, staff_userid="adv_a", now=TUESDAY_10)
            with pytest.raises(ConflictError, match="WeCom"):
                esc.send_reply(session=session, escalation_id=escalation.id, staff_userid="adv_a", gate=FakeGate(),
                               now=TUESDAY_10)
            esc.hand_back(session=session, escalation_id=escalation.id, staff_userid="adv_a", now=TUESDAY_10)
            states = [(i.payload["service_state"], i.payload["servicer_userid"])
                      for i in _outbox(session, OutboxKind.service_state)]
            assert states == [(3, "adv_a"), (4, None)]
            assert escalation.status == EscalationStatus.returned

    def test_hand_back_without_takeover_needs_no_kf_call(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_10)
            esc.hand_back(session=session, escalation_id=escalation.id, staff_userid="adv_a", now=TUESDAY_10)
            assert _outbox(session, OutboxKind.service_state) == []
            with pytest.raises(ConflictError):
                esc.claim(session=session, escalation_id=escalation.id, staff_userid="adv_a", now=TUESDAY_10)


class TestSlaSweep:
    def test_renotify_then_reassign_then_supervisor(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            make_advisor(session, "adv_b")
            make_advisor(session, "boss", is_supervisor=True)
            escalation = _escalate(session, settings, TUESDAY_10)
            eid = escalation.id
        steps = [
            (TUESDAY_10 + timedelta(minutes=3), "nothing"),
            (TUESDAY_10 + timedelta(minutes=6), "renotified"),
            (TUESDAY_10 + timedelta(minutes=7), "nothing"),  # at most max_notify notifications
            (TUESDAY_10 + timedelta(minutes=16), "reassigned"),
            (TUESDAY_10 + timedelta(minutes=32), "supervised"),
            (TUESDAY_10 + timedelta(minutes=60), "nothing"),
        ]
        for now, expected in steps:
            for _ in range(2):  # the job firing twice changes nothing
                with store.session() as session:
                    report = esc.sla_sweep(session=session, now=now, settings=settings)
                    got = [name for name in ("renotified", "reassigned", "supervised") if eid in getattr(report, name)]
                    if _ == 0:
                        assert got == ([] if expected == "nothing" else [expected]), now
                    else:
                        assert got == []
        with store.session() as session:
            escalation = session.get(Escalation, eid)
            assert escalation.advisor_userid == "boss" and escalation.reassign_count == 1
            cards = [(i.target, i.payload["content"]["title"]) for i in _outbox(session, OutboxKind.app_message)]
            assert [t for t, _ in cards] == ["adv_a", "adv_a", "adv_b", "boss"]
            assert "第2次提醒" in cards[1][1] and "转派" in cards[2][1] and "主管" in cards[3][1]

    def test_claimed_but_silent_gets_one_overdue_reminder(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_10)
            esc.claim(session=session, escalation_id=escalation.id, staff_userid="adv_a", now=TUESDAY_10)
        for _ in range(2):
            with store.session() as session:
                esc.sla_sweep(session=session, now=TUESDAY_10 + timedelta(minutes=20), settings=settings)
        with store.session() as session:
            titles = [i.payload["content"]["title"] for i in _outbox(session, OutboxKind.app_message)]
            assert len(titles) == 2 and "超时提醒" in titles[1]

    def test_after_hours_escalation_waits_for_the_morning(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            make_advisor(session, "adv_b")
            _escalate(session, settings, TUESDAY_22)
        with store.session() as session:
            report = esc.sla_sweep(session=session, now=TUESDAY_22 + timedelta(hours=2), settings=settings)
            assert report == type(report)()


class TestWeComSide:
    def test_a_reply_typed_in_wecom_counts_as_the_first_response(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_10)
            esc.takeover(session=session, escalation_id=escalation.id, staff_userid="adv_a", now=TUESDAY_10)
            session.add(Message(conversation_id=escalation.conversation_id, direction="out", sender="advisor",
                                text="您好", status="sent", created_at=TUESDAY_10 + timedelta(minutes=3)))
            eid = escalation.id
        with store.session() as session:
            report = esc.sla_sweep(session=session, now=TUESDAY_10 + timedelta(minutes=30), settings=settings)
            escalation = session.get(Escalation, eid)
            assert report.reminded == [] and escalation.status == EscalationStatus.replied
            assert escalation.first_response_at == TUESDAY_10 + timedelta(minutes=3)

    def test_session_ended_in_wecom_resolves(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            escalation = _escalate(session, settings, TUESDAY_10)
            closed = esc.close_for_conversation(session=session, conversation_id=escalation.conversation_id,
                                                now=TUESDAY_10)
            assert [e.id for e in closed] == [escalation.id] and escalation.status == EscalationStatus.resolved


class TestStaffRoles:
    def test_compliance_and_ops_staff_never_receive_escalations(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "cmp_1", roles=["compliance"], capacity=50)
            make_advisor(session, "ops_1", roles=["ops"], capacity=50)
            make_advisor(session, "adv_x", roles=["advisor"])
            escalation = _escalate(session, settings, TUESDAY_10, owner="nobody")
            assert escalation.advisor_userid == "adv_x"
            with pytest.raises(ForbiddenError):
                esc.claim(session=session, escalation_id=escalation.id, staff_userid="cmp_1", now=TUESDAY_10)

    def test_a_claimed_escalation_belongs_to_its_advisor(self, store, settings):  # type: ignore[no-untyped-def]
        with store.session() as session:
            make_advisor(session, "adv_a")
            make_advisor(session, "adv_b")
            make_advisor(session, "boss", is_supervisor=True)
            escalation = _escalate(session, settings, TUESDAY_10)
            esc.claim(session=session, escalation_id=escalation.id, staff_userid="adv_a", now=TUESDAY_10)
            with pytest.raises(ForbiddenError):
                esc.claim(session=session, escalation_id=escalation.id, staff_userid="adv_b", now=TUESDAY_10)
            with pytest.raises(ForbiddenError):
                esc.get_visible_or_raise(session=session, escalation_id=escalation.id, staff_userid="adv_b")
            assert esc.get_visible_or_raise(session=session, escalation_id=escalation.id, staff_userid="boss")
