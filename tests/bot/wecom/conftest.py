"""Fixtures for the WeCom adapter tests: the simulator on loopback and clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pydantic import SecretStr

from bot.config import WeComSettings
from bot.db import Database
from bot.wecom.client import WechatpyWeComClient
from bot.wecom.simulator import WeComSimulator

CORP_ID = "wwsimcorp0000001"
AGENT_ID = 1000002
SECRET = "sim-app-secret"
TOKEN = "simtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def sim() -> Iterator[WeComSimulator]:
    with WeComSimulator(CORP_ID, AGENT_ID, SECRET, TOKEN, AES_KEY, None) as simulator:
        yield simulator


@pytest.fixture
def kfid(sim: WeComSimulator) -> str:
    return sim.state.default_open_kfid


def wecom_settings(api_base: str, *, secret: str = SECRET, kf_secret: str | None = None) -> WeComSettings:
    return WeComSettings(
        corp_id=CORP_ID, agent_id=AGENT_ID, secret=SecretStr(secret),
        kf_secret=SecretStr(kf_secret) if kf_secret else None, token=SecretStr(TOKEN), aes_key=SecretStr(AES_KEY),
        api_base=api_base,
    )


@pytest.fixture
def make_client(sim: WeComSimulator) -> Iterator[Callable[..., WechatpyWeComClient]]:
    """Build clients on the simulator; small backoff so retry tests stay fast."""
    made: list[WechatpyWeComClient] = []

    def make(db: Database | None = None, **kwargs) -> WechatpyWeComClient:  # type: ignore[no-untyped-def]
        api_base = kwargs.pop("api_base", sim.base_url)
        settings = wecom_settings(api_base, kf_secret=kwargs.pop("kf_secret", None))
        kwargs.setdefault("backoff_base", 0.01)
        kwargs.setdefault("backoff_max", 0.05)
        kwargs.setdefault("timeout", 5.0)
        client = WechatpyWeComClient(settings, db, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client):  # type: ignore[no-untyped-def]
    return make_client()
