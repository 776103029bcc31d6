"""The live path, assembled as production assembles it: build_services() (real knowledge base with the offline
embedding model, real compliance gate, real WeCom client) against the WeCom simulator on loopback, the app served
by uvicorn, and the in-process worker threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import DEMO_WECOM, Settings, load_settings
from bot.main import create_app
from bot.models import Advisor, Client
from bot.services import Services, build_services
from bot.wecom.client import WechatpyWeComClient
from bot.wecom.simulator import WeComSimulator
from tests.support.live import free_port, serve_app

FAQ = """
- id: faq_open_account
  question: 开户需要准备什么材料？
  similar_questions: [网上开户要带什么, 开户要什么证件]
  answer: 线上开户需要本人二代身份证、本人一类银行卡和本人实名手机号，全程约10分钟。
  tags: [开户]
- id: faq_gem_limit
  question: 创业板股票的涨跌幅限制是多少？
  similar_questions: [创业板涨停是多少]
  answer: 创业板股票的涨跌幅限制为20%，上市后前5个交易日不设涨跌幅限制。
  tags: [创业板, 涨跌幅]
- id: faq_bad_wording
  question: 稳健一号理财安全吗？
  similar_questions: [稳健一号靠谱吗]
  answer: 稳健一号理财保本保收益，稳赚不赔，放心买。
  tags: [理财]
- id: faq_star_fund
  question: 星辰成长基金怎么样？
  similar_questions: [介绍一下星辰成长基金]
  answer: 星辰成长基金近年表现不错，推荐您配置一些，适合追求成长的投资者。
  tags: [基金]
  risk_level: R5
- id: faq_hotline
  question: 客服热线是多少？
  similar_questions: [客服电话多少]
  answer: 示例证券客服热线为95000，交易日8:30-20:00有人工服务。
  tags: [客服]
"""


@dataclass
class Live:
    sim: WeComSimulator
    services: Services
    base: str
    settings: Settings
    app: object

    def say(self, user: str, text: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        result = self.sim.client_says(user, text, **kwargs)
        if kwargs.get("wait", True):
            assert result.delivered


def write_kb(tmp_path: Path) -> Path:
    path = tmp_path / "faq.yaml"
    path.write_text(FAQ, encoding="utf-8")
    return path


@contextmanager
def live_world(tmp_path: Path, kb_paths: list[Path], database_url: str | None = None) -> Iterator[Live]:
    """Simulator + the app built by build_services() with its worker threads, the given knowledge base imported
    (SQLite under tmp_path unless a database URL is given)."""
    port = free_port()
    sim = WeComSimulator(DEMO_WECOM["wecom_corp_id"], DEMO_WECOM["wecom_agent_id"], DEMO_WECOM["wecom_secret"],
                         DEMO_WECOM["wecom_token"], DEMO_WECOM["wecom_aes_key"],
                         f"http://127.0.0.1:{port}/wecom/callback")
    with sim:
        settings = load_settings(_env_file=None, scrm_env="demo", scrm_data_dir=tmp_path / "var",
                                 wecom_api_base=sim.base_url, scrm_public_url=f"http://127.0.0.1:{port}",
                                 scrm_worker_poll_s=0.05, scrm_workers=2, database_url=database_url)
        services = build_services(settings)
        services.wecom = WechatpyWeComClient(settings.wecom, services.db, backoff_base=0.01, backoff_max=0.05)
        report = services.kb.import_paths(kb_paths)
        assert report.ok, report.problems
        with services.db.session() as s:
            s.add(Advisor(wecom_userid="adv_li", name="李经理"))
            s.add(Client(wecom_external_userid="wm_zhang", name="张先生", risk_level="C3", advisor_userid="adv_li"))
        app = create_app(services, scheduler=False)
        with serve_app(app, port=port) as base:
            yield Live(sim=sim, services=services, base=base, settings=settings, app=app)
        services.wecom.close()
        services.db.dispose()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with live_world(tmp_path, [write_kb(tmp_path)]) as world:
        yield world


@pytest.fixture
def live_any_db(tmp_path: Path, db_url: str) -> Iterator[Live]:
    """The live world on each backend: a SQLite file, and a fresh PostgreSQL database."""
    with live_world(tmp_path, [write_kb(tmp_path)], database_url=db_url) as world:
        yield world
