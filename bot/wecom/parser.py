"""Decrypted callback XML -> CallbackEvent. Unknown message or event types are kept as they are, never raised on.

For 微信客服 the callback is an event `kf_msg_or_event` carrying only `Token` and `OpenKfId`; the messages themselves
are pulled with kf/sync_msg. Other callbacks (app messages, contact changes) keep their fields in `raw`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.wecom.crypto import MalformedMessageError, parse_xml

KF_MSG_OR_EVENT = "kf_msg_or_event"


@dataclass(frozen=True)
class CallbackEvent:
    msg_type: str  # "event", "text", ... ("" when absent)
    event: str | None  # Event of msg_type "event", lower-cased ("kf_msg_or_event", "change_external_contact")
    token: str | None  # kf_msg_or_event: the sync_msg token (valid 10 minutes)
    open_kfid: str | None  # kf_msg_or_event: the kf account
    create_time: int | None
    to_user: str | None  # the corp id
    from_user: str | None = None
    agent_id: str | None = None
    msg_id: str | None = None
    content: str | None = None  # text messages to the app
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_kf(self) -> bool:
        return self.msg_type == "event" and self.event == KF_MSG_OR_EVENT


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # an element with attributes: {"@attr": ..., "#text": ...}
        inner = value.get("#text")
        return inner if isinstance(inner, str) else None
    return None


def parse_callback(xml: str | bytes) -> CallbackEvent:
    """Parse a decrypted callback. Raises MalformedMessageError only when it is not XML with an <xml> root."""
    doc = parse_xml(xml)
    msg_type = (_text(doc.get("MsgType")) or "").strip().lower()
    event = _text(doc.get("Event"))
    create_time_text = (_text(doc.get("CreateTime")) or "").strip()
    try:
        create_time = int(create_time_text) if create_time_text else None
    except ValueError:
        raise MalformedMessageError("CreateTime is not an integer") from None
    return CallbackEvent(
        msg_type=msg_type,
        event=event.strip().lower() if event else None,
        token=_text(doc.get("Token")),
        open_kfid=_text(doc.get("OpenKfId")),
        create_time=create_time,
        to_user=_text(doc.get("ToUserName")),
        from_user=_text(doc.get("FromUserName")),
        agent_id=_text(doc.get("AgentID")),
        msg_id=_text(doc.get("MsgId")),
        content=_text(doc.get("Content")),
        raw=dict(doc),
    )
