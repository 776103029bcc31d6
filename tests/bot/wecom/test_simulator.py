"""The simulator as WeCom: real encrypted callbacks (retries, duplicates, URL verification), its API and its pages."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI, Query, Request
from fastapi.responses import PlainTextResponse

from bot.wecom.crypto import InvalidSignatureError, WeComCrypto
from bot.wecom.parser import parse_callback
from bot.wecom.simulator import LoopbackServer, WeComSimulator
from tests.bot.wecom.conftest import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN


@dataclass
class Receiver:
    """A minimal bot edge: verifies and decrypts callbacks like the real one, records them, answers `success`."""

    crypto: WeComCrypto
    requests: list[dict] = field(default_factory=list)
    slow_first_s: float = 0.0
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/wecom/callback")
        def verify(msg_signature: str, timestamp: str, nonce: str, echostr: str = Query(...)) -> PlainTextResponse:
            try:
                return PlainTextResponse(self.crypto.verify_url(msg_signature, timestamp, nonce, echostr))
            except InvalidSignatureError:
                return PlainTextResponse("forbidden", status_code=403)

        @app.post("/wecom/callback")
        async def receive(request: Request, msg_signature: str, timestamp: str, nonce: str) -> PlainTextResponse:
            body = await request.body()
            xml = self.crypto.decrypt(body, msg_signature, timestamp, nonce)
            with self.lock:
                first = not self.requests
                self.requests.append({"body": body, "query": dict(request.query_params), "event": parse_callback(xml),
                                      "content_type": request.headers.get("content-type")})
            if first and self.slow_first_s:
                await asyncio.sleep(self.slow_first_s)
            return PlainTextResponse("success", status_code=self.status)

        return app


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver(WeComCrypto(TOKEN, AES_KEY, CORP_ID))
    server = LoopbackServer(rec.app())
    server.start()
    yield rec, f"{server.base_url}/wecom/callback"
    server.stop()


@pytest.fixture
def linked(receiver) -> Iterator[tuple[WeComSimulator, Receiver]]:  # type: ignore[no-untyped-def]
    rec, url = receiver
    with WeComSimulator(CORP_ID, AGENT_ID, SECRET, TOKEN, AES_KEY, url, callback_timeout_s=0.5) as sim:
        yield sim, rec


class TestCallbacks:
    def test_client_message_becomes_an_encrypted_kf_callback(self, linked):
        sim, rec = linked
        result = sim.client_says("wm_c1", "你好，我想开户")
        assert result.delivered and result.statuses == [200] and result.responses == ["success"]
        [req] = rec.requests
        assert set(req["query"]) == {"msg_signature", "timestamp", "nonce"}
        assert abs(int(req["query"]["timestamp"]) - time.time()) < 60
        assert b"<Encrypt>" in req["body"] and b"<ToUserName>" in req["body"] and b"<AgentID>" in req["body"]
        event = req["event"]
        assert event.is_kf and event.open_kfid == sim.state.default_open_kfid and event.to_user == CORP_ID
        # the callback carries no message: the token lets the bot pull it with kf/sync_msg
        assert "你好".encode() not in req["body"]
        page = sim.state.sync_msg({"token": event.token, "cursor": ""})
        assert page["errcode"] == 0 and page["msg_list"][0]["text"]["content"] == "你好，我想开户"

    def test_slow_answer_is_retried_with_the_same_request(self, receiver):
        rec, url = receiver
        rec.slow_first_s = 1.0
        with WeComSimulator(CORP_ID, AGENT_ID, SECRET, TOKEN, AES_KEY, url, callback_timeout_s=0.3) as sim:
            result = sim.client_says("wm_slow", "在吗")
        assert result.statuses == ["timeout", 200] and result.delivered
        assert len(rec.requests) == 2 and rec.requests[0]["body"] == rec.requests[1]["body"]
        assert rec.requests[0]["query"] == rec.requests[1]["query"]

    def test_gives_up_after_three_tries(self, receiver):
        rec, url = receiver
        rec.status = 500
        with WeComSimulator(CORP_ID, AGENT_ID, SECRET, TOKEN, AES_KEY, url, callback_timeout_s=0.5) as sim:
            result = sim.client_says("wm_500", "你好")
        assert result.statuses == [500, 500, 500] and not result.delivered

    def test_duplicate_delivery(self, linked):
        sim, rec = linked
        result = sim.client_says("wm_dup", "重复", duplicate=True)
        assert result.delivered and result.duplicates_sent == 1 and len(rec.requests) == 2
        first, second = rec.requests
        assert first["body"] != second["body"]  # encrypted afresh: only the content tells it is the same event
        assert first["event"] == second["event"]

    def test_non_text_messages(self, linked):
        sim, _ = linked
        sim.client_says("wm_img", "", msgtype="image")
        [item] = sim.state.sync_msg({"cursor": ""})["msg_list"]
        assert item["msgtype"] == "image" and item["image"]["media_id"] and "text" not in item

    def test_background_delivery(self, linked):
        sim, rec = linked
        result = sim.client_says("wm_bg", "后台", wait=False)
        assert result.wait(5).delivered and len(rec.requests) == 1

    def test_unreachable_bot(self):
        with WeComSimulator(CORP_ID, AGENT_ID, SECRET, TOKEN, AES_KEY, "http://127.0.0.1:9/wecom/callback",
                            callback_timeout_s=0.2) as sim:
            result = sim.client_says("wm_x", "hi")
        assert result.statuses == ["error"] * 3 and not result.delivered
        assert len(sim.state.stream) == 1  # the message itself is still waiting in the kf queue

    def test_servicer_events_reach_sync_msg(self, linked):
        sim, rec = linked
        sim.client_says("wm_s", "转人工")
        sim.state.service_state_trans({"open_kfid": sim.state.default_open_kfid, "external_userid": "wm_s",
                                       "service_state": 3, "servicer_userid": "advisor01"})
        sim.servicer_says("wm_s", "advisor01", "您好，我是您的服务经理")
        sim.servicer_ends_session("wm_s")
        assert len(rec.requests) == 3
        items = sim.state.sync_msg({"cursor": ""})["msg_list"]
        assert [i["origin"] for i in items] == [3, 5, 4]
        assert items[1]["servicer_userid"] == "advisor01"
        assert items[2]["event"]["event_type"] == "session_status_change" and items[2]["event"]["change_type"] == 3
        assert sim.service_state("wm_s") == (4, None)
        sim.client_says("wm_s", "我又来了")  # a new message reopens the session
        assert sim.service_state("wm_s") == (0, None)


class TestUrlVerify:
    def test_bot_echoes(self, linked):
        sim, _ = linked
        assert sim.url_verify()

    def test_wrong_token_fails(self, receiver):
        _, url = receiver
        with WeComSimulator(CORP_ID, AGENT_ID, SECRET, "othertoken", AES_KEY, url) as sim:
            assert not sim.url_verify()


class TestApi:
    @pytest.mark.parametrize(
        "params,errcode",
        [
            ({"corpid": CORP_ID, "corpsecret": SECRET}, 0),
            ({"corpid": "wwother", "corpsecret": SECRET}, 40013),
            ({"corpid": CORP_ID, "corpsecret": "wrong"}, 40001),
            ({"corpid": CORP_ID}, 41004),
            ({}, 41002),
        ],
    )
    def test_gettoken(self, sim, params, errcode):
        body = httpx.get(f"{sim.base_url}/cgi-bin/gettoken", params=params).json()
        assert body["errcode"] == errcode
        if errcode == 0:
            assert body["access_token"] and body["expires_in"] == 7200

    def test_missing_and_unknown_token(self, sim):
        url = f"{sim.base_url}/cgi-bin/kf/sync_msg"
        assert httpx.post(url, json={}).json()["errcode"] == 41001
        assert httpx.post(url, params={"access_token": "nope"}, json={}).json()["errcode"] == 40014

    def test_tokens_expire_with_time(self, sim):
        token = sim.state.gettoken(CORP_ID, SECRET)["access_token"]
        sim.advance(7201)
        assert sim.state.check_token(token)[1]["errcode"] == 42001

    @pytest.mark.parametrize("body", [{"cursor": "garbage!"}, {"cursor": "", "limit": 0}, {"limit": 1001}])
    def test_sync_msg_bad_input(self, sim, body):
        assert sim.state.sync_msg(body)["errcode"] == 40058

    def test_sync_msg_filters_by_kf_account(self, sim):
        sim.client_says("wm_1", "A", open_kfid="wkA")
        sim.client_says("wm_1", "B", open_kfid="wkB")
        only_b = sim.state.sync_msg({"cursor": "", "open_kfid": "wkB"})["msg_list"]
        assert [m["text"]["content"] for m in only_b] == ["B"]
        assert sim.state.sync_msg({"cursor": "", "open_kfid": "wkC"})["errcode"] == 95000

    def test_sync_msg_empty_cursor_starts_three_days_back(self, sim):
        sim.client_says("wm_old", "很久以前")
        sim.advance(4 * 24 * 3600)
        sim.client_says("wm_new", "刚刚")
        assert [m["text"]["content"] for m in sim.state.sync_msg({"cursor": ""})["msg_list"]] == ["刚刚"]

    def test_fail_next_any_api(self, sim):
        sim.fail_next("*", 45033)
        assert httpx.get(f"{sim.base_url}/cgi-bin/gettoken").json()["errcode"] == 45033


class TestPagesAndReadApi:
    def test_chat_page_is_chinese(self, sim):
        page = httpx.get(sim.chat_url)
        assert page.status_code == 200 and "企业微信客服模拟器" in page.text and "/sim/static/sim.js" in page.text
        assert httpx.get(f"{sim.base_url}/sim/chat").status_code == 200
        assert "员工视图" in httpx.get(sim.staff_url).text
        js = httpx.get(f"{sim.base_url}/sim/static/sim.js")
        assert js.status_code == 200 and "textContent" in js.text and "innerHTML" not in js.text

    @pytest.mark.parametrize("name", ["../app.py", "nope.js", "..%2Fstate.py"])
    def test_static_stays_in_its_folder(self, sim, name):
        assert httpx.get(f"{sim.base_url}/sim/static/{name}").status_code == 404

    def test_say_then_read_the_conversation(self, linked):
        sim, rec = linked
        base = sim.base_url
        assert httpx.post(f"{base}/sim/api/say", json={"external_userid": "wm_p", "text": "页面提问"}).status_code == 200
        sim.wait_for(lambda: rec.requests)
        token = sim.state.gettoken(CORP_ID, SECRET)["access_token"]
        sent = httpx.post(f"{base}/cgi-bin/kf/send_msg", params={"access_token": token},
                          json={"touser": "wm_p", "open_kfid": sim.state.default_open_kfid, "msgid": "p1",
                                "msgtype": "text", "text": {"content": "页面回答"}}).json()
        assert sent == {"errcode": 0, "errmsg": "ok", "msgid": "p1"}
        convo = httpx.get(f"{base}/sim/api/conversation", params={"external_userid": "wm_p"}).json()
        assert [(e["kind"], e["text"]) for e in convo["events"]] == [("client", "页面提问"), ("bot", "页面回答")]
        after = convo["events"][-1]["seq"]
        assert httpx.get(f"{base}/sim/api/conversation",
                         params={"external_userid": "wm_p", "after": after}).json()["events"] == []
        read = httpx.get(f"{base}/sim/api/sent", params={"external_userid": "wm_p"}).json()
        assert [m["text"] for m in read["kf"]] == ["页面回答"]

    def test_say_validates(self, sim):
        assert httpx.post(f"{sim.base_url}/sim/api/say", json={"text": "no client"}).status_code == 400

    def test_staff_feed_and_servicer_actions(self, linked):
        sim, rec = linked
        base = sim.base_url
        token = sim.state.gettoken(CORP_ID, SECRET)["access_token"]
        httpx.post(f"{base}/cgi-bin/message/send", params={"access_token": token},
                   json={"touser": "advisor01", "agentid": AGENT_ID, "msgtype": "text", "text": {"content": "新客户"}})
        feed = httpx.get(f"{base}/sim/api/staff").json()["events"]
        assert feed[0]["kind"] == "app" and feed[0]["content"]["content"] == "新客户"
        sim.client_says("wm_st", "你好")
        assert httpx.post(f"{base}/sim/api/servicer/say",
                          json={"external_userid": "wm_st", "servicer_userid": "advisor01", "text": "我来回答"}
                          ).status_code == 200
        assert httpx.post(f"{base}/sim/api/servicer/end", json={"external_userid": "wm_st"}).status_code == 200
        sim.wait_for(lambda: len(rec.requests) == 3)
        kinds = [e["kind"] for e in sim.state.conversation("wm_st")]
        assert kinds == ["client", "servicer", "state"]


class TestRepl:
    def test_terminal_chat_prints_the_replies(self, sim, client, kfid):
        from bot.wecom.simulator.repl import chat_repl

        def bot() -> None:
            sim.wait_for(lambda: any(m.get("external_userid") == "wm_tty" for m in sim.state.stream))
            client.send_kf_text(open_kfid=kfid, external_userid="wm_tty", text="您好，请问有什么可以帮您？", msgid="tty1")

        thread = threading.Thread(target=bot)
        thread.start()
        lines = iter(["你好", "/q"])
        out: list[str] = []
        sent = chat_repl(sim.base_url, "wm_tty", input_fn=lambda _: next(lines), output=out.append,
                         wait_s=5, quiet_s=0.3, poll_s=0.05)
        thread.join(5)
        assert sent == 1
        assert "智能客服：您好，请问有什么可以帮您？" in out
