"""The console over real HTTP: sign-in and sessions, role checks, and every page with real data made by the real
services (escalations raised by the pipeline through the WeCom simulator, flags recorded by compliance.service)."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from bot.console import auth
from bot.models import Advisor, Client, Escalation
from tests.bot.console.conftest import TOKEN, csrf


def _anonymous(world) -> httpx.Client:  # type: ignore[no-untyped-def]
    return httpx.Client(base_url=world.console, timeout=30, follow_redirects=False)


def _flag(world, text: str, conversation_id: int | None = None) -> int:  # type: ignore[no-untyped-def]
    return world.flag(text, conversation_id)


class TestSignIn:
    def test_pages_need_a_session(self, world):  # type: ignore[no-untyped-def]
        http = _anonymous(world)
        r = http.get("/escalations/7")
        assert r.status_code == 303
        assert r.headers["location"] == "/console/login?next=%2Fconsole%2Fescalations%2F7"
        assert http.get("/compliance").status_code == 303
        assert http.post("/escalations/7/claim", data={"csrf": "x"}).status_code == 303
        page = http.get("/login?next=/console/escalations/7")
        assert page.status_code == 200 and "员工登录" in page.text and 'value="/console/escalations/7"' in page.text

    def test_login_with_userid_and_token_goes_back_where_it_was_asked(self, world):  # type: ignore[no-untyped-def]
        http = _anonymous(world)
        r = http.post("/login", data={"userid": "adv_a", "token": TOKEN, "next": "/console/escalations"})
        assert r.status_code == 303 and r.headers["location"] == "/console/escalations"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert http.get("/escalations").status_code == 200

    @pytest.mark.parametrize("userid, token, expected", [
        ("adv_a", "wrong-token", "管理口令不正确"),
        ("adv_a", "", "管理口令不正确"),
        ("nobody", TOKEN, "不是在职员工"),
        ("demo_ops", TOKEN, "不是在职员工"),  # the demo identities exist in demo mode only
    ])
    def test_bad_logins_are_refused(self, world, userid, token, expected):  # type: ignore[no-untyped-def]
        r = _anonymous(world).post("/login", data={"userid": userid, "token": token})
        assert r.status_code == 401 and expected in r.text and "set-cookie" not in r.headers

    def test_next_never_leaves_the_console(self, world):  # type: ignore[no-untyped-def]
        for target in ("https://evil.example/", "//evil.example/console/", "/api/escalations"):
            r = _anonymous(world).post("/login", data={"userid": "adv_a", "token": TOKEN, "next": target})
            assert r.headers["location"] == "/console/"

    def test_a_deactivated_advisor_is_signed_out_at_once(self, world):  # type: ignore[no-untyped-def]
        with world.services.db.session() as s:
            s.add(Advisor(wecom_userid="adv_gone", name="离职顾问"))
        staff = world.login("adv_gone")
        assert staff.get("/").status_code == 200
        with world.services.db.session() as s:
            row = s.exec(select(Advisor).where(Advisor.wecom_userid == "adv_gone")).one()
            row.active = False
            s.add(row)
        assert staff.get("/").status_code == 303

    def test_staff_without_a_console_role_cannot_sign_in(self, world):  # type: ignore[no-untyped-def]
        with world.services.db.session() as s:
            s.add(Advisor(wecom_userid="no_roles", name="无权限", roles=[]))
        r = _anonymous(world).post("/login", data={"userid": "no_roles", "token": TOKEN})
        assert r.status_code == 401 and "未开通控制台权限" in r.text

    def test_logout_ends_the_session(self, world):  # type: ignore[no-untyped-def]
        staff = world.login("adv_a")
        r = staff.post("/logout")
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
        assert staff.get("/").status_code == 303


class TestForgedSessions:
    def _cookie(self, staff) -> str:  # type: ignore[no-untyped-def]
        return staff.http.cookies[auth.COOKIE]

    def _with_cookie(self, world, value: str) -> httpx.Response:  # type: ignore[no-untyped-def]
        http = _anonymous(world)
        http.cookies.set(auth.COOKIE, value, path="/console")
        return http.get("/escalations")

    def test_an_edited_payload_is_rejected(self, world):  # type: ignore[no-untyped-def]
        body, mac = self._cookie(world.login("adv_b")).split(".")
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        payload["u"] = "boss"  # become the supervisor, keep the signature
        forged = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        assert self._with_cookie(world, f"{forged}.{mac}").status_code == 303

    def test_a_cookie_signed_with_another_key_is_rejected(self, world):  # type: ignore[no-untyped-def]
        payload = {"u": "boss", "csrf": "c", "exp": int(time.time()) + 3600}
        assert self._with_cookie(world, auth.sign(b"guessed-key", payload)).status_code == 303
        assert self._with_cookie(world, "garbage").status_code == 303
        assert self._with_cookie(world, "").status_code == 303

    def test_an_expired_cookie_is_rejected(self, world):  # type: ignore[no-untyped-def]
        import hashlib
        import hmac

        key = hmac.new(TOKEN.encode(), b"scrm-console-session-v1", hashlib.sha256).digest()
        good = {"u": "adv_a", "csrf": "c", "exp": int(time.time()) + 60}
        assert self._with_cookie(world, auth.sign(key, good)).status_code == 200  # the derivation is what we think
        assert self._with_cookie(world, auth.sign(key, {**good, "exp": int(time.time()) - 1})).status_code == 303

    def test_posts_need_the_session_csrf_token_and_this_origin(self, world):  # type: ignore[no-untyped-def]
        eid, _ = world.escalation("adv_a")
        staff = world.login("adv_a")
        assert staff.http.post(f"/escalations/{eid}/claim", data={}).status_code == 403
        assert staff.http.post(f"/escalations/{eid}/claim", data={"csrf": "not-it"}).status_code == 403
        other = world.login("adv_a")  # a second session of the same person has its own token
        assert staff.http.post(f"/escalations/{eid}/claim", data={"csrf": other.csrf}).status_code == 403
        cross = staff.post(f"/escalations/{eid}/claim", headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403 and "无权访问" in cross.text
        assert staff.get(f"/escalations/{eid}").text.count("待认领") >= 1  # nothing happened
        assert staff.post(f"/escalations/{eid}/claim").status_code == 303


class TestRoles:
    def test_an_advisor_cannot_open_or_act_on_another_advisors_escalation(self, world):  # type: ignore[no-untyped-def]
        eid, user = world.escalation("adv_a")
        before = len(world.sim.sent_to(user))
        b = world.login("adv_b")
        page = b.get(f"/escalations/{eid}")
        assert page.status_code == 403 and "无权访问" in page.text and "张三" not in page.text
        for action in ("claim", "reply", "resolve", "hand-back", "takeover"):
            assert b.post(f"/escalations/{eid}/{action}", {"text": "你好", "outcome": "x"}).status_code == 403
        assert f"/escalations/{eid}\"" not in b.get("/escalations").text
        world.drain()
        assert len(world.sim.sent_to(user)) == before
        assert world.login("boss").get(f"/escalations/{eid}").status_code == 200  # a supervisor sees all

    @pytest.mark.parametrize("userid, allowed, forbidden", [
        ("adv_a", ["/escalations"], ["/compliance", "/compliance/lexicon", "/kb", "/kb/try", "/clients", "/reminders"]),
        ("cmp", ["/compliance", "/compliance/lexicon"], ["/escalations", "/kb", "/clients", "/reminders"]),
        ("ops", ["/kb", "/kb/unanswered", "/clients", "/reminders"], ["/escalations", "/compliance"]),
    ])
    def test_each_role_sees_its_own_areas(self, world, userid, allowed, forbidden):  # type: ignore[no-untyped-def]
        staff = world.login(userid)
        for path in allowed:
            assert staff.get(path).status_code == 200, path
        for path in forbidden:
            r = staff.get(path)
            assert r.status_code == 403 and "无权访问" in r.text, path
        nav = staff.get("/").text
        assert ("合规复核</a>" in nav) == (userid == "cmp")
        assert ("知识库</a>" in nav) == (userid == "ops")

    def test_posts_are_role_checked_too(self, world):  # type: ignore[no-untyped-def]
        flag_id = _flag(world, "这只基金保证收益。")
        ops = world.login("ops")
        assert ops.post(f"/compliance/flags/{flag_id}/decision", {"status": "dismissed"}).status_code == 403
        adv = world.login("adv_a")
        assert adv.post("/kb/new", {"id": "faq_x", "question": "q", "answer": "a"}).status_code == 403
        assert world.services.kb.get("faq_x") is None


class TestHome:
    def test_counts_per_role(self, world):  # type: ignore[no-untyped-def]
        adv = world.login("adv_b")
        before = int(_count(adv.get("/").text, "mine"))
        world.escalation("adv_b")
        assert int(_count(adv.get("/").text, "mine")) == before + 1
        _flag(world, "稳赚不赔的产品。")
        cmp = world.login("cmp").get("/").text
        assert int(_count(cmp, "flags")) >= 1 and 'data-count="mine"' not in cmp
        ops = world.login("ops").get("/").text
        assert _count(ops, "unanswered") is not None and 'data-count="flags"' not in ops
        assert 'data-count="all_open"' in world.login("boss").get("/").text


def _count(page: str, name: str) -> str | None:
    import re

    match = re.search(rf'data-count="{name}">(\d+)<', page)
    return match.group(1) if match else None


class TestEscalations:
    def test_list_shows_reason_client_waiting_time_and_sla(self, world):  # type: ignore[no-untyped-def]
        eid, user = world.escalation("adv_a")
        page = world.login("adv_a").get("/escalations").text
        assert f'/console/escalations/{eid}"' in page and "客户要求人工服务" in page and user in page
        assert "等待时长" in page and "12-01 09:45" in page  # 09:30 + 15 min SLA, in Shanghai time

    def test_detail_has_everything_an_advisor_needs(self, world):  # type: ignore[no-untyped-def]
        eid, user = world.escalation("adv_a", text="我要找人工，问一下开户")
        with world.services.db.session() as s:
            client = s.exec(select(Client).where(Client.wecom_external_userid == user)).one()
            client.risk_assessment_expires = (world.clock() - timedelta(days=1)).date()
            s.add(client)
        page = world.login("adv_a").get(f"/escalations/{eid}").text
        for expected in ("客户要求人工服务", "我要找人工，问一下开户", "C3", "打新", "600519", "adv_a",
                         "本窗口还可发送 <strong>4</strong> 条消息", "您好，我是您的服务经理王顾问", "创建工单",
                         "已过期", 'id="claim"', 'id="resolve"', 'id="hand-back"', 'id="takeover"'):
            assert expected in page, expected

    def test_claim_refused_reply_edited_reply_and_resolve(self, world):  # type: ignore[no-untyped-def]
        eid, user = world.escalation("adv_a")
        holding = len(world.sim.sent_to(user))
        adv = world.login("adv_a")
        r = adv.post(f"/escalations/{eid}/claim")
        assert r.status_code == 303 and r.headers["location"] == f"/console/escalations/{eid}?done=claimed"
        assert "已认领该工单" in adv.follow(r).text

        refused = adv.post(f"/escalations/{eid}/reply", {"text": "这只基金保证收益，稳赚不赔", "request_id": "r0"})
        assert refused.status_code == 422
        assert "未通过合规检查" in refused.text and "修改建议" in refused.text and "稳赚不赔" in refused.text
        world.drain()
        assert len(world.sim.sent_to(user)) == holding  # nothing sent

        edited = "您好，开户所需材料是本人身份证和银行卡，我稍后再与您确认细节。"
        sent = adv.post(f"/escalations/{eid}/reply", {"text": edited, "request_id": "r1"})
        assert sent.status_code == 303 and sent.headers["location"].endswith("done=sent")
        again = adv.post(f"/escalations/{eid}/reply", {"text": edited, "request_id": "r1"})  # a double click
        assert again.status_code == 303
        world.drain()
        assert [m["text"] for m in world.sim.sent_to(user)[holding:]] == [edited]

        done = adv.post(f"/escalations/{eid}/resolve", {"outcome": "已解答开户问题"})
        assert done.status_code == 303
        page = adv.get(f"/escalations/{eid}").text
        assert "已结案" in page and "已解答开户问题" in page and "回复未通过合规检查" in page
        assert f'/console/escalations/{eid}"' in adv.get("/escalations?status=closed").text

    def test_sending_the_draft_unchanged(self, world):  # type: ignore[no-untyped-def]
        eid, user = world.escalation("adv_a")
        adv = world.login("adv_a")
        with world.services.db.session() as s:
            draft = s.get(Escalation, eid).draft_text
        assert adv.post(f"/escalations/{eid}/reply", {"text": draft + "\r\n", "request_id": "d1"}).status_code == 303
        world.drain()
        assert world.sim.sent_to(user)[-1]["text"] == draft

    def test_takeover_then_hand_back(self, world):  # type: ignore[no-untyped-def]
        eid, user = world.escalation("adv_a")
        adv = world.login("adv_a")
        assert adv.post(f"/escalations/{eid}/takeover").status_code == 303
        world.drain()
        assert world.sim.service_state(user) == (3, "adv_a")
        page = adv.get(f"/escalations/{eid}").text
        assert "已转入企业微信接待" in page and 'id="send" disabled' in page
        blocked = adv.post(f"/escalations/{eid}/reply", {"text": "你好", "request_id": "t1"})
        assert blocked.status_code == 409 and "请直接在企业微信中回复客户" in blocked.text
        assert adv.post(f"/escalations/{eid}/hand-back", {"note": "客户已无疑问"}).status_code == 303
        assert "已交还机器人" in adv.get(f"/escalations/{eid}").text

    def test_a_closed_window_is_shown_and_nothing_is_sent(self, world):  # type: ignore[no-untyped-def]
        eid, _ = world.escalation("adv_a")
        adv = world.login("adv_a")
        world.clock.advance(hours=49)
        try:
            page = adv.get(f"/escalations/{eid}").text
            assert "会话窗口已关闭" in page
            r = adv.post(f"/escalations/{eid}/reply", {"text": "你好", "request_id": "w1"})
            assert r.status_code == 409 and "群发任务或电话" in r.text
        finally:
            world.clock.advance(hours=-49)

    def test_unknown_escalation_is_a_404_page(self, world):  # type: ignore[no-untyped-def]
        r = world.login("boss").get("/escalations/999999")
        assert r.status_code == 404 and "未找到" in r.text


class TestCompliance:
    def test_queue_filters_detail_and_decision(self, world):  # type: ignore[no-untyped-def]
        flag_id = _flag(world, "这只基金保证收益，稳赚不赔。")
        cmp = world.login("cmp")
        queue = cmp.get("/compliance").text
        assert f"/console/compliance/flags/{flag_id}\"" in queue
        assert f"flags/{flag_id}\"" in cmp.get("/compliance?severity=block&category=guarantee_return").text
        assert f"flags/{flag_id}\"" not in cmp.get("/compliance?severity=warn").text
        assert f"flags/{flag_id}\"" not in cmp.get("/compliance?status=dismissed").text
        assert f"flags/{flag_id}\"" in cmp.get("/compliance?from=2026-12-01&to=2026-12-01").text
        assert f"flags/{flag_id}\"" not in cmp.get("/compliance?from=2026-11-01&to=2026-11-30").text

        page = cmp.get(f"/compliance/flags/{flag_id}").text
        assert '<mark class="sev-block"' in page and ">保证收益</mark>" in page and ">稳赚不赔</mark>" in page
        assert world.services.gate.lexicon.version in page and "待复核" in page

        r = cmp.post(f"/compliance/flags/{flag_id}/decision", {"status": "confirmed", "note": "承诺收益，已约谈"})
        assert r.status_code == 303 and r.headers["location"].endswith("done=confirmed")
        page = cmp.follow(r).text
        assert "确认违规" in page and "承诺收益，已约谈" in page and "cmp" in page
        conflict = cmp.post(f"/compliance/flags/{flag_id}/decision", {"status": "dismissed"})
        assert conflict.status_code == 409 and "已由他人作出不同结论" in conflict.text

    def test_flag_with_its_conversation_context(self, world):  # type: ignore[no-untyped-def]
        eid, _ = world.escalation("adv_a", text="我要找人工，我想买基金")
        with world.services.db.session() as s:
            conversation_id = s.get(Escalation, eid).conversation_id
        flag_id = _flag(world, "保本保息，放心买。", conversation_id=conversation_id)
        page = world.login("cmp").get(f"/compliance/flags/{flag_id}").text
        assert "会话上下文" in page and "我要找人工，我想买基金" in page

    def test_export_downloads_the_range(self, world):  # type: ignore[no-untyped-def]
        flag_id = _flag(world, "内幕消息，明天必涨。")
        cmp = world.login("cmp")
        csv = cmp.get("/compliance/export?from=2026-12-01&to=2026-12-01&format=csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert 'attachment; filename="compliance-flags-2026-12-01-2026-12-01.csv"' == csv.headers["content-disposition"]
        assert "内幕消息，明天必涨。" in csv.text
        jsonl = cmp.get("/compliance/export?from=2026-12-01&to=2026-12-01&format=jsonl")
        assert flag_id in [json.loads(line)["id"] for line in jsonl.text.splitlines()]
        assert cmp.get("/compliance/export?from=2026-11-01&to=2026-11-30&format=jsonl").text == ""
        bad = cmp.get("/compliance/export?from=2026-12-02&to=2026-12-01")
        assert bad.status_code == 400 and "请求有误" in bad.text

    def test_lexicon_is_read_only_with_its_version(self, world):  # type: ignore[no-untyped-def]
        page = world.login("cmp").get("/compliance/lexicon").text
        lexicon = world.services.gate.lexicon
        assert lexicon.version in page and "此页面只读" in page and "版本控制" in page
        first = next(iter(lexicon.categories.values()))
        assert first.name_zh in page and "<form" not in page.split("</header>")[1]


class TestKnowledgeBase:
    def test_create_is_a_draft_until_published_then_it_answers(self, world):  # type: ignore[no-untyped-def]
        ops = world.login("ops")
        question = "港股通的交易时间是什么？"
        form = {"id": "faq_hk_hours", "question": question, "similar_questions": "港股通几点开盘\n港股通交易时段",
                "answer": "港股通交易日为9:30-12:00、13:00-16:00（香港时间），以联交所公告为准。",
                "tags": "港股通，交易时间", "category": "交易规则", "risk_level": "", "effective": "2026-11-01",
                "expires": ""}
        r = ops.post("/kb/new", form)
        assert r.status_code == 303 and r.headers["location"] == "/console/kb/articles/faq_hk_hours?done=created"
        page = ops.get("/kb/articles/faq_hk_hours").text
        assert 'data-status="draft"' in page and "港股通几点开盘\n港股通交易时段" in page
        assert "草稿" in ops.get("/kb").text
        before = ops.get("/kb/try", params={"text": question}).text
        assert "faq_hk_hours" not in before  # a draft is not used
        assert ops.post("/kb/articles/faq_hk_hours/publish").status_code == 303
        after = ops.get("/kb/try", params={"text": question}).text
        assert 'data-action="answer"' in after and "联交所公告" in after and "faq_hk_hours" in after

        edited = {**form, "answer": "港股通交易时间以联交所公告为准。"}
        assert ops.post("/kb/articles/faq_hk_hours/edit", edited).status_code == 303
        assert 'data-status="published+draft"' in ops.get("/kb/articles/faq_hk_hours").text
        assert ops.post("/kb/articles/faq_hk_hours/delete").status_code == 303
        assert "faq_hk_hours" not in ops.get("/kb").text
        assert "faq_hk_hours" not in ops.get("/kb/try", params={"text": question}).text

    def test_invalid_and_duplicate_entries_keep_the_form(self, world):  # type: ignore[no-untyped-def]
        ops = world.login("ops")
        bad = ops.post("/kb/new", {"id": "faq_bad", "question": "没有答案的问题", "answer": "",
                                   "expires": "2026-13-40"})
        assert bad.status_code in (400, 422) and "请检查必填项和格式" in bad.text and "没有答案的问题" in bad.text
        dup = ops.post("/kb/new", {"id": "faq_hotline", "question": "客服热线？", "answer": "95000"})
        assert dup.status_code == 409 and "该编号已存在" in dup.text

    def test_list_search_and_hybrid_hits(self, world):  # type: ignore[no-untyped-def]
        page = world.login("ops").get("/kb", params={"q": "开户"}).text
        assert "faq_open_account" in page and "检索结果" in page and "faq_hotline" not in page.split("检索结果")[0]

    def test_upload_documents(self, world, tmp_path):  # type: ignore[no-untyped-def]
        ops = world.login("ops")
        doc = ("---\nid: doc_margin\ntitle: 融资融券业务说明\n---\n# 融资融券\n\n"
               "融资融券业务需开立信用账户，开户条件包括资产不低于50万元。\n")
        files = [("files", ("margin.md", doc.encode(), "text/markdown")),
                 ("files", ("notes.exe", b"MZ", "application/octet-stream"))]
        r = ops.http.post("/kb/import", data={"csrf": ops.csrf, "publish": "1"}, files=files)
        assert r.status_code == 200 and "导入结果" in r.text and "doc_margin" in r.text and "notes.exe" in r.text
        assert 'data-status="published"' in ops.get("/kb/articles/doc_margin").text
        assert "融资融券业务说明" in ops.get("/kb", params={"q": "融资融券"}).text
        broken = [("files", ("broken.pdf", b"%PDF-1.4 not really", "application/pdf"))]
        r = ops.http.post("/kb/import", data={"csrf": ops.csrf}, files=broken)
        assert r.status_code == 200 and "broken.pdf" in r.text and "错误" in r.text

    def test_unanswered_questions(self, world):  # type: ignore[no-untyped-def]
        user = world.new_client("adv_a")
        assert world.sim.client_says(user, "期权行权价怎么确定").delivered
        world.drain()
        page = world.login("ops").get("/kb/unanswered").text
        assert "期权行权价怎么确定" in page and "超出知识库范围" in page

    def test_try_shows_the_escalation_for_a_person(self, world):  # type: ignore[no-untyped-def]
        page = world.login("ops").get("/kb/try", params={"text": "我要找人工", "risk_level": "C2"}).text
        assert 'data-action="escalate"' in page and "requested_human" in page


class TestClients:
    def test_list_search_and_profile(self, world):  # type: ignore[no-untyped-def]
        user = world.new_client("adv_b", name="欧阳娜娜")
        ops = world.login("ops")
        assert user in ops.get("/clients", params={"q": "欧阳"}).text
        assert user not in ops.get("/clients", params={"q": "不存在的人"}).text
        profile = ops.get(f"/clients/{user}").text
        assert "欧阳娜娜" in profile and "C3" in profile and "600519" in profile and "adv_b" in profile
        assert ops.get("/clients/wm_nobody").status_code == 404

    def test_csv_import_reports_bad_rows_and_keeps_good_ones(self, world):  # type: ignore[no-untyped-def]
        csv = ("external_userid,name,risk_level,risk_assessment_expires,advisor_userid,tags,holdings\n"
               "wm_imp1,周一,C2,2027-01-31,adv_a,打新;理财,600519;000001\n"
               "wm_imp2,周二,C9,2027-01-31,adv_a,,\n")
        ops = world.login("ops")
        r = ops.http.post("/clients/import", data={"csrf": ops.csrf},
                          files={"file": ("clients.csv", csv.encode(), "text/csv")})
        assert r.status_code == 200 and "导入结果" in r.text
        assert "新增 <strong>1</strong>" in r.text and "<td>3</td>" in r.text and "risk_level" in r.text
        assert "周一" in ops.get("/clients/wm_imp1").text
        assert ops.get("/clients/wm_imp2").status_code == 404
        wrong = ops.http.post("/clients/import", data={"csrf": ops.csrf},
                              files={"file": ("clients.xlsx", b"PK", "application/octet-stream")})
        assert wrong.status_code == 400 and "只支持 .csv 或 .jsonl" in wrong.text

    def test_jsonl_import(self, world):  # type: ignore[no-untyped-def]
        rows = '{"external_userid": "wm_j1", "name": "吴一", "risk_level": "C4"}\nnot json\n'
        ops = world.login("ops")
        r = ops.http.post("/clients/import", data={"csrf": ops.csrf},
                          files={"file": ("clients.jsonl", rows.encode(), "application/x-ndjson")})
        assert "新增 <strong>1</strong>" in r.text and "<td>2</td>" in r.text


class TestReminders:
    def test_preview_lists_who_gets_what_and_why(self, world):  # type: ignore[no-untyped-def]
        day = world.clock().astimezone(world.settings.tz).date() + timedelta(days=1)
        user = world.new_client("adv_a", name="郑十", risk_assessment_expires=day + timedelta(days=7))
        page = world.login("ops").get("/reminders", params={"day": day.isoformat()}).text
        assert user in page and "风险测评到期" in page and "郑十" in page
        bad = world.login("ops").get("/reminders", params={"day": "tomorrow"})
        assert bad.status_code == 400


def test_every_page_uses_only_local_assets(world):  # type: ignore[no-untyped-def]
    page = world.login("ops").get("/kb").text
    assert "http://" not in page and "https://" not in page
    css = httpx.get(f"{world.console}/static/console.css", timeout=10)
    assert css.status_code == 200 and "url(" not in css.text


def test_pages_are_not_cached_framed_or_scripted_from_elsewhere(world):  # type: ignore[no-untyped-def]
    r = world.login("ops").get("/clients")
    assert r.headers["cache-control"] == "no-store" and r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert _anonymous(world).get("/login").headers["cache-control"] == "no-store"
    assert httpx.get(f"{world.console}/static/console.js", timeout=10).status_code == 200


def test_csrf_helper_reads_the_token(world):  # type: ignore[no-untyped-def]
    staff = world.login("cmp")
    assert csrf(staff.get("/compliance").text) == staff.csrf
