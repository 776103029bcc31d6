"""Escalation service (first slice): record the escalation, pick an advisor, hand over the kf session, notify.

Everything WeCom-bound goes through the outbox in the caller's transaction, so an escalation is atomic with the
message that caused it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, func, select

from bot import outbox
from bot.models import (
    Advisor,
    Client,
    Conversation,
    ConversationState,
    Escalation,
    EscalationStatus,
    Message,
    OutboxKind,
)
from bot.pipeline.schemas import Outcome
from prompts import canned

KF_STATE_HUMAN = 3
OPEN_STATUSES = (EscalationStatus.open, EscalationStatus.claimed, EscalationStatus.replied)


def pick_advisor(*, session: Session, client: Client | None) -> Advisor | None:
    """The client's own advisor when active, otherwise the active advisor with the fewest open escalations."""
    if client is not None and client.advisor_userid:
        owner = session.exec(
            select(Advisor).where(Advisor.wecom_userid == client.advisor_userid, Advisor.active)
        ).first()
        if owner is not None:
            return owner
    load = (
        select(Escalation.advisor_userid, func.count().label("n"))
        .where(Escalation.status.in_(OPEN_STATUSES))
        .group_by(Escalation.advisor_userid)
        .subquery()
    )
    row = session.exec(
        select(Advisor)
        .outerjoin(load, load.c.advisor_userid == Advisor.wecom_userid)
        .where(Advisor.active, ~Advisor.is_supervisor)
        .order_by(func.coalesce(load.c.n, 0), Advisor.id)
    ).first()
    return row


def escalate(
    *,
    session: Session,
    conversation: Conversation,
    message: Message | None,
    outcome: Outcome,
    client: Client | None,
    now: datetime,
) -> Escalation:
    """Create the escalation, route it, hand the kf session to the advisor and tell them by app message."""
    advisor = pick_advisor(session=session, client=client)
    draft = outcome.draft
    escalation = Escalation(
        conversation_id=conversation.id,
        message_id=message.id if message else None,
        reason=outcome.reason,
        detail=outcome.detail[:500],
        advisor_userid=advisor.wecom_userid if advisor else None,
        draft_text=draft.text if draft else "",
        draft_flags=list(outcome.flags),
        sources=[s.model_dump() for s in outcome.sources],
        client_snapshot=client.model_dump(mode="json", exclude={"id"}) if client else {},
        created_at=now,
        last_notified_at=now if advisor else None,
        notify_count=1 if advisor else 0,
    )
    session.add(escalation)
    session.flush()
    conversation.state = ConversationState.waiting_human
    conversation.advisor_userid = escalation.advisor_userid
    conversation.updated_at = now
    session.add(conversation)
    if advisor is not None:
        outbox.enqueue(
            session=session,
            kind=OutboxKind.service_state,
            key=f"esc{escalation.id}-trans",
            target=conversation.wecom_external_userid,
            payload={
                "open_kfid": conversation.open_kfid,
                "service_state": KF_STATE_HUMAN,
                "servicer_userid": advisor.wecom_userid,
            },
            conversation_id=conversation.id,
        )
        outbox.enqueue(
            session=session,
            kind=OutboxKind.app_message,
            key=f"esc{escalation.id}-notify1",
            target=advisor.wecom_userid,
            payload={
                "msgtype": "text",
                "content": {
                    "content": canned(
                        "advisor_new_escalation",
                        client=(client.name if client and client.name else conversation.wecom_external_userid),
                        reason=escalation.reason,
                        text=(message.text if message else "")[:300],
                    )
                },
            },
            conversation_id=conversation.id,
        )
    session.flush()
    return escalation
