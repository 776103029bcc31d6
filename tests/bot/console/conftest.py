"""The console against the real app: build_services() (real knowledge base, real compliance gate, real WeCom
client) against the WeCom simulator on loopback, served by uvicorn; staff sign in over HTTP like a browser does.

One world per test module (building the knowledge base and loading the embedding model is the slow part); each test
makes its own clients and escalations, so tests do not depend on each other's data.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlmodel import select

from bot import worker
from bot.config import DEMO_WECOM, Settings, load_settings
from bot.main import create_app
from bot.models import Advisor, Client, Escalation
from bot.services import Services, build_services
from bot.wecom.client import WechatpyWeComClient
from bot.wecom.simulator import WeComSimulator
from tests.scheduler.support import local
from tests.support.clock import Clock
from tests.support.live import free_port, serve_app

TOKEN = "console-test-token"
START = local(2026, 12, 1, 9, 30)  # Tuesday, a trading day, 09:30 in Shanghai
FAQ = """
- id: faq_open_account
  question: 开户需要准备什么材料？
  similar_questions: [网上开户要带什么, 开户要什么证件]
  answer: 线上开户需要本人二代身份证、本人一类银行卡和本人实名手机号，全程约10分钟。
  tags: [开户]
- id: faq_hotline
  question: 客服热线是多少？
  similar_questions: [客服电话多少]
  answer: 示例证券客服热线为95000，交易日8:30-20:00有人工服务。
  tags: [客服]
"""
STAFF = [
    {"wecom_userid": "adv_a", "name": "王顾问"},
    {"wecom_userid": "adv_b", "name": "李顾问"},
    {"wecom_userid": "boss", "name": "赵主管", "is_supervisor": True},
    # Console-only staff. Escalation routing does not read roles yet; capacity 0 keeps them out of on-duty routing.
    {"wecom_userid": "cmp", "name": "钱合规", "roles": ["compliance"], "capacity": 0},
    {"wecom_userid": "ops", "name": "孙运营", "roles": ["ops"], "capacity": 0},
]


@dataclass
class World:
    sim: WeComSimulator
    services: Services
    settings: Settings
    clock: Clock
    base: str
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def console(self) -> str:
        return f"{self.base}/console"

    def drain(self) -> None:
        worker.drain(self.services)

    def new_client(self, advisor: str = "adv_a", **overrides) -> str:  # type: ignore[no-untyped-def]
        """A fresh client (its own conversation), owned by `advisor`."""
        userid = f"wm_c{next(self._ids)}"
        with self.services.db.session() as s:
            s.add(Client(wecom_external_userid=userid, name=overrides.pop("name", "张三"), risk_level="C3",
                         advisor_userid=advisor, tags=["打新"], holdings=["600519"], **overrides))
        return userid

    def escalation(self, advisor: str = "adv_a", text: str = "我要找人工") -> tuple[int, str]:
        """A client asks for a person through the simulator; the real pipeline escalates to their advisor."""
        userid = self.new_client(advisor)
        assert self.sim.client_says(userid, text).delivered
        self.drain()
        with self.services.db.session() as s:
            escalation = s.exec(select(Escalation).order_by(Escalation.id.desc())).first()
        assert escalation is not None and escalation.advisor_userid == advisor
        return escalation.id, userid

    def flag(self, text: str, conversation_id: int | None = None) -> int:
        """A compliance flag as the pipeline records it: the real gate's verdict on an outgoing text."""
        from bot.pipeline.schemas import Context
        from compliance import service as compliance_service

        result = self.services.gate.check_outbound(text, Context(now=self.clock()))
        with self.services.db.session() as s:
            [flag] = compliance_service.record_flags(session=s, message_id=None, conversation_id=conversation_id,
                                                     text=text, result=result, direction="out", now=self.clock(),
                                                     sender="advisor")
            return flag.id

    def login(self, userid: str) -> Staff:
        http = httpx.Client(base_url=self.console, timeout=30, follow_redirects=False)
        r = http.post("/login", data={"userid": userid, "token": TOKEN, "next": "/console/"})
        assert r.status_code == 303, r.text
        return Staff(http, csrf(http.get("/").text))


@dataclass
class Staff:
    http: httpx.Client
    csrf: str

    def get(self, path: str, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
        return self.http.get(path, **kwargs)

    def follow(self, response: httpx.Response) -> httpx.Response:
        """GET the page a redirect-after-post points at."""
        assert response.status_code == 303, response.text
        return self.http.get(response.headers["location"].removeprefix("/console"))

    def post(self, path: str, data: dict | None = None, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
        return self.http.post(path, data={"csrf": self.csrf, **(data or {})}, **kwargs)


def csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def write_faq(folder) -> object:  # type: ignore[no-untyped-def]
    path = folder / "faq.yaml"
    path.write_text(FAQ, encoding="utf-8")
    return path


def make_world(tmp, env: str) -> Iterator[World]:  # type: ignore[no-untyped-def]
    port = free_port()
    sim = WeComSimulator(DEMO_WECOM["wecom_corp_id"], DEMO_WECOM["wecom_agent_id"], DEMO_WECOM["wecom_secret"],
                         DEMO_WECOM["wecom_token"], DEMO_WECOM["wecom_aes_key"],
                         f"http://127.0.0.1:{port}/wecom/callback")
    with sim:
        settings = load_settings(_env_file=None, scrm_env=env, scrm_data_dir=tmp / "var", **DEMO_WECOM,
                                 wecom_api_base=sim.base_url, scrm_public_url=f"http://127.0.0.1:{port}",
                                 scrm_admin_token=TOKEN if env != "demo" else None)
        clock = Clock(sim, START)
        services = build_services(settings)
        services.clock = clock
        services.wecom = WechatpyWeComClient(settings.wecom, services.db, clock=clock, backoff_base=0.01,
                                             backoff_max=0.05, timeout=5.0)
        services.kb.import_paths([write_faq(tmp)])
        with services.db.session() as s:
            for row in STAFF:
                s.add(Advisor(**row))
        app = create_app(services, workers=False, scheduler=False)
        with serve_app(app, port=port) as base:
            yield World(sim=sim, services=services, settings=settings, clock=clock, base=base)
        services.wecom.close()
        services.db.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    yield from make_world(tmp_path_factory.mktemp("console"), "development")


