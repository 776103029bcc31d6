"""WeComSimulator: a loopback WeCom that the bot talks to exactly as to the real one.

    callback_url = "http://127.0.0.1:8000/wecom/callback"
    with WeComSimulator(corp_id, agent_id, secret, token, aes_key, callback_url) as sim:
        # point the bot at sim.base_url (WECOM_API_BASE)
        sim.client_says("wm_client_1", "怎么开户？")      # stored for kf/sync_msg + encrypted callback to the bot
        replies = sim.wait_for_sent("wm_client_1")         # what the bot sent with kf/send_msg
        sim.fail_next("kf/send_msg", -1, times=2)          # the next two send_msg calls answer "system busy"
        sim.expire_tokens()                                # the next API call with an old token gets 42001
        sim.advance(49 * 3600)                             # past the 48 h window: send_msg answers 95002

Callbacks are real: a `kf_msg_or_event` XML, encrypted and signed with the bot's token and EncodingAESKey, POSTed to
`callback_url?msg_signature&timestamp&nonce` as `<xml><ToUserName/><Encrypt/><AgentID/></xml>`. Like WeCom, the
simulator tries again with the very same request (up to `callback_tries` in all) when no HTTP 200 arrives within
`callback_timeout_s`, and can deliver an event twice (`duplicate=True`: the second copy freshly encrypted and signed,
so only the decrypted content shows it is the same) to exercise the bot's dedupe.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from bot.wecom.crypto import WeComCrypto, random_nonce
from bot.wecom.simulator.state import SimState

log = logging.getLogger(__name__)

DEFAULT_CLIENT = "wmSIMclient0001"


class LoopbackServer:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a background thread (port 0 = a free port)."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"loopback-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("loopback server did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server, self._thread = None, None


@dataclass
class CallbackResult:
    """How one callback went: every attempt's HTTP status (or "timeout"/"error") and whether a 200 came back."""

    msgid: str | None = None
    statuses: list[int | str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    delivered: bool = False
    duplicates_sent: int = 0
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def attempts(self) -> int:
        return len(self.statuses)

    def wait(self, timeout: float = 30.0) -> CallbackResult:
        self.done.wait(timeout)
        return self


class WeComSimulator:
    """A loopback WeCom: API endpoints, encrypted callbacks to the bot, a chat page and a read API."""

    def __init__(
        self,
        corp_id: str,
        agent_id: int,
        secret: str,
        token: str,
        aes_key: str,
        callback_url: str | None,
        *,
        kf_secret: str | None = None,
        port: int = 0,
        callback_timeout_s: float = 5.0,
        callback_tries: int = 3,
        token_ttl_s: int = 7200,
        default_open_kfid: str = "wkSIMKF000000000000000001",
        default_client: str = DEFAULT_CLIENT,
    ) -> None:
        self.corp_id = corp_id
        self.agent_id = agent_id
        self.callback_url = callback_url
        self.callback_timeout_s = callback_timeout_s
        self.callback_tries = max(1, callback_tries)
        self.default_client = default_client
        self.crypto = WeComCrypto(token, aes_key, corp_id)
        self.state = SimState(
            corp_id=corp_id, agent_id=int(agent_id), secret=secret, kf_secret=kf_secret, token_ttl_s=token_ttl_s,
            default_open_kfid=default_open_kfid,
        )
        from bot.wecom.simulator.app import build_app

        self.app = build_app(self)
        self._server = LoopbackServer(self.app, port=port)
        self._http = httpx.Client(timeout=callback_timeout_s, trust_env=False)  # loopback: never via a proxy
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sim-callback")
        self.callbacks: list[CallbackResult] = []

    @classmethod
    def from_settings(cls, wecom: Any, callback_url: str | None, **kwargs: Any) -> WeComSimulator:
        """Build from `settings.wecom` (WeComSettings): the same secrets the bot uses."""
        return cls(
            wecom.corp_id, wecom.agent_id, wecom.secret.get_secret_value(), wecom.token.get_secret_value(),
            wecom.aes_key.get_secret_value(), callback_url,
            kf_secret=wecom.kf_secret.get_secret_value() if wecom.kf_secret else None, **kwargs,
        )

    # Lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> WeComSimulator:
        self._server.start()
        log.info("wecom.sim.started base_url=%s", self.base_url)
        return self

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._server.stop()
        self._http.close()

    def __enter__(self) -> WeComSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """WECOM_API_BASE for the bot."""
        return self._server.base_url

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/sim/"

    @property
    def staff_url(self) -> str:
        return f"{self.base_url}/sim/staff"

    # Driving the simulated world ------------------------------------------------------------------------------

    def client_says(
        self,
        external_userid: str,
        text: str,
        *,
        open_kfid: str | None = None,
        duplicate: bool = False,
        wait: bool = True,
        msgtype: str = "text",
    ) -> CallbackResult:
        """A client writes to the kf account: stored for kf/sync_msg, then a kf_msg_or_event callback to the bot.

        With wait=True this returns after the callback was answered (or all tries failed); else at once, with the
        callback delivered in the background (`result.wait()`)."""
        item = self.state.client_message(
            open_kfid=open_kfid or self.state.default_open_kfid, external_userid=external_userid, text=text,
            msgtype=msgtype,
        )
        return self._notify(item, duplicate=duplicate, wait=wait)

    def client_enters(
        self, external_userid: str, *, open_kfid: str | None = None, scene: str = "", wait: bool = True
    ) -> CallbackResult:
        """A client opens the kf chat: an enter_session event (with a welcome_code when WeCom would give one)."""
        item = self.state.client_enters(open_kfid=open_kfid or self.state.default_open_kfid,
                                        external_userid=external_userid, scene=scene)
        return self._notify(item, wait=wait)

    def servicer_says(
        self, external_userid: str, servicer_userid: str, text: str, *, open_kfid: str | None = None,
        wait: bool = True,
    ) -> CallbackResult:
        """An advisor answers in the WeCom client (origin 5 in sync_msg), with a callback."""
        item = self.state.servicer_message(
            open_kfid=open_kfid or self.state.default_open_kfid, external_userid=external_userid,
            servicer_userid=servicer_userid, text=text,
        )
        return self._notify(item, wait=wait)

    def servicer_ends_session(
        self, external_userid: str, *, open_kfid: str | None = None, wait: bool = True
    ) -> CallbackResult:
        """The advisor ends the session: state 4 and a session_status_change event (change_type 3), with a callback."""
        item = self.state.servicer_ends_session(
            open_kfid=open_kfid or self.state.default_open_kfid, external_userid=external_userid
        )
        return self._notify(item, wait=wait)

    def send_kf_callback(
        self, *, open_kfid: str | None = None, token: str | None = None, duplicate: bool = False, wait: bool = True
    ) -> CallbackResult:
        """Just the kf_msg_or_event callback (a fresh sync_msg token unless one is given)."""
        return self._deliver(self._kf_event_xml(open_kfid or self.state.default_open_kfid, token), None,
                             duplicate=duplicate, wait=wait)

    def url_verify(self) -> bool:
        """WeCom's URL verification: GET callback_url with an encrypted echostr; True when the bot echoes it."""
        if not self.callback_url:
            raise RuntimeError("no callback_url")
        plain = str(secrets.randbelow(10**19))
        timestamp, nonce = str(int(time.time())), random_nonce()
        echostr, signature = self.crypto.encrypt_echostr(plain, nonce, timestamp)
        response = self._http.get(
            self.callback_url,
            params={"msg_signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr},
        )
        return response.status_code == 200 and response.text == plain

    def fail_next(
        self, api: str, errcode: int | None = -1, times: int = 1, *, http_status: int | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """The next `times` calls of `api` ("gettoken", "kf/send_msg", ..., or "*") answer `errcode`, or the HTTP
        status `http_status` with a non-JSON body; `delay_s` holds the answer back (to provoke client timeouts)."""
        self.state.fail_next(api, errcode, times, http_status=http_status, delay_s=delay_s)

    def expire_tokens(self) -> None:
        """Every access_token issued so far is expired: the next call with one gets 42001."""
        self.state.expire_tokens()

    def revoke_tokens(self) -> None:
        """Every access_token issued so far is unknown: the next call with one gets 40014."""
        self.state.revoke_tokens()

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock (the send window, token lifetimes, callback token age)."""
        self.state.advance(seconds)

    # Reading what the bot did ---------------------------------------------------------------------------------

    def sent_to(self, external_userid: str) -> list[dict]:
        """kf/send_msg texts delivered to this client, in order (a repeated msgid is delivered once)."""
        return self.state.sent(external_userid=external_userid)["kf"]

    def sent(self) -> dict:
        """Everything the bot sent: {"kf", "app", "states", "templates"}."""
        return self.state.sent()

    def app_messages(self, touser: str | None = None) -> list[dict]:
        return self.state.sent(touser=touser)["app"]

    def state_changes(self, external_userid: str | None = None) -> list[dict]:
        return self.state.sent(external_userid=external_userid)["states"]

    def msg_templates(self) -> list[dict]:
        return self.state.sent()["templates"]

    def service_state(self, external_userid: str, open_kfid: str | None = None) -> tuple[int, str | None]:
        session = self.state.sessions.get((open_kfid or self.state.default_open_kfid, external_userid))
        return (session.state, session.servicer_userid) if session else (4, None)

    def calls(self, api: str | None = None) -> list[tuple[str, int]]:
        """(api, errcode answered) of every API call received, optionally of one api."""
        with self.state.lock:
            return [c for c in self.state.calls if api in (None, c[0])]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
        """Poll until predicate() is truthy; return its value (or raise TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            time.sleep(interval)

    def wait_for_sent(self, external_userid: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        """Wait until at least `count` kf texts reached this client; return them all."""
        return self.wait_for(lambda: (m := self.sent_to(external_userid)) and len(m) >= count and m, timeout)

    # Callbacks ------------------------------------------------------------------------------------------------

    def _notify(self, item: dict, *, duplicate: bool = False, wait: bool = True) -> CallbackResult:
        open_kfid = item.get("open_kfid") or item.get("event", {}).get("open_kfid") or self.state.default_open_kfid
        return self._deliver(self._kf_event_xml(open_kfid, None), item.get("msgid"), duplicate=duplicate, wait=wait)

    def _kf_event_xml(self, open_kfid: str, token: str | None) -> str:
        token = token or self.state.issue_callback_token()
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime>"
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
            f"<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>"
        )

    def _deliver(self, xml: str, msgid: str | None, *, duplicate: bool, wait: bool) -> CallbackResult:
        result = CallbackResult(msgid=msgid)
        self.callbacks.append(result)
        if not self.callback_url:
            result.done.set()
            return result
        if wait:
            self._post_callback(xml, result, duplicate)
        else:
            self._pool.submit(self._post_callback, xml, result, duplicate)
        return result

    def _post_callback(self, xml: str, result: CallbackResult, duplicate: bool) -> None:
        try:
            timestamp, nonce = str(int(time.time())), random_nonce()
            body, signature = self.crypto.encrypt_callback(xml, nonce, timestamp, agent_id=self.agent_id)
            params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
            for _ in range(self.callback_tries):
                if self._post_once(params, body, result):
                    result.delivered = True
                    break
            if duplicate and result.delivered:
                # The same event delivered again, freshly encrypted and signed (so only the decrypted content
                # tells it is a duplicate), as WeCom does now and then.
                timestamp, nonce = str(int(time.time())), random_nonce()
                body, signature = self.crypto.encrypt_callback(xml, nonce, timestamp, agent_id=self.agent_id)
                params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
                self._post_once(params, body, result)
                result.duplicates_sent += 1
        except Exception:  # never let a background delivery die silently
            log.exception("wecom.sim.callback_failed")
        finally:
            result.done.set()

    def _post_once(self, params: dict, body: str, result: CallbackResult) -> bool:
        try:
            response = self._http.post(
                self.callback_url,  # type: ignore[arg-type]
                params=params,
                content=body.encode("utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=self.callback_timeout_s,
            )
        except httpx.TimeoutException:
            result.statuses.append("timeout")
            result.responses.append("")
            return False
        except httpx.HTTPError:
            result.statuses.append("error")
            result.responses.append("")
            time.sleep(min(1.0, self.callback_timeout_s))
            return False
        result.statuses.append(response.status_code)
        result.responses.append(response.text[:200])
        return response.status_code == 200
