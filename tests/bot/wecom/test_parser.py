"""Decrypted callback XML -> CallbackEvent."""

from __future__ import annotations

import pytest

from bot.wecom.crypto import MalformedMessageError
from bot.wecom.parser import parse_callback

KF = (
    "<xml><ToUserName><![CDATA[ww1234567890]]></ToUserName><CreateTime>1348831860</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
    "<Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token>"
    "<OpenKfId><![CDATA[wkxxxxxxxxxxxxxxxxxx]]></OpenKfId></xml>"
)


class TestParseCallback:
    def test_kf_msg_or_event(self):
        event = parse_callback(KF)
        assert event.is_kf
        assert (event.msg_type, event.event) == ("event", "kf_msg_or_event")
        assert event.token == "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"
        assert event.open_kfid == "wkxxxxxxxxxxxxxxxxxx"
        assert event.create_time == 1348831860 and event.to_user == "ww1234567890"

    def test_app_text_message(self):
        xml = (
            "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>"
            "<CreateTime>1409659813</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            "<Content><![CDATA[你好]]></Content><MsgId>4561255354251345929</MsgId><AgentID>218</AgentID></xml>"
        )
        event = parse_callback(xml)
        assert (event.msg_type, event.content, event.from_user, event.agent_id) == ("text", "你好", "zhangsan", "218")
        assert event.msg_id == "4561255354251345929" and not event.is_kf

    @pytest.mark.parametrize(
        "xml",
        [
            "<xml><MsgType>hologram</MsgType><CreateTime>1</CreateTime></xml>",
            "<xml><MsgType>event</MsgType><Event>something_new</Event><Extra><A>1</A></Extra></xml>",
            "<xml><Weird attr='1'>x</Weird></xml>",
        ],
    )
    def test_unknown_types_do_not_raise(self, xml):
        event = parse_callback(xml)
        assert event.raw and not event.is_kf

    def test_event_name_is_normalised(self):
        assert parse_callback(KF.replace("kf_msg_or_event", "KF_MSG_OR_EVENT")).is_kf

    @pytest.mark.parametrize(
        "xml",
        [
            "",
            "<xml>",
            "<notxml><MsgType>text</MsgType></notxml>",
            '<!DOCTYPE xml [<!ENTITY e "x">]><xml><MsgType>&e;</MsgType></xml>',
            "<xml><CreateTime>soon</CreateTime></xml>",
        ],
    )
    def test_malformed(self, xml):
        with pytest.raises(MalformedMessageError):
            parse_callback(xml)
