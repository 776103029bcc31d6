"""The WeCom client through real HTTP on loopback, against the simulator (WECOM_API_BASE points at it)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.errors import WeComAPIError, WeComTransientError, WeComWindowClosedError
from bot.models.event import AccessToken
from bot.wecom.textsplit import split_utf8, utf8_len

LONG_REPLY = (
    "关于开户：您可以通过手机App在线办理，需准备本人二代身份证和银行卡，全程约10分钟。"
    "开户后需完成风险承受能力评估，评估结果将决定您可购买的产品范围。\n\n"
    "风险提示：基金过往业绩不代表未来表现，投资有风险，入市需谨慎。"
) * 25  # ~7 kB of UTF-8


def _page_ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [m["msgid"] for m in page.msg_list]


class TestSyncMsg:
    def test_batch_with_has_more_is_followed_to_the_end(self, sim, client, kfid):
        said = [sim.client_says(f"wm_client_{i % 2}", f"问题{i}").msgid for i in range(5)]
        token = sim.state.issue_callback_token()
        pages, cursor = [], ""
        while True:
            page = client.sync_msg(token=token, cursor=cursor, limit=2, open_kfid=kfid)
            pages.append(page)
            cursor = page.next_cursor
            if not page.has_more:
                break
        assert [len(p.msg_list) for p in pages] == [2, 2, 1]
        assert [p.has_more for p in pages] == [True, True, False]
        assert [i for p in pages for i in _page_ids(p)] == said
        first = pages[0].msg_list[0]
        assert first["origin"] == 3 and first["msgtype"] == "text" and first["text"]["content"] == "问题0"
        # the stored cursor resumes where the last page ended: nothing again, then only the new message
        assert client.sync_msg(token=None, cursor=cursor).msg_list == []
        newer = sim.client_says("wm_client_0", "新问题").msgid
        page = client.sync_msg(token=None, cursor=cursor)
        assert _page_ids(page) == [newer] and not page.has_more

    def test_expired_callback_token_falls_back_to_no_token(self, sim, client):
        sim.client_says("wm_a", "你好")
        token = sim.state.issue_callback_token()
        sim.advance(11 * 60)  # callback tokens live 10 minutes
        page = client.sync_msg(token=token, cursor="")
        assert len(page.msg_list) == 1
        assert [c[1] for c in sim.calls("kf/sync_msg")] == [95007, 0]

    def test_limit_is_checked(self, client):
        with pytest.raises(ValueError):
            client.sync_msg(token=None, cursor="", limit=1001)


class TestTokens:
    def test_token_is_cached(self, sim, client):
        assert client.get_access_token() == client.get_access_token()
        client.get_service_state(open_kfid=sim.state.default_open_kfid, external_userid="wm_x")
        assert len(sim.calls("gettoken")) == 1

    @pytest.mark.parametrize("how,errcode", [("expire_tokens", 42001), ("revoke_tokens", 40014)])
    def test_token_rejected_mid_run_is_refreshed_once(self, sim, client, kfid, how, errcode):
        sim.client_says("wm_t", "在吗")
        client.send_kf_text(open_kfid=kfid, external_userid="wm_t", text="在的", msgid="t1")
        getattr(sim, how)()
        client.send_kf_text(open_kfid=kfid, external_userid="wm_t", text="请问有什么可以帮您？", msgid="t2")
        assert [m["msgid"] for m in sim.sent_to("wm_t")] == ["t1", "t2"]
        assert sim.calls() == [
            ("gettoken", 0), ("kf/send_msg", 0), ("kf/send_msg", errcode), ("gettoken", 0), ("kf/send_msg", 0),
        ]

    def test_token_rejected_twice_is_an_error(self, sim, client):
        sim.fail_next("kf/service_state/get", 42001, times=2)
        with pytest.raises(WeComAPIError) as info:
            client.get_service_state(open_kfid=sim.state.default_open_kfid, external_userid="wm")
        assert info.value.errcode == 42001 and not isinstance(info.value, WeComTransientError)
        assert len(sim.calls("gettoken")) == 2

    def test_wrong_secret_is_a_clear_error(self, sim, make_client):
        from tests.bot.wecom.conftest import wecom_settings
        from bot.wecom.client import WechatpyWeComClient

        bad = WechatpyWeComClient(wecom_settings(sim.base_url, secret="wrong"), None, backoff_base=0.01)
        with pytest.raises(WeComAPIError) as info:
            bad.get_access_token()
        assert info.value.errcode == 40001 and info.value.api == "gettoken"
        assert len(sim.calls("gettoken")) == 1  # not retried
        bad.close()

    def test_separate_kf_secret_gets_its_own_token(self, sim, make_client, kfid):
        sim.state.kf_secret = "sim-kf-secret"
        client = make_client(kf_secret="sim-kf-secret")
        sim.client_says("wm_k", "你好")
        client.send_kf_text(open_kfid=kfid, external_userid="wm_k", text="您好", msgid="k1")
        client.send_app_message(touser="advisor01", msgtype="text", content={"content": "新的客户咨询"})
        assert sorted(kind for kind, _ in sim.state.tokens.values()) == ["app", "kf"]


class TestSharedToken:
    def test_processes_share_one_token_through_the_database(self, sim, make_client, any_db):
        db = any_db
        first, second = make_client(db), make_client(db)
        token = first.get_access_token()
        assert second.get_access_token() == token
        assert len(sim.calls("gettoken")) == 1
        with db.session() as session:
            row = session.exec(select(AccessToken)).one()
            assert row.token == token and row.lock_owner is None
            assert datetime.now(UTC) + timedelta(hours=1) < row.expires_at < datetime.now(UTC) + timedelta(hours=2)
            assert "sim-app-secret" not in row.key  # the secret itself is never stored

    def test_concurrent_refresh_calls_gettoken_once(self, sim, make_client, any_db):
        db = any_db
        sim.fail_next("gettoken", 0, delay_s=0.4)  # the first gettoken is slow: others must wait for it
        clients = [make_client(db) for _ in range(4)]
        tokens: list[str] = []
        threads = [threading.Thread(target=lambda c=c: tokens.append(c.get_access_token())) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(tokens) == 4 and len(set(tokens)) == 1
        assert len(sim.calls("gettoken")) == 1

    def test_rejected_token_is_refreshed_once_for_everyone(self, sim, make_client, any_db, kfid):
        db = any_db
        first, second = make_client(db), make_client(db)
        old = first.get_access_token()
        assert second.get_access_token() == old
        sim.expire_tokens()
        first.get_service_state(open_kfid=kfid, external_userid="wm")  # 42001 -> refresh -> retry
        second.get_service_state(open_kfid=kfid, external_userid="wm")  # 42001 -> finds the new token in the DB
        assert len(sim.calls("gettoken")) == 2
        assert first.get_access_token() == second.get_access_token() != old

    def test_a_stale_lock_of_a_dead_process_is_taken_over(self, sim, make_client, any_db):
        db = any_db
        with db.session() as session:
            from bot.wecom.client import _token_key

            session.add(AccessToken(key=_token_key("wwsimcorp0000001", "sim-app-secret"), token="",
                                    lock_owner="dead-host:1:abc", lock_until=datetime.now(UTC) - timedelta(seconds=1)))
        assert make_client(db).get_access_token()
        assert len(sim.calls("gettoken")) == 1

    def test_a_live_lock_is_waited_for_then_ignored(self, sim, make_client, any_db):
        db = any_db
        from bot.wecom.client import _token_key

        with db.session() as session:
            session.add(AccessToken(key=_token_key("wwsimcorp0000001", "sim-app-secret"), token="",
                                    lock_owner="slow-host:1:abc", lock_until=datetime.now(UTC) + timedelta(minutes=1)))
        client = make_client(db, token_wait_s=0.3, token_poll_s=0.05)
        assert client.get_access_token()  # waited 0.3 s for the holder, then fetched rather than stall


    def test_short_lived_tokens_are_still_cached(self, sim, client):
        sim.state.token_ttl_s = 60  # shorter than the usual 5-minute refresh margin
        client.get_access_token()
        client.get_access_token()
        assert len(sim.calls("gettoken")) == 1

    def test_separate_processes_fetch_once(self, sim, any_db, tmp_path):
        """Real OS processes on one database: only one of them calls gettoken."""
        import subprocess
        import sys
        import time

        sim.fail_next("gettoken", 0, delay_s=0.5)
        script = (
            "import sys, time\n"
            "from bot.db import Database\n"
            "from bot.wecom.client import WechatpyWeComClient\n"
            "from tests.bot.wecom.conftest import wecom_settings\n"
            "client = WechatpyWeComClient(wecom_settings(sys.argv[1]), Database(sys.argv[2]))\n"
            "time.sleep(max(0.0, float(sys.argv[3]) - time.time()))\n"
            "print(client.get_access_token())\n"
        )
        start_at = str(time.time() + 3)
        url = any_db.engine.url.render_as_string(hide_password=False)
        repo = Path(__file__).resolve().parents[3]
        procs = [subprocess.Popen([sys.executable, "-c", script, sim.base_url, url, start_at], cwd=repo,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), outputs
        assert len({out.strip() for out, _ in outputs}) == 1
        assert len(sim.calls("gettoken")) == 1


class TestTransientFailures:
    @pytest.mark.parametrize("errcode", [-1, 45009, 45033])
    def test_retried_until_it_works(self, sim, client, errcode):
        sim.fail_next("message/send", errcode, times=2)
        assert client.send_app_message(touser="advisor01", msgtype="text", content={"content": "提醒"})
        assert [c[1] for c in sim.calls("message/send")] == [errcode, errcode, 0]

    def test_http_500_is_retried(self, sim, client):
        sim.fail_next("externalcontact/add_msg_template", http_status=500, times=2)
        result = client.add_msg_template(sender="advisor01", external_userids=["wm_1", "wm_2"], text="节日问候")
        assert result["msgid"] and result["fail_list"] == []
        assert len(sim.msg_templates()) == 1

    def test_gettoken_busy_is_retried(self, sim, client):
        sim.fail_next("gettoken", -1)
        assert client.get_access_token()
        assert [c[1] for c in sim.calls("gettoken")] == [-1, 0]

    def test_gives_up_after_bounded_attempts(self, sim, make_client, kfid):
        client = make_client(max_attempts=3)
        sim.fail_next("kf/service_state/trans", -1, times=10)
        with pytest.raises(WeComTransientError) as info:
            client.trans_service_state(open_kfid=kfid, external_userid="wm", state=1)
        assert info.value.errcode == -1 and info.value.api == "kf/service_state/trans"
        assert len(sim.calls("kf/service_state/trans")) == 3

    def test_timeout_is_retried(self, sim, make_client):
        client = make_client(timeout=0.3)
        client.get_access_token()
        sim.fail_next("message/send", 0, delay_s=1.0)  # no answer within the client's timeout
        assert client.send_app_message(touser="advisor01", msgtype="markdown", content={"content": "**待办**"})
        # the slow first request lands later anyway, as it may in real life (message/send has no idempotency key)
        sim.wait_for(lambda: len(sim.app_messages()) == 2, timeout=5)

    def test_connection_refused_is_transient(self, make_client):
        client = make_client(api_base="http://127.0.0.1:9", max_attempts=2)
        with pytest.raises(WeComTransientError):
            client.get_access_token()

    def test_backoff_grows(self, sim, make_client):
        delays: list[float] = []
        client = make_client(backoff_base=1.0, backoff_max=3.0, max_attempts=4, sleep=delays.append)
        sim.fail_next("message/send", -1, times=3)
        client.send_app_message(touser="a", msgtype="text", content={"content": "x"})
        assert len(delays) == 3 and 1.0 <= delays[0] < 2.0 <= delays[1] < 3.0 and delays[2] >= 3.0


class TestErrors:
    def test_errcode_becomes_wecom_api_error(self, client):
        with pytest.raises(WeComAPIError) as info:
            client.send_kf_text(open_kfid="wk_unknown", external_userid="wm", text="hi", msgid="e1")
        assert info.value.errcode == 95000 and info.value.api == "kf/send_msg"
        assert not isinstance(info.value, WeComTransientError)

    def test_wrong_agentid(self, sim, make_client):
        client = make_client()
        client.agent_id = 1
        with pytest.raises(WeComAPIError) as info:
            client.send_app_message(touser="advisor01", msgtype="text", content={"content": "x"})
        assert info.value.errcode == 40056

    def test_http_404_is_not_retried(self, sim, client):
        sim.fail_next("kf/service_state/get", http_status=404)
        with pytest.raises(WeComAPIError) as info:
            client.get_service_state(open_kfid="wk", external_userid="wm")
        assert info.value.errcode == 404 and not isinstance(info.value, WeComTransientError)

    @pytest.mark.parametrize("msgid", ["", "has space", "x" * 33, "中文"])
    def test_msgid_is_validated(self, client, msgid):
        with pytest.raises(ValueError):
            client.send_kf_text(open_kfid="wk", external_userid="wm", text="hi", msgid=msgid)


class TestSendKfText:
    def test_same_msgid_is_delivered_once(self, sim, client, kfid):
        sim.client_says("wm_i", "你好")
        assert client.send_kf_text(open_kfid=kfid, external_userid="wm_i", text="您好", msgid="reply-1p0") == "reply-1p0"
        assert client.send_kf_text(open_kfid=kfid, external_userid="wm_i", text="您好", msgid="reply-1p0") == "reply-1p0"
        assert len(sim.sent_to("wm_i")) == 1

    def test_long_reply_is_split_and_arrives_whole(self, sim, client, kfid):
        sim.client_says("wm_long", "开户要准备什么？")
        parts = split_utf8(LONG_REPLY)
        assert len(parts) <= 5 and len(parts) > 1
        for index, part in enumerate(parts):
            client.send_kf_text(open_kfid=kfid, external_userid="wm_long", text=part, msgid=f"long1p{index}")
        received = [m["text"] for m in sim.sent_to("wm_long")]
        assert received == parts and all(utf8_len(t) <= 2048 for t in received)
        assert "".join("".join(t.split()) for t in received) == "".join(LONG_REPLY.split())

    def test_over_2048_bytes_is_refused_before_sending(self, sim, client, kfid):
        with pytest.raises(ValueError):
            client.send_kf_text(open_kfid=kfid, external_userid="wm", text="中" * 683, msgid="big")
        assert sim.calls("kf/send_msg") == []

    def test_simulator_refuses_over_2048_bytes_like_wecom(self, sim, client, kfid):
        import httpx

        sim.client_says("wm_raw", "hi")
        r = httpx.post(f"{sim.base_url}/cgi-bin/kf/send_msg", params={"access_token": client.get_access_token()},
                       json={"touser": "wm_raw", "open_kfid": kfid, "msgtype": "text", "text": {"content": "中" * 683}})
        assert r.json()["errcode"] == 45002


class TestWindow:
    def test_five_messages_then_window_closed(self, sim, client, kfid):
        sim.client_says("wm_w", "请问")
        for i in range(5):
            client.send_kf_text(open_kfid=kfid, external_userid="wm_w", text=f"第{i + 1}条", msgid=f"w{i}")
        with pytest.raises(WeComWindowClosedError) as info:
            client.send_kf_text(open_kfid=kfid, external_userid="wm_w", text="第6条", msgid="w5")
        assert info.value.errcode == 95001
        sim.client_says("wm_w", "还有一个问题")  # the client writes again: a new window
        client.send_kf_text(open_kfid=kfid, external_userid="wm_w", text="请讲", msgid="w6")
        assert len(sim.sent_to("wm_w")) == 6

    def test_48_hours_after_the_client_wrote(self, sim, client, kfid):
        sim.client_says("wm_h", "在吗")
        sim.advance(47 * 3600)
        client.send_kf_text(open_kfid=kfid, external_userid="wm_h", text="在的", msgid="h1")
        sim.advance(2 * 3600)
        with pytest.raises(WeComWindowClosedError) as info:
            client.send_kf_text(open_kfid=kfid, external_userid="wm_h", text="还在吗", msgid="h2")
        assert info.value.errcode == 95002

    def test_client_that_never_wrote(self, client, kfid):
        with pytest.raises(WeComWindowClosedError):
            client.send_kf_text(open_kfid=kfid, external_userid="wm_never", text="您好", msgid="n1")

    def test_session_held_by_a_human(self, sim, client, kfid):
        sim.client_says("wm_s", "转人工")
        assert client.trans_service_state(open_kfid=kfid, external_userid="wm_s", state=3,
                                          servicer_userid="advisor01")
        assert client.get_service_state(open_kfid=kfid, external_userid="wm_s") == (3, "advisor01")
        with pytest.raises(WeComWindowClosedError) as info:
            client.send_kf_text(open_kfid=kfid, external_userid="wm_s", text="机器人回复", msgid="s1")
        assert info.value.errcode == 95018


class TestServiceState:
    def test_bot_then_queue_then_human(self, sim, client, kfid):
        sim.client_says("wm_q", "你好")
        assert client.get_service_state(open_kfid=kfid, external_userid="wm_q") == (0, None)
        assert client.trans_service_state(open_kfid=kfid, external_userid="wm_q", state=1) is None
        assert client.trans_service_state(open_kfid=kfid, external_userid="wm_q", state=2)  # a msg_code
        client.trans_service_state(open_kfid=kfid, external_userid="wm_q", state=3, servicer_userid="advisor02")
        assert [(c["from_state"], c["to_state"]) for c in sim.state_changes("wm_q")] == [(0, 1), (1, 2), (2, 3)]

    def test_disallowed_transition(self, sim, client, kfid):
        with pytest.raises(WeComAPIError) as info:
            client.trans_service_state(open_kfid=kfid, external_userid="wm_nobody", state=1)
        assert info.value.errcode == 95016

    def test_human_needs_a_servicer(self, client, kfid):
        with pytest.raises(ValueError):
            client.trans_service_state(open_kfid=kfid, external_userid="wm", state=3)


class TestAppMessages:
    def test_text_goes_to_staff_with_agentid(self, sim, client):
        msgid = client.send_app_message(touser="advisor01", msgtype="textcard",
                                        content={"title": "客户转人工", "description": "客户 wm_1 需要人工服务",
                                                 "url": "http://127.0.0.1/console", "btntxt": "处理"})
        [sent] = sim.app_messages("advisor01")
        assert sent["msgid"] == msgid and sent["agentid"] == 1000002 and sent["content"]["title"] == "客户转人工"

    def test_long_text_is_shortened_not_cut_by_wecom(self, sim, client):
        client.send_app_message(touser="advisor01", msgtype="text", content={"content": "摘要。" * 1000})
        [sent] = sim.app_messages()
        assert not sent["truncated"] and utf8_len(sent["content"]["content"]) <= 2048
        assert sent["content"]["content"].endswith("…")

    def test_unknown_msgtype(self, client):
        with pytest.raises(ValueError):
            client.send_app_message(touser="a", msgtype="voice", content={})
