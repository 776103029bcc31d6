"""The WeCom API client: a small Protocol the rest of the product depends on, and the wechatpy-backed adapter.

Every call goes to `WECOM_API_BASE` (the real API, or the simulator on loopback). The adapter:

- keeps the access_token in memory and in the `access_token` table, so every process shares one token; a refresh takes
  a lock row (`lock_owner`/`lock_until`), so one process calls gettoken while the others wait briefly and re-read;
- on 40014/42001/40001 (token invalid or expired) invalidates the token, refreshes once and retries the call once;
- retries transient failures (-1 system busy, 45009/45011/45033 rate limits, HTTP 5xx/429, connection errors and
  timeouts) with exponential backoff, then raises `WeComTransientError`;
- maps every other non-zero errcode to `WeComAPIError(errcode, errmsg, api=...)`, and the kf send window errcodes to
  `WeComWindowClosedError`. No wechatpy or requests exception leaves this module.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import requests
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from wechatpy.exceptions import WeChatClientException
from wechatpy.work import WeChatClient

from bot.config import WeComSettings
from bot.db import Database
from bot.errors import WeComAPIError, WeComTransientError, WeComWindowClosedError
from bot.models.event import AccessToken
from bot.wecom.textsplit import WECOM_TEXT_MAX_BYTES, shorten_utf8, utf8_len

log = logging.getLogger(__name__)

# errcodes (developer.work.weixin.qq.com/document/path/90313)
SYSTEM_BUSY = -1
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})  # invalid credential, invalid access_token, access_token expired
TRANSIENT_ERRCODES = frozenset({SYSTEM_BUSY, 45009, 45011, 45033})  # busy, frequency limits, concurrency limit
# kf/send_msg: 95001 too many messages in the window, 95002 outside the 48 h window, 95018 the session is not in a
# state where the API may send (it is queued for or held by a human, or ended).
WINDOW_ERRCODES = frozenset({95001, 95002, 95018})
KF_INVALID_MSGTOKEN = 95007  # the callback token of sync_msg expired (10 minutes) or is unknown

KF_MSGID = re.compile(r"^[0-9a-zA-Z_-]{1,32}$")
APP_MSGTYPES = frozenset({"text", "markdown", "textcard", "template_card"})
MSG_TEMPLATE_MAX_BYTES = 4000


@dataclass(frozen=True)
class SyncResult:
    """One page of kf/sync_msg."""

    next_cursor: str
    has_more: bool
    msg_list: list[dict] = field(default_factory=list)


class WeComClient(Protocol):
    """What the product needs from WeCom. The simulator-backed tests and production use the same adapter."""

    def get_access_token(self) -> str: ...

    def sync_msg(
        self, *, token: str | None, cursor: str, limit: int = 1000, open_kfid: str | None = None
    ) -> SyncResult: ...

    def send_kf_text(self, *, open_kfid: str, external_userid: str, text: str, msgid: str) -> str: ...

    def send_kf_event_text(self, *, code: str, text: str, msgid: str) -> str: ...

    def get_service_state(self, *, open_kfid: str, external_userid: str) -> tuple[int, str | None]: ...

    def trans_service_state(
        self, *, open_kfid: str, external_userid: str, state: int, servicer_userid: str | None = None
    ) -> str | None: ...

    def send_app_message(self, *, touser: str, msgtype: str, content: dict) -> str: ...

    def add_msg_template(self, *, sender: str, external_userids: list[str], text: str) -> dict: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Transient(Exception):
    """Internal: a failure worth another attempt."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


class _TokenError(Exception):
    """Internal: WeCom rejected the access_token we used."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


class _Wechatpy(WeChatClient):
    """wechatpy's work client pointed at WECOM_API_BASE. Tokens come from `_TokenManager`, never fetched implicitly."""

    def __init__(self, api_base: str, corp_id: str, secret: str, timeout: float) -> None:
        super().__init__(corp_id, secret, timeout=timeout, auto_retry=False)
        self.api_base = api_base.rstrip("/")
        self.API_BASE_URL = f"{self.api_base}/cgi-bin/"

    def fetch_access_token(self) -> dict:  # wechatpy's hard-codes qyapi.weixin.qq.com and has no timeout
        try:
            res = self._http.get(
                f"{self.API_BASE_URL}gettoken",
                params={"corpid": self.corp_id, "corpsecret": self.secret},
                timeout=self.timeout,
            )
            res.raise_for_status()
            result = self._handle_result(res)
        except requests.HTTPError as exc:
            raise _http_error("gettoken", exc.response.status_code if exc.response is not None else 0) from None
        except requests.RequestException as exc:
            raise _Transient(SYSTEM_BUSY, f"network error: {type(exc).__name__}") from None
        except WeChatClientException as exc:
            raise _map_error("gettoken", exc.errcode, exc.errmsg) from None
        if not isinstance(result, dict):
            raise _Transient(SYSTEM_BUSY, "gettoken response is not JSON")
        return result

    @property
    def access_token(self) -> str:  # never let wechatpy fetch on its own
        raise AttributeError("access_token is passed explicitly by WechatpyWeComClient")


class _TokenManager:
    """One access_token (per corp id + secret), cached in memory and shared through the `access_token` table."""

    MARGIN_S = 300  # refresh this long before WeCom's expiry (at most a tenth of the token's lifetime)
    LOCK_TTL = timedelta(seconds=30)  # a refresher that died releases its lock after this

    def __init__(
        self,
        *,
        key: str,
        fetch: Callable[[], dict],
        db: Database | None,
        clock: Callable[[], datetime],
        wait_s: float,
        poll_s: float,
    ) -> None:
        self.key = key
        self._fetch = fetch
        self._db = db
        self._clock = clock
        self._wait_s = wait_s
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.fetches = 0  # gettoken calls made by this process (for tests and metrics)

    def _fresh(self, token: str | None, expires_at: datetime | None) -> bool:
        # expires_at (here and in the table) is when to refresh: a little before WeCom's own expiry.
        return bool(token) and expires_at is not None and expires_at > self._clock()

    def get(self) -> str:
        token, expires_at = self._token, self._expires_at
        if self._fresh(token, expires_at):
            return token  # type: ignore[return-value]
        with self._lock:
            if self._fresh(self._token, self._expires_at):
                return self._token  # type: ignore[return-value]
            token, expires_at = self._refresh()
            self._token, self._expires_at = token, expires_at
            return token

    def invalidate(self, token: str) -> None:
        """Forget a token WeCom rejected, here and in the database (unless another process already replaced it)."""
        with self._lock:
            if self._token == token:
                self._token, self._expires_at = None, None
        if self._db is None:
            return
        with self._db.session() as session:
            row = self._locked_row(session)
            if row is not None and row.token == token:
                row.expires_at = None
                session.add(row)

    # Internals ------------------------------------------------------------------------------------------------

    def _locked_row(self, session) -> AccessToken | None:  # type: ignore[no-untyped-def]
        stmt = select(AccessToken).where(AccessToken.key == self.key)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()  # wait for the other refresher, don't skip
        return session.exec(stmt).first()

    def _refresh(self) -> tuple[str, datetime]:
        if self._db is None:
            return self._fetch_token()
        deadline = time.monotonic() + self._wait_s
        while True:
            state = self._claim()
            if isinstance(state, tuple):
                return state  # another process refreshed it meanwhile
            if state:
                break  # we hold the refresh lock
            if time.monotonic() >= deadline:
                log.warning("wecom.token.lock_wait_expired key=%s", self.key)
                break  # the holder is slow or gone: fetch anyway rather than stall the caller
            time.sleep(self._poll_s)
        try:
            token, expires_at = self._fetch_token()
        except BaseException:
            try:
                self._release(None, None)
            except Exception:  # keep the fetch error; the lock expires by itself (LOCK_TTL)
                log.warning("wecom.token.release_failed key=%s", self.key, exc_info=True)
            raise
        self._release(token, expires_at)
        return token, expires_at

    def _claim(self) -> bool | tuple[str, datetime]:
        """A valid stored token, or True when we took the refresh lock, or False when someone else holds it."""
        now = self._clock()
        try:
            with self._db.session() as session:  # type: ignore[union-attr]
                row = self._locked_row(session)
                if row is None:
                    row = AccessToken(key=self.key)
                if self._fresh(row.token, row.expires_at):
                    return row.token, row.expires_at  # type: ignore[return-value]
                if row.lock_owner and row.lock_owner != self._owner and row.lock_until and row.lock_until > now:
                    return False
                row.lock_owner = self._owner
                row.lock_until = now + self.LOCK_TTL
                session.add(row)
            return True
        except IntegrityError:  # two processes inserted the first row at once: the other one won
            return False

    def _release(self, token: str | None, expires_at: datetime | None) -> None:
        with self._db.session() as session:  # type: ignore[union-attr]
            row = self._locked_row(session) or AccessToken(key=self.key)
            if token is not None:
                row.token = token
                row.expires_at = expires_at
            if row.lock_owner == self._owner or token is not None:
                row.lock_owner = None
                row.lock_until = None
            session.add(row)

    def _fetch_token(self) -> tuple[str, datetime]:
        result = self._fetch()
        self.fetches += 1
        token = str(result.get("access_token", ""))
        if not token:
            raise _Transient(SYSTEM_BUSY, "gettoken returned no access_token")
        expires_in = int(result.get("expires_in", 7200) or 7200)
        margin = min(self.MARGIN_S, expires_in // 10)
        log.info("wecom.token.refreshed key=%s expires_in=%s", self.key, expires_in)
        return token, self._clock() + timedelta(seconds=expires_in - margin)


class WechatpyWeComClient:
    """WeComClient over wechatpy 2.0 (`wechatpy.work`), on `settings.api_base`."""

    def __init__(
        self,
        settings: WeComSettings,
        db: Database | None,
        *,
        clock: Callable[[], datetime] | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        token_wait_s: float = 10.0,
        token_poll_s: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.agent_id = settings.agent_id
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        clock = clock or _utcnow
        app_secret = settings.secret.get_secret_value()
        kf_secret = settings.kf_secret.get_secret_value() if settings.kf_secret else ""
        self._app = _Wechatpy(settings.api_base, settings.corp_id, app_secret, timeout)
        self._app_tokens = _TokenManager(
            key=_token_key(settings.corp_id, app_secret), fetch=self._app.fetch_access_token, db=db, clock=clock,
            wait_s=token_wait_s, poll_s=token_poll_s,
        )
        if kf_secret and kf_secret != app_secret:
            self._kf = _Wechatpy(settings.api_base, settings.corp_id, kf_secret, timeout)
            self._kf_tokens = _TokenManager(
                key=_token_key(settings.corp_id, kf_secret), fetch=self._kf.fetch_access_token, db=db, clock=clock,
                wait_s=token_wait_s, poll_s=token_poll_s,
            )
        else:
            self._kf, self._kf_tokens = self._app, self._app_tokens

    # Tokens ---------------------------------------------------------------------------------------------------

    def get_access_token(self) -> str:
        """The app's access_token (cached, shared through the database, refreshed by one process at a time)."""
        return self._with_retries("gettoken", self._app_tokens.get)

    @property
    def token_fetches(self) -> int:
        """How many times this client called gettoken (both secrets)."""
        kf = self._kf_tokens.fetches if self._kf_tokens is not self._app_tokens else 0
        return self._app_tokens.fetches + kf

    # 微信客服 -------------------------------------------------------------------------------------------------

    def sync_msg(
        self, *, token: str | None, cursor: str, limit: int = 1000, open_kfid: str | None = None
    ) -> SyncResult:
        """One page of kf/sync_msg from `cursor`. The caller loops while has_more and persists next_cursor.

        A callback token that expired (95007) is dropped and the page is read without it (allowed, more tightly
        rate-limited), so a retried event older than 10 minutes still gets its messages.
        """
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be within 1..1000")
        data: dict[str, Any] = {"cursor": cursor or "", "limit": limit}
        if token:
            data["token"] = token
        if open_kfid:
            data["open_kfid"] = open_kfid
        try:
            result = self._call("kf/sync_msg", "kf/sync_msg", data=data, kf=True)
        except WeComAPIError as exc:
            if exc.errcode != KF_INVALID_MSGTOKEN or not token:
                raise
            log.info("wecom.kf.sync_msg.token_expired retrying_without_token")
            data.pop("token")
            result = self._call("kf/sync_msg", "kf/sync_msg", data=data, kf=True)
        msg_list = result.get("msg_list") or []
        return SyncResult(
            next_cursor=str(result.get("next_cursor") or ""),
            has_more=bool(int(result.get("has_more") or 0)),
            msg_list=[m for m in msg_list if isinstance(m, dict)],
        )

    def send_kf_text(self, *, open_kfid: str, external_userid: str, text: str, msgid: str) -> str:
        """kf/send_msg one text (≤ 2048 bytes) with the caller's idempotent msgid. Returns WeCom's msgid."""
        if not KF_MSGID.match(msgid):
            raise ValueError("msgid must match [0-9a-zA-Z_-]{1,32}")
        if not text:
            raise ValueError("text is empty")
        if utf8_len(text) > WECOM_TEXT_MAX_BYTES:
            raise ValueError(f"text is {utf8_len(text)} bytes; split it to {WECOM_TEXT_MAX_BYTES} first")
        data = {
            "touser": external_userid,
            "open_kfid": open_kfid,
            "msgid": msgid,
            "msgtype": "text",
            "text": {"content": text},
        }
        result = self._call("kf/send_msg", "kf/send_msg", data=data, kf=True)
        return str(result.get("msgid") or msgid)

    def send_kf_event_text(self, *, code: str, text: str, msgid: str) -> str:
        """kf/send_msg_on_event: a text answering an event code (the enter_session welcome_code, valid 20 s, once).
        Does not count against the 5-messages-in-48h window."""
        if not KF_MSGID.match(msgid):
            raise ValueError("msgid must match [0-9a-zA-Z_-]{1,32}")
        if not text or utf8_len(text) > WECOM_TEXT_MAX_BYTES:
            raise ValueError(f"text must be 1..{WECOM_TEXT_MAX_BYTES} bytes")
        data = {"code": code, "msgid": msgid, "msgtype": "text", "text": {"content": text}}
        result = self._call("kf/send_msg_on_event", "kf/send_msg_on_event", data=data, kf=True)
        return str(result.get("msgid") or msgid)

    def get_service_state(self, *, open_kfid: str, external_userid: str) -> tuple[int, str | None]:
        """kf/service_state/get: (state 0-4, servicer_userid when a human holds the session)."""
        result = self._call(
            "kf/service_state/get", "kf/service_state/get",
            data={"open_kfid": open_kfid, "external_userid": external_userid}, kf=True,
        )
        servicer = result.get("servicer_userid") or result.get("service_userid") or None
        return int(result.get("service_state", 0)), servicer

    def trans_service_state(
        self, *, open_kfid: str, external_userid: str, state: int, servicer_userid: str | None = None
    ) -> str | None:
        """kf/service_state/trans. Returns the msg_code WeCom gives for a first transfer to 2/3 or an end (4)."""
        if state == 3 and not servicer_userid:
            raise ValueError("state 3 (human) needs servicer_userid")
        data: dict[str, Any] = {"open_kfid": open_kfid, "external_userid": external_userid, "service_state": state}
        if servicer_userid:
            data["servicer_userid"] = servicer_userid
        result = self._call("kf/service_state/trans", "kf/service_state/trans", data=data, kf=True)
        return result.get("msg_code") or None

    # Staff and clients ----------------------------------------------------------------------------------------

    def send_app_message(self, *, touser: str, msgtype: str, content: dict) -> str:
        """message/send from the app (agentid from settings) to staff. Text and markdown longer than 2048 bytes
        are shortened with "…" rather than cut mid-character by WeCom. Returns WeCom's msgid."""
        if msgtype not in APP_MSGTYPES:
            raise ValueError(f"msgtype must be one of {sorted(APP_MSGTYPES)}")
        content = dict(content)
        if msgtype in ("text", "markdown") and isinstance(content.get("content"), str):
            content["content"] = shorten_utf8(content["content"], WECOM_TEXT_MAX_BYTES, "…")
        if msgtype == "textcard":
            if isinstance(content.get("title"), str):
                content["title"] = shorten_utf8(content["title"], 128, "…")
            if isinstance(content.get("description"), str):
                content["description"] = shorten_utf8(content["description"], 512, "…")
        data = {"touser": touser, "msgtype": msgtype, "agentid": self.agent_id, msgtype: content}
        result = self._call("message/send", "message/send", data=data, kf=False)
        if result.get("invaliduser"):
            log.warning("wecom.message.send.invaliduser count=%s", len(str(result["invaliduser"]).split("|")))
        return str(result.get("msgid") or "")

    def add_msg_template(self, *, sender: str, external_userids: list[str], text: str) -> dict:
        """externalcontact/add_msg_template: a 1:1 mass message the advisor must confirm in WeCom.
        Returns {"msgid", "fail_list"}."""
        if not external_userids:
            raise ValueError("external_userids is empty")
        if not text or utf8_len(text) > MSG_TEMPLATE_MAX_BYTES:
            raise ValueError(f"text must be 1..{MSG_TEMPLATE_MAX_BYTES} bytes")
        data = {
            "chat_type": "single",
            "external_userid": list(external_userids),
            "sender": sender,
            "text": {"content": text},
        }
        result = self._call("externalcontact/add_msg_template", "externalcontact/add_msg_template", data=data, kf=False)
        return {"msgid": str(result.get("msgid") or ""), "fail_list": list(result.get("fail_list") or [])}

    def close(self) -> None:
        self._app._http.close()
        if self._kf is not self._app:
            self._kf._http.close()

    # The call loop --------------------------------------------------------------------------------------------

    def _call(self, api: str, endpoint: str, *, data: dict, kf: bool) -> dict:
        client = self._kf if kf else self._app
        tokens = self._kf_tokens if kf else self._app_tokens
        refreshed = False

        def attempt() -> dict:
            nonlocal refreshed
            while True:
                token = tokens.get()
                try:
                    return self._post(client, endpoint, token, data)
                except _TokenError as exc:
                    if refreshed:
                        raise WeComAPIError(exc.errcode, exc.errmsg, api=api) from None
                    log.info("wecom.token.rejected api=%s errcode=%s", api, exc.errcode)
                    tokens.invalidate(token)
                    refreshed = True

        return self._with_retries(api, attempt)

    def _with_retries(self, api: str, fn: Callable[[], Any]) -> Any:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn()
            except _Transient as exc:
                if attempt >= self.max_attempts:
                    log.warning("wecom.call.gave_up api=%s errcode=%s attempts=%s", api, exc.errcode, attempt)
                    raise WeComTransientError(exc.errcode, exc.errmsg, api=api) from None
                delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
                delay *= 1 + random.uniform(0, 0.25)
                log.info("wecom.call.retry api=%s errcode=%s attempt=%s delay=%.2f", api, exc.errcode, attempt, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _post(self, client: _Wechatpy, endpoint: str, token: str, data: dict) -> dict:
        try:
            result = client.post(endpoint, params={"access_token": token}, data=data)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise _Transient(SYSTEM_BUSY, f"network error: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise _Transient(SYSTEM_BUSY, f"request failed: {type(exc).__name__}") from None
        except WeChatClientException as exc:
            errcode = exc.errcode
            if errcode is None:  # HTTP status error
                status = exc.response.status_code if exc.response is not None else 0
                raise _http_error(endpoint, status) from None
            errcode = int(errcode)
            if errcode in TOKEN_ERRCODES:
                raise _TokenError(errcode, str(exc.errmsg)) from None
            raise _map_error(endpoint, errcode, exc.errmsg) from None
        if not isinstance(result, dict):
            raise _Transient(SYSTEM_BUSY, "response is not JSON")
        return result


def _map_error(api: str, errcode: int | None, errmsg: Any) -> Exception:
    """A WeCom errcode as the project's exception (transient ones as the internal retry signal)."""
    if errcode is None:
        return _Transient(SYSTEM_BUSY, "HTTP error")
    errcode = int(errcode)
    message = str(errmsg or "")
    if errcode in TRANSIENT_ERRCODES:
        return _Transient(errcode, message)
    if errcode in WINDOW_ERRCODES:
        return WeComWindowClosedError(errcode, message, api=api)
    return WeComAPIError(errcode, message, api=api)


def _http_error(api: str, status: int) -> Exception:
    """5xx, 429 and no status are worth retrying; any other HTTP error is not (errcode = the HTTP status)."""
    if status >= 500 or status in (0, 429):
        return _Transient(SYSTEM_BUSY, f"HTTP {status}")
    return WeComAPIError(status, f"HTTP {status}", api=api)


def _token_key(corp_id: str, secret: str) -> str:
    """The shared-token row key: corp id plus a digest of the secret (the secret itself is never stored)."""
    return f"{corp_id}:{hashlib.sha256(secret.encode()).hexdigest()[:16]}"
