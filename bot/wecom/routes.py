"""The WeCom callback edge: GET URL verification, POST verify -> decrypt -> store durably -> `success`.

Nothing else happens inside the request: no knowledge base, LLM or WeCom API call. Bad input gets a 4xx and changes
nothing: oversized (413), missing or malformed parameters or body (400), bad signature, wrong corp id or a stale
timestamp (403). A callback WeCom delivers again (retry or duplicate) has the same decrypted content, hence the same
dedupe key, and is acknowledged without storing a second event.
"""

from __future__ import annotations

import hashlib
import logging
import time

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from bot.errors import BadRequestError, ForbiddenError, PayloadTooLargeError
from bot.models import InboundEvent
from bot.wecom.crypto import WeComCrypto
from bot.wecom.parser import CallbackEvent, parse_callback

log = logging.getLogger(__name__)

router = APIRouter(prefix="/wecom", tags=["wecom"])


def _crypto(request: Request) -> WeComCrypto:
    crypto = getattr(request.app.state, "wecom_crypto", None)
    if crypto is None:
        wecom = request.app.state.services.settings.wecom
        crypto = WeComCrypto(wecom.token.get_secret_value(), wecom.aes_key.get_secret_value(), wecom.corp_id)
        request.app.state.wecom_crypto = crypto
    return crypto


def _check_timestamp(request: Request, timestamp: str) -> None:
    try:
        ts = int(timestamp)
    except ValueError:
        raise BadRequestError("timestamp is not an integer") from None
    max_age = request.app.state.services.settings.scrm_callback_max_age_s
    if abs(time.time() - ts) > max_age:
        raise ForbiddenError("stale or future timestamp")


@router.get("/callback", response_class=PlainTextResponse)
def verify_url(
    request: Request,
    msg_signature: str = Query(..., max_length=128),
    timestamp: str = Query(..., max_length=16),
    nonce: str = Query(..., max_length=64),
    echostr: str = Query(..., max_length=1024),
) -> str:
    """WeCom's URL verification: check the signature, decrypt echostr and return it in plain text."""
    _check_timestamp(request, timestamp)
    return _crypto(request).verify_url(msg_signature, timestamp, nonce, echostr)


@router.post("/callback", response_class=PlainTextResponse)
async def receive_callback(
    request: Request,
    msg_signature: str = Query(..., max_length=128),
    timestamp: str = Query(..., max_length=16),
    nonce: str = Query(..., max_length=64),
) -> str:
    """Verify, decrypt, store the event once, acknowledge."""
    services = request.app.state.services
    limit = services.settings.scrm_callback_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLargeError("callback body too large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLargeError("callback body too large")
    if not body:
        raise BadRequestError("empty body")
    _check_timestamp(request, timestamp)
    xml = _crypto(request).decrypt(bytes(body), msg_signature, timestamp, nonce)
    event = parse_callback(xml)
    created = await run_in_threadpool(_store_event, services, event, xml)
    if created:
        services.wake()
    return "success"


def _event_kind(event: CallbackEvent) -> str:
    if event.msg_type == "event":
        return event.event or "event"
    return event.msg_type or "unknown"


def _store_event(services, event: CallbackEvent, xml: str) -> bool:  # type: ignore[no-untyped-def]
    """Insert the event unless its dedupe key is known. Returns True when a new event was stored."""
    dedupe_key = "cb:" + hashlib.sha256(xml.encode("utf-8")).hexdigest()
    kind = _event_kind(event)
    payload = {
        "token": event.token,
        "open_kfid": event.open_kfid,
        "create_time": event.create_time,
        "to_user": event.to_user,
        "msg_type": event.msg_type,
        "event": event.event,
    }
    try:
        with services.db.session() as session:
            session.add(
                InboundEvent(dedupe_key=dedupe_key, kind=kind, partition_key=event.open_kfid or kind,
                             payload=payload, created_at=services.now())
            )
    except IntegrityError:
        log.info("callback.duplicate kind=%s", kind)
        return False
    log.info("callback.stored kind=%s", kind)
    return True
