"""Conversations and messages: record what comes in, read context, track the kf send window."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.models import (
    Client,
    Conversation,
    ConversationState,
    Direction,
    Message,
    MessageStatus,
)
from bot.pipeline.schemas import ClientProfile, Context, Turn

KF_WINDOW = timedelta(hours=48)
KF_WINDOW_MESSAGES = 5
HISTORY_TURNS = 8


def get_or_create_conversation(
    *, session: Session, open_kfid: str, external_userid: str, now: datetime
) -> Conversation:
    """The conversation of this client with this kf account, created on first contact."""
    stmt = select(Conversation).where(
        Conversation.open_kfid == open_kfid, Conversation.wecom_external_userid == external_userid
    )
    conversation = session.exec(stmt).first()
    if conversation is not None:
        return conversation
    conversation = Conversation(open_kfid=open_kfid, wecom_external_userid=external_userid, created_at=now,
                                updated_at=now)
    try:
        with session.begin_nested():
            session.add(conversation)
            session.flush()
    except IntegrityError:
        conversation = session.exec(stmt).one()
    return conversation


def get_message_by_wecom_msgid(*, session: Session, wecom_msgid: str) -> Message | None:
    return session.exec(select(Message).where(Message.wecom_msgid == wecom_msgid)).first()


def record_inbound(
    *,
    session: Session,
    open_kfid: str,
    external_userid: str,
    wecom_msgid: str,
    kind: str,
    text: str,
    sent_at: datetime,
    now: datetime,
) -> Message | None:
    """Store a client's message once (dedupe by WeCom msgid). Returns None for a message already stored."""
    if get_message_by_wecom_msgid(session=session, wecom_msgid=wecom_msgid) is not None:
        return None
    conversation = get_or_create_conversation(
        session=session, open_kfid=open_kfid, external_userid=external_userid, now=now
    )
    # A new client message reopens the kf window: 48 h and 5 messages from now on.
    if conversation.last_client_message_at is None or sent_at >= conversation.last_client_message_at:
        conversation.last_client_message_at = sent_at
        conversation.window_sent = 0
    conversation.updated_at = now
    status = MessageStatus.received if conversation.state == ConversationState.bot else MessageStatus.skipped
    message = Message(
        conversation_id=conversation.id,
        direction=Direction.inbound,
        sender="client",
        kind=kind,
        text=text,
        wecom_msgid=wecom_msgid,
        status=status,
        created_at=sent_at,
    )
    try:
        with session.begin_nested():
            session.add(message)
            session.add(conversation)
            session.flush()
    except IntegrityError:
        return None
    return message


def record_servicer_message(
    *, session: Session, open_kfid: str, external_userid: str, servicer_userid: str, wecom_msgid: str,
    text: str, sent_at: datetime, now: datetime,
) -> Message | None:
    """Store a reply an advisor typed in WeCom itself (sync_msg origin 5), for the transcript."""
    if get_message_by_wecom_msgid(session=session, wecom_msgid=wecom_msgid) is not None:
        return None
    conversation = get_or_create_conversation(
        session=session, open_kfid=open_kfid, external_userid=external_userid, now=now
    )
    message = Message(
        conversation_id=conversation.id, direction=Direction.outbound, sender="advisor", kind="text", text=text,
        wecom_msgid=wecom_msgid, status=MessageStatus.sent, created_at=sent_at, sent_at=sent_at,
        flags=[f"servicer:{servicer_userid}"],
    )
    session.add(message)
    session.flush()
    return message


def get_client(*, session: Session, external_userid: str) -> Client | None:
    return session.exec(select(Client).where(Client.wecom_external_userid == external_userid)).first()


def client_profile(client: Client | None, external_userid: str) -> ClientProfile:
    if client is None:
        return ClientProfile(external_userid=external_userid)
    return ClientProfile(
        external_userid=client.wecom_external_userid,
        name=client.name,
        risk_level=client.risk_level,
        risk_assessment_expires=client.risk_assessment_expires,
        asset_tier=client.asset_tier,
        advisor_userid=client.advisor_userid,
        tags=tuple(client.tags or ()),
        holdings=tuple(client.holdings or ()),
        opted_out=client.opted_out,
    )


def recent_turns(*, session: Session, conversation_id: int, before_id: int, limit: int = HISTORY_TURNS) -> list[Turn]:
    """The last turns before a message, oldest first (what the client said and what they were told)."""
    rows = session.exec(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.id < before_id)
        .where(col(Message.status).in_([
            MessageStatus.answered, MessageStatus.escalated, MessageStatus.refused, MessageStatus.skipped,
            MessageStatus.sent, MessageStatus.pending, MessageStatus.failed,
        ]))
        .order_by(col(Message.id).desc())
        .limit(limit)
    ).all()
    role = {"client": "client", "bot": "bot", "advisor": "advisor"}
    return [
        Turn(role=role.get(m.sender, "bot"), text=m.text, at=m.created_at)  # type: ignore[arg-type]
        for m in reversed(rows)
        if m.sender in role and m.text
    ]


def build_context(*, session: Session, message: Message, now: datetime) -> Context:
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    client = get_client(session=session, external_userid=conversation.wecom_external_userid)
    return Context(
        client=client_profile(client, conversation.wecom_external_userid),
        history=tuple(recent_turns(session=session, conversation_id=conversation.id, before_id=message.id)),
        now=now,
        conversation_id=conversation.id,
    )


def window_remaining(conversation: Conversation, now: datetime) -> int:
    """How many kf messages may still be sent to this client now (0 when the 48 h window is closed)."""
    if conversation.last_client_message_at is None or now - conversation.last_client_message_at > KF_WINDOW:
        return 0
    return max(0, KF_WINDOW_MESSAGES - conversation.window_sent)
