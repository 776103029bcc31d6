"""Every table model, imported here so SQLModel.metadata is complete (Alembic and create_all rely on it)."""

from bot.models.base import UTCDateTime, utcnow
from bot.models.contact import Advisor, Client
from bot.models.compliance import ComplianceFlag, ReviewStatus  # noqa: F401
from bot.models.conversation import Conversation, ConversationState, Direction, Message, MessageStatus
from bot.models.escalation import Escalation, EscalationReason, EscalationStatus
from bot.models.event import AccessToken, EventStatus, InboundEvent, KfCursor
from bot.models.kb import ArticleKind, ChunkKind, KBArticle, KBArticleVersion, KBChunk, VersionStatus  # noqa: F401
from bot.models.outbox import OutboxItem, OutboxKind, OutboxStatus
from bot.models.reminder import Campaign, DeliveryChannel, EscalationLog, OptOut, ReminderDelivery, ReminderEvent  # noqa: F401

__all__ = [
    "AccessToken",
    "Advisor",
    "Client",
    "Conversation",
    "ConversationState",
    "Direction",
    "Escalation",
    "EscalationReason",
    "EscalationStatus",
    "EventStatus",
    "InboundEvent",
    "KfCursor",
    "Message",
    "MessageStatus",
    "OutboxItem",
    "OutboxKind",
    "OutboxStatus",
    "UTCDateTime",
    "utcnow",
]
