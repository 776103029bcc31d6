"""process_message: one claimed inbound message -> decision -> records, outbox items, escalation (atomically).

The decision (knowledge base, LLM, compliance) runs outside any transaction. Its results are written in one unit of
work that first checks the message is still ours (status `processing` with our attempt number), so a worker that
lost its lease never writes a second reply.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from bot import outbox
from bot.conversations import service as conversation_service
from bot.escalations import service as escalation_service
from bot.logging import log_context
from bot.models import Conversation, Direction, Message, MessageStatus, OutboxKind
from bot.pipeline.decide import Decision, decide
from bot.pipeline.schemas import Action, InboundMessage, Outcome
from compliance import service as compliance_service
from prompts import canned
from scheduler import reminders

log = logging.getLogger(__name__)

OPT_OUT_FLAG = "opt_out"
_STATUS = {Action.answer: MessageStatus.answered, Action.escalate: MessageStatus.escalated,
           Action.refuse: MessageStatus.refused}


def process_message(services, message_id: int, attempt: int) -> MessageStatus | None:  # type: ignore[no-untyped-def]
    """Decide and record the bot's response to one inbound message. Returns the final status, None if not ours."""
    with log_context(message_id=message_id):
        now = services.now()
        with services.db.session() as session:
            message = session.get(Message, message_id)
            if message is None or message.status != MessageStatus.processing or message.attempts != attempt:
                return None
            ctx = conversation_service.build_context(session=session, message=message, now=now)
            conversation = session.get(Conversation, message.conversation_id)
            inbound = InboundMessage(
                message_id=message.id, conversation_id=message.conversation_id, wecom_msgid=message.wecom_msgid,
                wecom_external_userid=conversation.wecom_external_userid, open_kfid=conversation.open_kfid,
                kind=message.kind, text=message.text, sent_at=message.created_at,
            )
        with log_context(conversation_id=inbound.conversation_id):
            decision = _decide(services, inbound, ctx)
            with services.db.session() as session:
                message = session.get(Message, message_id)
                if message is None or message.status != MessageStatus.processing or message.attempts != attempt:
                    log.info("message.lost_lease")
                    return None
                status = apply_decision(session=session, services=services, message=message, decision=decision)
            log.info("message.processed action=%s", decision.outcome.action)
            return status


def _decide(services, inbound: InboundMessage, ctx) -> Decision:  # type: ignore[no-untyped-def]
    if reminders.is_opt_out(inbound.text):
        outcome = Outcome(action=Action.answer, reply=canned("reminder_opt_out_confirm"), flags=(OPT_OUT_FLAG,))
        return Decision(outcome, services.gate.check_inbound("", ctx), services.gate.check_outbound(outcome.reply, ctx))
    if inbound.kind != "text":
        outcome = Outcome(action=Action.answer, reply=canned("unsupported_kind"))
        return Decision(outcome, services.gate.check_inbound("", ctx), services.gate.check_outbound(outcome.reply, ctx))
    return decide(inbound, ctx, answerer=services.answerer, gate=services.gate)


def apply_decision(*, session: Session, services, message: Message, decision: Decision) -> MessageStatus:  # type: ignore[no-untyped-def]
    """Write the reply (outbound message + outbox item), the escalation and the compliance records."""
    now = services.now()
    outcome = decision.outcome
    conversation = session.get(Conversation, message.conversation_id)
    reply = Message(
        conversation_id=conversation.id,
        direction=Direction.outbound,
        sender="bot",
        kind="text",
        text=outcome.reply,
        status=MessageStatus.pending,
        action=outcome.action,
        sources=[s.model_dump() for s in outcome.sources],
        confidence=outcome.confidence,
        flags=list(outcome.flags),
        prompt_version=outcome.prompt_version,
        created_at=now,
    )
    session.add(reply)
    session.flush()
    outbox.enqueue(
        session=session,
        kind=OutboxKind.kf_text,
        key=f"reply-{message.id}",
        target=conversation.wecom_external_userid,
        payload={"open_kfid": conversation.open_kfid, "text": outcome.reply},
        conversation_id=conversation.id,
        message_id=reply.id,
    )
    if outcome.action == Action.escalate:
        client = conversation_service.get_client(session=session, external_userid=conversation.wecom_external_userid)
        escalation_service.escalate(
            session=session, conversation=conversation, message=message, outcome=outcome, client=client, now=now,
            settings=services.settings,
        )
    if OPT_OUT_FLAG in outcome.flags:
        reminders.handle_opt_out_keyword(
            session=session, external_userid=conversation.wecom_external_userid, text=message.text, now=now
        )
    compliance_service.record_decision(session=session, message=message, reply=reply, decision=decision, now=now)
    status = _STATUS[outcome.action]
    message.status = status
    message.action = outcome.action
    message.flags = list(outcome.flags)
    message.processed_at = now
    message.lease_until = None
    session.add(message)
    return status
