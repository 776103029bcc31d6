"""Advisors and time, end to end: the real app over HTTP, the real worker, the WeCom simulator on loopback.

The bot's clock and the simulator's clock are moved together (no sleeping on wall-clock minutes): both start on a
trading day at 09:30 in Shanghai, so working hours, the SLA and the 48 h kf window are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot import worker
from bot.config import DEMO_WECOM, load_settings
from bot.main import create_app
from bot.models import Client, Escalation
from bot.pipeline.schemas import Action, Context, Outcome
from bot.services import Services
from bot.wecom.client import WechatpyWeComClient
from bot.wecom.simulator import WeComSimulator
from scheduler import registry, reminders
from tests.scheduler.support import FakeGate, local, make_advisor, make_client, ready_db
from tests.support.clock import Clock
from tests.support.live import free_port, serve_app

START = local(2026, 12, 1, 9, 30)  # Tuesday, a trading day


class EchoAnswerer:
    def answer(self, text: str, ctx: Context) -> Outcome:
        return Outcome(action=Action.answer, reply="您好，这里是智能助手，请问有什么可以帮您？")


@dataclass
class World:
    sim: WeComSimulator
    services: Services
    clock: Clock
    base: str

    def drain(self) -> None:
        worker.drain(self.services)

    def api(self, method: str, path: str, staff: str, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
        return httpx.request(method, f"{self.base}/api{path}", headers={"X-Staff-User": staff}, timeout=10, **kwargs)


def _gate(settings):  # type: ignore[no-untyped-def]
    """The project's compliance engine when it is there (the real screening), else the test double."""
    try:
        from compliance.gate import ComplianceGate
    except ImportError:
        return FakeGate()
    return ComplianceGate.from_settings(settings)


def _services(settings, sim, clock) -> Services:  # type: ignore[no-untyped-def]
    db = ready_db(settings.db_url)
    wecom = WechatpyWeComClient(settings.wecom, db, clock=clock, backoff_base=0.01, backoff_max=0.05, timeout=5.0)
    return Services(settings=settings, db=db, wecom=wecom, answerer=EchoAnswerer(), gate=_gate(settings), clock=clock)


@pytest.fixture
def world(tmp_path) -> Iterator[World]:  # type: ignore[no-untyped-def]
    port = free_port()
    sim = WeComSimulator(DEMO_WECOM["wecom_corp_id"], DEMO_WECOM["wecom_agent_id"], DEMO_WECOM["wecom_secret"],
                         DEMO_WECOM["wecom_token"], DEMO_WECOM["wecom_aes_key"],
                         f"http://127.0.0.1:{port}/wecom/callback")
    with sim:
        settings = load_settings(_env_file=None, scrm_env="demo", scrm_data_dir=tmp_path / "var",
                                 wecom_api_base=sim.base_url, scrm_public_url="https://scrm.example.com")
        clock = Clock(sim, START)
        services = _services(settings, sim, clock)
        with services.db.session() as s:
            make_advisor(s, "adv_a", name="王顾问")
            make_advisor(s, "adv_b", name="李顾问")
            make_advisor(s, "boss", name="赵主管", is_supervisor=True)
            make_client(s, "wm_e2e", name="张三", advisor_userid="adv_a", risk_level="C3")
        app = create_app(services, workers=False, scheduler=False)
        with serve_app(app, port=port) as base:
            yield World(sim=sim, services=services, clock=clock, base=base)
        services.wecom.close()
        services.db.dispose()


def _ask_for_a_person(world: World, text: str = "我要找人工") -> int:
    assert world.sim.client_says("wm_e2e", text).delivered
    world.drain()
    with world.services.db.session() as s:
        return s.exec(Escalation.__table__.select().order_by(Escalation.id.desc())).first().id


class TestEscalationEndToEnd:
    def test_person_request_reaches_owner_and_the_draft_reaches_the_client(self, world):  # type: ignore[no-untyped-def]
        eid = _ask_for_a_person(world)
        holding = world.sim.sent_to("wm_e2e")
        assert len(holding) == 1 and "转接人工服务" in holding[0]["text"]
        [card] = world.sim.app_messages("adv_a")
        assert card["msgtype"] == "textcard"
        # (the host is SCRM_PUBLIC_URL once the handler passes settings=services.settings to escalate())
        assert card["content"]["url"].endswith(f"/console/escalations/{eid}")
        assert world.sim.service_state("wm_e2e")[0] in (0, 1)  # the API keeps the session: it can still send

        mine = world.api("GET", "/escalations", "adv_a").json()
        assert [e["id"] for e in mine] == [eid] and mine[0]["reason"] == "requested_human"
        detail = world.api("GET", f"/escalations/{eid}", "adv_a").json()
        assert detail["draft_text"].startswith("您好，我是您的服务经理王顾问")
        assert detail["window"]["open"] and detail["window"]["messages_left"] == 4
        assert [t["text"] for t in detail["transcript"]][:1] == ["我要找人工"]
        assert world.api("GET", "/escalations", "adv_b").json() == []
        assert world.api("POST", f"/escalations/{eid}/reply", "adv_b", json={}).status_code == 403

        world.clock.advance(minutes=2)
        assert world.api("POST", f"/escalations/{eid}/claim", "adv_a").json()["status"] == "claimed"
        refused = world.api("POST", f"/escalations/{eid}/reply", "adv_a", json={"text": "这只基金保证收益"})
        assert refused.status_code == 422 and refused.json()["rewrite_hint"]
        sent = world.api("POST", f"/escalations/{eid}/reply", "adv_a", json={"request_id": "r1"})
        assert sent.status_code == 200 and sent.json()["status"] == "queued"
        again = world.api("POST", f"/escalations/{eid}/reply", "adv_a", json={"request_id": "r1"})  # a retried click
        assert again.json()["message_id"] == sent.json()["message_id"]
        world.drain()
        texts = [m["text"] for m in world.sim.sent_to("wm_e2e")]
        assert texts == [holding[0]["text"], detail["draft_text"]]

        # The client writes again: the bot stays silent while the advisor has the conversation.
        world.sim.client_says("wm_e2e", "好的，我想问一下开户的事")
        world.drain()
        assert len(world.sim.sent_to("wm_e2e")) == 2
        resolved = world.api("POST", f"/escalations/{eid}/resolve", "adv_a", json={"outcome": "已解答开户问题"})
        assert resolved.json()["status"] == "resolved"
        assert [h["action"] for h in resolved.json()["history"]] == ["create", "claim", "reply_refused", "reply",
                                                                     "resolve"]
        world.sim.client_says("wm_e2e", "谢谢")  # back with the bot
        world.drain()
        assert world.sim.sent_to("wm_e2e")[-1]["text"] == "您好，这里是智能助手，请问有什么可以帮您？"

    def test_takeover_into_wecom_and_hand_back(self, world):  # type: ignore[no-untyped-def]
        eid = _ask_for_a_person(world)
        assert world.api("POST", f"/escalations/{eid}/takeover", "adv_a").status_code == 200
        world.drain()
        assert world.sim.service_state("wm_e2e") == (3, "adv_a")
        blocked = world.api("POST", f"/escalations/{eid}/reply", "adv_a", json={})
        assert blocked.status_code == 409 and "WeCom" in blocked.json()["detail"]
        assert world.api("POST", f"/escalations/{eid}/hand-back", "adv_a", json={}).json()["status"] == "returned"
        world.drain()
        assert world.sim.service_state("wm_e2e")[0] == 4  # 3 -> 1 is not allowed: the session ends
        world.sim.client_says("wm_e2e", "你好")  # a new session (state 0): the bot answers
        world.drain()
        assert world.sim.sent_to("wm_e2e")[-1]["text"].startswith("您好，这里是智能助手")

    def test_unclaimed_escalation_is_renotified_then_reassigned(self, world):  # type: ignore[no-untyped-def]
        eid = _ask_for_a_person(world)
        for minutes, expected in ((3, (1, 0)), (3, (2, 0)), (3, (2, 0)), (8, (2, 1))):
            world.clock.advance(minutes=minutes)
            registry.run_job_now(world.services, "escalations.sla_sweep")
            registry.run_job_now(world.services, "escalations.sla_sweep")  # the job firing twice
            world.drain()
            counts = (len(world.sim.app_messages("adv_a")), len(world.sim.app_messages("adv_b")))
            assert counts == expected, minutes
        assert "第2次提醒" in world.sim.app_messages("adv_a")[1]["content"]["title"]
        assert "转派" in world.sim.app_messages("adv_b")[0]["content"]["title"]
        assert world.api("GET", "/escalations", "adv_b").json()[0]["id"] == eid
        world.clock.advance(minutes=16)
        registry.run_job_now(world.services, "escalations.sla_sweep")
        world.drain()
        assert "主管" in world.sim.app_messages("boss")[0]["content"]["title"]


class TestRemindersEndToEnd:
    def test_risk_expiry_in_7_days_is_sent_once_inside_hours(self, world, tmp_path):  # type: ignore[no-untyped-def]
        with world.services.db.session() as s:
            make_client(s, "wm_r", name="李四", advisor_userid="adv_a",
                        risk_assessment_expires=(START + timedelta(days=7)).astimezone(world.services.settings.tz).date())
            make_client(s, "wm_out", name="王五", advisor_userid="adv_a",
                        risk_assessment_expires=(START + timedelta(days=7)).astimezone(world.services.settings.tz).date())
        world.sim.client_says("wm_r", "你好")  # both clients wrote: their kf windows are open
        world.sim.client_says("wm_out", "你好")
        world.drain()
        world.sim.client_says("wm_out", "退订")  # the client opts out in chat
        world.drain()
        assert "退订" in world.sim.sent_to("wm_out")[-1]["text"]
        with world.services.db.session() as s:
            assert s.exec(Client.__table__.select().where(Client.wecom_external_userid == "wm_out")).first().opted_out
        before = {u: len(world.sim.sent_to(u)) for u in ("wm_r", "wm_out")}

        early = world.clock.at.replace(hour=0)  # 08:00 in Shanghai: quiet hours
        quiet = reminders.run_due(db=world.services.db, now=early, gate=world.services.gate,
                                  settings=world.services.settings)
        assert quiet.quiet
        world.clock.advance(minutes=30)  # 10:00
        registry.run_job_now(world.services, "reminders.run_due")
        registry.run_job_now(world.services, "reminders.run_due")  # the job fires twice
        world.drain()
        # The process restarts: new engine, new WeCom client, same database; the job runs again.
        restarted = _services(world.services.settings, world.sim, world.clock)
        try:
            world.clock.advance(minutes=30)
            registry.run_job_now(restarted, "reminders.run_due")
            registry.run_job_now(restarted, "outbox.retry_stale")
        finally:
            restarted.wecom.close()
            restarted.db.dispose()
        world.drain()
        new = world.sim.sent_to("wm_r")[before["wm_r"]:]
        assert len(new) == 1 and "风险承受能力评估" in new[0]["text"] and "李四" in new[0]["text"]
        sent_at = datetime.fromtimestamp(new[0]["at"], UTC).astimezone(world.services.settings.tz)
        assert 9 <= sent_at.hour < 20
        assert world.sim.sent_to("wm_out")[before["wm_out"]:] == []  # opted out: nothing
        assert world.sim.msg_templates() == []
