"""The simulator's WeCom: tokens, the kf message stream, sessions and their send window, and what the bot sent.

Pure logic behind a lock; `app.py` exposes it over HTTP exactly as the WeCom API paths do. Each API method takes the
request (query + JSON body) and returns the JSON WeCom would answer, errcodes included. Time is `time.time()` plus an
offset that tests move with `advance()`, so the 48 h window and token expiry can be crossed without waiting.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

TOKEN_TTL_S = 7200
CALLBACK_TOKEN_TTL_S = 600  # the Token of a kf_msg_or_event callback is valid 10 minutes
WINDOW_S = 48 * 3600
WELCOME_CODE_TTL_S = 20  # an enter_session welcome_code is valid 20 seconds, once
WINDOW_MESSAGES = 5
SYNC_HISTORY_S = 3 * 24 * 3600  # an empty cursor starts at the earliest message of the last 3 days
KF_TEXT_MAX_BYTES = 2048
APP_TEXT_MAX_BYTES = 2048
MSG_TEMPLATE_MAX_BYTES = 4000
MSGID = re.compile(r"^[0-9a-zA-Z_-]{1,32}$")

# Session states (kf/service_state): 0 new, 1 bot, 2 queue, 3 human, 4 ended (or not started).
ALLOWED_TRANSITIONS: dict[int, set[int]] = {0: {1, 2, 3, 4}, 1: {2, 3, 4}, 2: {3, 4}, 3: {3, 4}, 4: set()}

ERRMSG = {
    0: "ok",
    -1: "system busy",
    40001: "invalid credential (secret)",
    40008: "invalid message type",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40056: "invalid agentid",
    40058: "invalid parameter",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    42001: "access_token expired",
    44004: "empty content",
    45002: "content size out of limit",
    45009: "reach max api daily quota limit",
    45033: "api concurrent out of limit",
    48002: "api forbidden",
    81013: "user & party & tag all invalid",
    95000: "invalid open_kfid",
    95001: "send msg count limit exceeded",
    95002: "send msg time limit exceeded",
    95007: "invalid msg token",
    95014: "invalid servicer userid",
    95016: "service state transition not allowed",
    95018: "send msg session status invalid",
}


def err(errcode: int, detail: str = "") -> dict:
    message = ERRMSG.get(errcode, "error")
    return {"errcode": errcode, "errmsg": f"{message}{', ' + detail if detail else ''}, hint: [sim]"}


def ok(**fields: Any) -> dict:
    return {"errcode": 0, "errmsg": "ok", **fields}


def _b(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass
class Failure:
    errcode: int | None  # None: an HTTP error instead of a JSON errcode
    http_status: int | None
    delay_s: float
    times: int


@dataclass
class Session:
    open_kfid: str
    external_userid: str
    state: int = 4
    servicer_userid: str | None = None
    last_client_at: float | None = None
    sent_in_window: int = 0
    code_issued: bool = False
    last_welcome_at: float | None = None


@dataclass
class SimState:
    corp_id: str
    agent_id: int
    secret: str
    kf_secret: str | None = None
    token_ttl_s: int = TOKEN_TTL_S
    default_open_kfid: str = "wkSIMKF000000000000000001"
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.offset_s = 0.0
        self.tokens: dict[str, tuple[str, float]] = {}  # access_token -> (which secret: app|kf, expires_at)
        self.callback_tokens: dict[str, float] = {}  # kf callback Token -> issued at
        self.kf_accounts: dict[str, str] = {self.default_open_kfid: "智能客服"}
        self.stream: list[dict] = []  # what kf/sync_msg returns: client messages, events, servicer messages
        self.sessions: dict[tuple[str, str], Session] = {}
        self.kf_sent: list[dict] = []
        self.kf_sent_ids: dict[tuple[str, str], dict] = {}
        self.welcome_codes: dict[str, tuple[str, str, float]] = {}  # code -> (open_kfid, external_userid, at)
        self.app_messages: list[dict] = []
        self.state_changes: list[dict] = []
        self.msg_templates: list[dict] = []
        self.timeline: list[dict] = []  # everything, in order, for the chat page
        self.failures: dict[str, deque[Failure]] = {}
        self.calls: deque[tuple[str, int]] = deque(maxlen=100_000)  # (api, errcode answered), for assertions
        self.duplicate_sends = 0
        self._seq = 0

    # Time ----------------------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.offset_s += seconds

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _record(self, kind: str, **fields: Any) -> dict:
        entry = {"seq": self._next_seq(), "kind": kind, "at": int(self.now()), **fields}
        self.timeline.append(entry)
        return entry

    # Failure injection ----------------------------------------------------------------------------------------

    def fail_next(
        self, api: str, errcode: int | None = -1, times: int = 1, *, http_status: int | None = None,
        delay_s: float = 0.0,
    ) -> None:
        with self.lock:
            self.failures.setdefault(api, deque()).append(
                Failure(errcode=None if http_status else errcode, http_status=http_status, delay_s=delay_s,
                        times=times)
            )

    def take_failure(self, api: str) -> Failure | None:
        with self.lock:
            for key in (api, "*"):
                queue = self.failures.get(key)
                if queue:
                    failure = queue[0]
                    failure.times -= 1
                    if failure.times <= 0:
                        queue.popleft()
                    return failure
        return None

    def note_call(self, api: str, response: dict) -> dict:
        with self.lock:
            self.calls.append((api, int(response.get("errcode", 0))))
        return response

    # Tokens ---------------------------------------------------------------------------------------------------

    def gettoken(self, corpid: str | None, corpsecret: str | None) -> dict:
        if not corpid:
            return err(41002)
        if corpid != self.corp_id:
            return err(40013)
        if not corpsecret:
            return err(41004)
        if corpsecret == self.secret:
            kind = "app"
        elif self.kf_secret and corpsecret == self.kf_secret:
            kind = "kf"
        else:
            return err(40001)
        token = secrets.token_urlsafe(48)
        with self.lock:
            self.tokens[token] = (kind, self.now() + self.token_ttl_s)
        return ok(access_token=token, expires_in=self.token_ttl_s)

    def check_token(self, access_token: str | None) -> tuple[str | None, dict | None]:
        """(secret kind, None) for a valid token, else (None, error response)."""
        if not access_token:
            return None, err(41001)
        with self.lock:
            entry = self.tokens.get(access_token)
        if entry is None:
            return None, err(40014)
        kind, expires_at = entry
        if expires_at <= self.now():
            return None, err(42001)
        return kind, None

    def expire_tokens(self) -> None:
        """Every issued access_token is expired from now on: the next call with one gets 42001."""
        with self.lock:
            self.tokens = {token: (kind, self.now() - 1) for token, (kind, _) in self.tokens.items()}

    def revoke_tokens(self) -> None:
        """Forget every issued access_token: the next call with one gets 40014."""
        with self.lock:
            self.tokens.clear()

    # Clients and servicers (driven by tests and the chat page) ----------------------------------------------

    def session(self, open_kfid: str, external_userid: str) -> Session:
        key = (open_kfid, external_userid)
        with self.lock:
            if key not in self.sessions:
                self.sessions[key] = Session(open_kfid=open_kfid, external_userid=external_userid)
            return self.sessions[key]

    def issue_callback_token(self) -> str:
        token = "ENC" + secrets.token_urlsafe(33)
        with self.lock:
            self.callback_tokens[token] = self.now()
        return token

    def client_message(self, *, open_kfid: str, external_userid: str, text: str, msgtype: str = "text") -> dict:
        """A client writes to the kf account: stored for sync_msg, the session (re)opens, the window resets."""
        with self.lock:
            self.kf_accounts.setdefault(open_kfid, open_kfid)
            session = self.session(open_kfid, external_userid)
            if session.state == 4:
                session.state, session.servicer_userid, session.code_issued = 0, None, False
            session.last_client_at = self.now()
            session.sent_in_window = 0
            item = {
                "msgid": "sim" + secrets.token_hex(12),
                "open_kfid": open_kfid,
                "external_userid": external_userid,
                "send_time": int(self.now()),
                "origin": 3,
                "msgtype": msgtype,
            }
            if msgtype == "text":
                item["text"] = {"content": text}
            else:
                item[msgtype] = {"media_id": "sim-media-" + secrets.token_hex(6)}
            self._append_stream(item)
            self._record("client", open_kfid=open_kfid, external_userid=external_userid, text=text,
                         msgtype=msgtype, msgid=item["msgid"])
            return item

    def servicer_message(self, *, open_kfid: str, external_userid: str, servicer_userid: str, text: str) -> dict:
        """An advisor answers from the WeCom client (origin 5): visible to sync_msg, not to the send window."""
        with self.lock:
            item = {
                "msgid": "sim" + secrets.token_hex(12),
                "open_kfid": open_kfid,
                "external_userid": external_userid,
                "send_time": int(self.now()),
                "origin": 5,
                "servicer_userid": servicer_userid,
                "msgtype": "text",
                "text": {"content": text},
            }
            self._append_stream(item)
            self._record("servicer", open_kfid=open_kfid, external_userid=external_userid, text=text,
                         servicer_userid=servicer_userid, msgid=item["msgid"])
            return item

    def client_enters(self, *, open_kfid: str, external_userid: str, scene: str = "") -> dict:
        """A client opens the kf chat: an enter_session event, with a welcome_code (valid 20 s, usable once) when
        the client got no welcome and wrote nothing in the last 48 hours, as WeCom does."""
        with self.lock:
            self.kf_accounts.setdefault(open_kfid, open_kfid)
            session = self.session(open_kfid, external_userid)
            event = {"event_type": "enter_session", "open_kfid": open_kfid, "external_userid": external_userid,
                     "scene": scene}
            recent = [t for t in (session.last_client_at, session.last_welcome_at) if t is not None]
            if not recent or self.now() - max(recent) > WINDOW_S:
                code = "simwelcome" + secrets.token_hex(8)
                self.welcome_codes[code] = (open_kfid, external_userid, self.now())
                event["welcome_code"] = code
            item = {"msgid": "sim" + secrets.token_hex(12), "send_time": int(self.now()), "origin": 4,
                    "msgtype": "event", "event": event}
            self._append_stream(item)
            return item

    def servicer_ends_session(self, *, open_kfid: str, external_userid: str) -> dict:
        """The advisor ends the session in WeCom: state 4 and a session_status_change event (change_type 3)."""
        with self.lock:
            session = self.session(open_kfid, external_userid)
            old = session.servicer_userid
            previous = session.state
            session.state, session.servicer_userid = 4, None
            item = {
                "msgid": "sim" + secrets.token_hex(12),
                "send_time": int(self.now()),
                "origin": 4,
                "msgtype": "event",
                "event": {
                    "event_type": "session_status_change",
                    "open_kfid": open_kfid,
                    "external_userid": external_userid,
                    "change_type": 3,
                    "old_servicer_userid": old or "",
                    "msg_code": "simcode" + secrets.token_hex(6),
                },
            }
            self._append_stream(item)
            change = {"open_kfid": open_kfid, "external_userid": external_userid, "from_state": previous,
                      "to_state": 4, "servicer_userid": old, "msg_code": None, "by": "servicer"}
            self.state_changes.append(change)
            self._record("state", **change)
            return item

    def _append_stream(self, item: dict) -> None:
        item["_seq"] = self._next_seq()
        self.stream.append(item)

    # kf API ---------------------------------------------------------------------------------------------------

    def sync_msg(self, body: dict) -> dict:
        limit = body.get("limit", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            return err(40058, "limit must be 1..1000")
        token = body.get("token")
        if token:
            with self.lock:
                issued = self.callback_tokens.get(str(token))
            if issued is None or self.now() - issued > CALLBACK_TOKEN_TTL_S:
                return err(95007)
        open_kfid = body.get("open_kfid") or None
        if open_kfid and open_kfid not in self.kf_accounts:
            return err(95000)
        cursor = str(body.get("cursor") or "")
        after = _decode_cursor(cursor) if cursor else 0
        if after is None:
            return err(40058, "invalid cursor")
        with self.lock:
            earliest = self.now() - SYNC_HISTORY_S
            items = [
                m for m in self.stream
                if m["_seq"] > after and (cursor or m["send_time"] >= earliest)
                and (open_kfid is None or m.get("open_kfid", m.get("event", {}).get("open_kfid")) == open_kfid)
            ]
        page, more = items[:limit], len(items) > limit
        last = page[-1]["_seq"] if page else after
        return ok(
            next_cursor=_encode_cursor(last) if last else cursor,
            has_more=1 if more else 0,
            msg_list=[{k: v for k, v in m.items() if k != "_seq"} for m in page],
        )

    def send_msg(self, body: dict) -> dict:
        touser = str(body.get("touser") or "")
        open_kfid = str(body.get("open_kfid") or "")
        if open_kfid not in self.kf_accounts:
            return err(95000)
        if not touser:
            return err(40058, "touser missing")
        problem, content, msgid = _text_message(body)
        if problem is not None:
            return problem
        with self.lock:
            if msgid and (open_kfid, msgid) in self.kf_sent_ids:
                self.duplicate_sends += 1  # same msgid again: acknowledged, not delivered twice
                return ok(msgid=msgid)
            session = self.sessions.get((open_kfid, touser))
            if session is None or session.last_client_at is None:
                return err(95002, "the client never wrote")
            if session.state not in (0, 1):
                return err(95018)
            if self.now() - session.last_client_at > WINDOW_S:
                return err(95002)
            if session.sent_in_window >= WINDOW_MESSAGES:
                return err(95001)
            session.sent_in_window += 1
            msgid = msgid or "simsent" + secrets.token_hex(10)
            record = {"msgid": msgid, "open_kfid": open_kfid, "external_userid": touser, "text": content,
                      "at": int(self.now())}
            self.kf_sent.append(record)
            self.kf_sent_ids[(open_kfid, msgid)] = record
            self._record("bot", open_kfid=open_kfid, external_userid=touser, text=content, msgid=msgid)
            return ok(msgid=msgid)

    def send_msg_on_event(self, body: dict) -> dict:
        """kf/send_msg_on_event with an enter_session welcome_code: one text within 20 s of the event."""
        code = str(body.get("code") or "")
        problem, content, msgid = _text_message(body)
        if problem is not None:
            return problem
        with self.lock:
            issued = self.welcome_codes.pop(code, None)
            if issued is None:
                return err(40029, "invalid or used code")  # errcode of a bad code: a best guess, not documented
            open_kfid, external_userid, at = issued
            if self.now() - at > WELCOME_CODE_TTL_S:
                return err(40029, "code expired")
            self.session(open_kfid, external_userid).last_welcome_at = self.now()
            msgid = msgid or "simwelcome" + secrets.token_hex(8)
            record = {"msgid": msgid, "open_kfid": open_kfid, "external_userid": external_userid, "text": content,
                      "at": int(self.now())}
            self.kf_sent.append(record)
            self.kf_sent_ids[(open_kfid, msgid)] = record
            self._record("bot", open_kfid=open_kfid, external_userid=external_userid, text=content, msgid=msgid)
            return ok(msgid=msgid)

    def service_state_get(self, body: dict) -> dict:
        open_kfid, external_userid = str(body.get("open_kfid") or ""), str(body.get("external_userid") or "")
        if open_kfid not in self.kf_accounts:
            return err(95000)
        with self.lock:
            session = self.sessions.get((open_kfid, external_userid))
            if session is None:
                return ok(service_state=4, servicer_userid="")
            return ok(service_state=session.state, servicer_userid=session.servicer_userid or "")

    def service_state_trans(self, body: dict) -> dict:
        open_kfid, external_userid = str(body.get("open_kfid") or ""), str(body.get("external_userid") or "")
        if open_kfid not in self.kf_accounts:
            return err(95000)
        try:
            target = int(body.get("service_state"))
        except (TypeError, ValueError):
            return err(40058, "service_state")
        servicer = body.get("servicer_userid") or None
        with self.lock:
            session = self.session(open_kfid, external_userid)
            if target not in ALLOWED_TRANSITIONS.get(session.state, set()):
                return err(95016, f"{session.state} -> {target}")
            if target == 3 and not servicer:
                return err(95014)
            msg_code = None
            if target == 4 or (target in (2, 3) and not session.code_issued):
                msg_code = "simcode" + secrets.token_hex(8)
                session.code_issued = session.code_issued or target in (2, 3)
            change = {"open_kfid": open_kfid, "external_userid": external_userid, "from_state": session.state,
                      "to_state": target, "servicer_userid": servicer if target == 3 else None,
                      "msg_code": msg_code, "by": "api"}
            session.state = target
            session.servicer_userid = servicer if target == 3 else None
            self.state_changes.append(change)
            self._record("state", **change)
        return ok(msg_code=msg_code) if msg_code else ok()

    # App messages and msg templates ---------------------------------------------------------------------------

    def message_send(self, body: dict, token_kind: str) -> dict:
        if token_kind != "app":
            return err(48002, "message/send needs the app's access_token")
        try:
            agentid = int(body.get("agentid"))
        except (TypeError, ValueError):
            return err(40056)
        if agentid != self.agent_id:
            return err(40056)
        touser = str(body.get("touser") or "")
        if not touser:
            return err(81013)
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "markdown", "textcard", "template_card", "news", "image", "file"):
            return err(40008)
        content = body.get(msgtype)
        if not isinstance(content, dict):
            return err(40058, f"{msgtype} missing")
        truncated = False
        if msgtype in ("text", "markdown"):
            text = content.get("content")
            if not isinstance(text, str) or not text:
                return err(44004)
            if _b(text) > APP_TEXT_MAX_BYTES:  # WeCom truncates (possibly mid-character); so do we, by bytes
                content = {**content, "content": text.encode("utf-8")[:APP_TEXT_MAX_BYTES].decode("utf-8", "ignore")}
                truncated = True
        msgid = "simapp" + secrets.token_hex(10)
        with self.lock:
            record = {"msgid": msgid, "touser": touser, "msgtype": msgtype, "content": content, "agentid": agentid,
                      "truncated": truncated, "at": int(self.now())}
            self.app_messages.append(record)
            self._record("app", touser=touser, msgtype=msgtype, content=content, msgid=msgid)
        return ok(invaliduser="", invalidparty="", invalidtag="", unlicenseduser="", msgid=msgid)

    def add_msg_template(self, body: dict, token_kind: str) -> dict:
        if token_kind != "app":
            return err(48002, "add_msg_template needs the app's access_token")
        sender = body.get("sender")
        userids = body.get("external_userid")
        if body.get("chat_type", "single") != "single":
            return err(40058, "the simulator takes chat_type single only")
        if not sender or not isinstance(userids, list) or not userids:
            return err(40058, "sender and external_userid are required")
        text = (body.get("text") or {}).get("content", "")
        if not text:
            return err(44004)
        if _b(text) > MSG_TEMPLATE_MAX_BYTES:
            return err(45002)
        msgid = "msgSIM" + secrets.token_hex(10)
        with self.lock:
            record = {"msgid": msgid, "sender": sender, "external_userids": list(userids), "text": text,
                      "at": int(self.now())}
            self.msg_templates.append(record)
            self._record("template", sender=sender, external_userids=list(userids), text=text, msgid=msgid)
        return ok(fail_list=[], msgid=msgid)

    # Read API -------------------------------------------------------------------------------------------------

    def sent(self, external_userid: str | None = None, touser: str | None = None) -> dict:
        with self.lock:
            return {
                "kf": [dict(m) for m in self.kf_sent if external_userid in (None, m["external_userid"])],
                "app": [dict(m) for m in self.app_messages if touser in (None, m["touser"])],
                "states": [dict(c) for c in self.state_changes
                           if external_userid in (None, c["external_userid"])],
                "templates": [dict(t) for t in self.msg_templates
                              if external_userid is None or external_userid in t["external_userids"]],
            }

    def conversation(self, external_userid: str, open_kfid: str | None = None, after: int = 0) -> list[dict]:
        with self.lock:
            return [
                dict(e) for e in self.timeline
                if e["seq"] > after and e.get("external_userid") == external_userid
                and (open_kfid is None or e.get("open_kfid") in (None, open_kfid))
            ]

    def staff_feed(self, after: int = 0) -> list[dict]:
        with self.lock:
            return [dict(e) for e in self.timeline if e["seq"] > after and e["kind"] in ("app", "template", "state")]


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"sim:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not raw.startswith("sim:") or not raw[4:].isdigit():
        return None
    return int(raw[4:])


def _text_message(body: dict) -> tuple[dict | None, str, str | None]:
    """Check a kf text message body as WeCom does: (error or None, content, msgid)."""
    if body.get("msgtype") != "text":
        return err(40008, "the simulator takes text only"), "", None
    content = (body.get("text") or {}).get("content")
    if not isinstance(content, str) or not content:
        return err(44004), "", None
    if _b(content) > KF_TEXT_MAX_BYTES:
        return err(45002, f"text is {_b(content)} bytes, at most {KF_TEXT_MAX_BYTES}"), "", None
    msgid = body.get("msgid")
    if msgid is not None and not MSGID.match(str(msgid)):
        return err(40058, "invalid msgid"), "", None
    return None, content, msgid
