"""The callback edge over real HTTP: verification, every rejected input, duplicates and replays."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
from sqlmodel import select

from bot.main import create_app
from bot.models import InboundEvent
from bot.wecom.crypto import WeComCrypto
from tests.support.live import serve_app

KF_XML = (
    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><CreateTime>{ts}</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
    "<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[wkDEMO]]></OpenKfId></xml>"
)


@pytest.fixture
def edge(settings, db):
    services = SimpleNamespace(settings=settings, db=db, now=lambda: datetime.now(UTC), wake=lambda: None)
    app = create_app(services, workers=False, scheduler=False)
    wecom = settings.wecom
    crypto = WeComCrypto(wecom.token.get_secret_value(), wecom.aes_key.get_secret_value(), wecom.corp_id)
    with serve_app(app) as base:
        yield SimpleNamespace(base=base, crypto=crypto, db=db, corp=wecom.corp_id,
                              aes_key=wecom.aes_key.get_secret_value())


def signed_post(edge, xml, *, ts=None, nonce="n0nce", tamper=False):
    ts = str(ts or int(time.time()))
    body, sig = edge.crypto.encrypt_callback(xml, nonce, ts)
    if tamper:
        sig = "0" * 40
    return httpx.post(f"{edge.base}/wecom/callback", params={"msg_signature": sig, "timestamp": ts, "nonce": nonce},
                      content=body.encode(), timeout=10)


def events(db):
    with db.session() as s:
        return s.exec(select(InboundEvent)).all()


class TestVerifyUrl:
    def test_echo_is_decrypted_and_returned(self, edge):
        ts = str(int(time.time()))
        echostr, sig = edge.crypto.encrypt_echostr("echo-1234567", "abc", ts)
        r = httpx.get(f"{edge.base}/wecom/callback",
                      params={"msg_signature": sig, "timestamp": ts, "nonce": "abc", "echostr": echostr})
        assert r.status_code == 200 and r.text == "echo-1234567"

    def test_bad_signature_is_403(self, edge):
        ts = str(int(time.time()))
        echostr, _ = edge.crypto.encrypt_echostr("echo", "abc", ts)
        r = httpx.get(f"{edge.base}/wecom/callback",
                      params={"msg_signature": "f" * 40, "timestamp": ts, "nonce": "abc", "echostr": echostr})
        assert r.status_code == 403


class TestReceiveCallback:
    def test_valid_callback_is_stored_once_and_acknowledged(self, edge):
        xml = KF_XML.format(corp=edge.corp, ts=int(time.time()), token="T1")
        r = signed_post(edge, xml)
        assert r.status_code == 200 and r.text == "success"
        [event] = events(edge.db)
        assert event.kind == "kf_msg_or_event"
        assert event.payload["token"] == "T1" and event.partition_key == "wkDEMO"

    def test_redelivery_and_replay_store_nothing_new(self, edge):
        xml = KF_XML.format(corp=edge.corp, ts=int(time.time()), token="T2")
        assert signed_post(edge, xml, nonce="a").text == "success"
        assert signed_post(edge, xml, nonce="b").text == "success"  # WeCom retry: new nonce, same event
        assert signed_post(edge, xml, nonce="a").text == "success"  # exact replay within the window
        assert len(events(edge.db)) == 1

    @pytest.mark.parametrize(
        "case,status",
        [("bad_signature", 403), ("stale", 403), ("future", 403), ("oversized", 413), ("no_params", 400),
         ("empty_body", 400), ("not_xml", 400), ("wrong_corp", 403), ("bad_timestamp", 400)],
    )
    def test_rejected_inputs_change_nothing(self, edge, case, status):
        xml = KF_XML.format(corp=edge.corp, ts=int(time.time()), token="T3")
        url = f"{edge.base}/wecom/callback"
        now = int(time.time())
        if case == "bad_signature":
            r = signed_post(edge, xml, tamper=True)
        elif case == "stale":
            r = signed_post(edge, xml, ts=now - 3600)
        elif case == "future":
            r = signed_post(edge, xml, ts=now + 3600)
        elif case == "oversized":
            r = httpx.post(url, params={"msg_signature": "x", "timestamp": now, "nonce": "n"}, content=b"<" * 70_000)
        elif case == "no_params":
            r = httpx.post(url, content=b"<xml/>")
        elif case == "empty_body":
            r = httpx.post(url, params={"msg_signature": "x", "timestamp": now, "nonce": "n"}, content=b"")
        elif case == "not_xml":
            r = httpx.post(url, params={"msg_signature": "x", "timestamp": now, "nonce": "n"}, content=b"hello")
        elif case == "wrong_corp":
            other = WeComCrypto(edge.crypto.token, edge.aes_key, "wwOTHERCORP")
            body, sig = other.encrypt_callback(xml, "n", str(now))
            r = httpx.post(url, params={"msg_signature": sig, "timestamp": now, "nonce": "n"}, content=body.encode())
        else:
            r = httpx.post(url, params={"msg_signature": "x", "timestamp": "abc", "nonce": "n"}, content=b"<xml/>")
        assert r.status_code == status, r.text
        assert events(edge.db) == []

    def test_entities_in_xml_are_refused(self, edge):
        evil = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><xml><ToUserName>&e;</ToUserName></xml>'
        r = signed_post(edge, evil)
        assert r.status_code == 400
        assert events(edge.db) == []
