"""Callback crypto against Tencent's published WXBizMsgCrypt sample (企业微信 加解密库 Sample, doc 90968)."""

from __future__ import annotations

import pytest
from wechatpy.work.crypto import WeChatCrypto

from bot.errors import BadRequestError, ConfigError, ForbiddenError
from bot.wecom.crypto import InvalidSignatureError, MalformedMessageError, WeComCrypto, parse_xml, signature

# The official sample values (Sample.cs / Sample.php / Sample.py of the WXBizMsgCrypt library).
S_TOKEN = "QDG6eK"
S_CORP_ID = "wx5823bf96d3bd56c7"
S_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
VERIFY_SIG = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
VERIFY_TS = "1409659589"
VERIFY_NONCE = "263014780"
VERIFY_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
VERIFY_PLAIN = "1616140317555161061"
MSG_SIG = "477715d11cdb4164915debcba66cb864d751f3e6"
MSG_TS = "1409659813"
MSG_NONCE = "1372623149"
MSG_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3T"
    "UUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsij"
    "ff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5w"
    "LVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZ"
    "Is2pDBS8R07+qN+E7Q=="
)
MSG_BODY = (
    f"<xml><ToUserName><![CDATA[{S_CORP_ID}]]></ToUserName><Encrypt><![CDATA[{MSG_ENCRYPT}]]></Encrypt>"
    "<AgentID><![CDATA[218]]></AgentID></xml>"
)
MSG_PLAIN = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    "<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    "<CreateTime>1409659813</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n"
    "<AgentID>218</AgentID>\n"
    "</xml>"
)


@pytest.fixture
def official() -> WeComCrypto:
    return WeComCrypto(S_TOKEN, S_AES_KEY, S_CORP_ID)


class TestOfficialVectors:
    def test_signatures_match_the_sample(self):
        assert signature(S_TOKEN, VERIFY_TS, VERIFY_NONCE, VERIFY_ECHOSTR) == VERIFY_SIG
        assert signature(S_TOKEN, MSG_TS, MSG_NONCE, MSG_ENCRYPT) == MSG_SIG

    def test_verify_url_returns_the_sample_echo(self, official):
        assert official.verify_url(VERIFY_SIG, VERIFY_TS, VERIFY_NONCE, VERIFY_ECHOSTR) == VERIFY_PLAIN

    def test_decrypt_returns_the_sample_message(self, official):
        assert official.decrypt(MSG_BODY.encode(), MSG_SIG, MSG_TS, MSG_NONCE) == MSG_PLAIN

    def test_signature_is_case_insensitive_hex(self, official):
        assert official.verify_url(VERIFY_SIG.upper(), VERIFY_TS, VERIFY_NONCE, VERIFY_ECHOSTR) == VERIFY_PLAIN


class TestRejects:
    def test_tampered_signature(self, official):
        with pytest.raises(InvalidSignatureError):
            official.decrypt(MSG_BODY, "0" * 40, MSG_TS, MSG_NONCE)

    def test_other_timestamp_breaks_the_signature(self, official):
        with pytest.raises(InvalidSignatureError):
            official.verify_url(VERIFY_SIG, "1409659590", VERIFY_NONCE, VERIFY_ECHOSTR)

    def test_message_for_another_corp_is_refused(self):
        other = WeComCrypto(S_TOKEN, S_AES_KEY, "wwanothercorp")
        with pytest.raises(InvalidSignatureError):
            other.decrypt(MSG_BODY, MSG_SIG, MSG_TS, MSG_NONCE)

    def test_errors_are_project_errors(self):
        assert issubclass(InvalidSignatureError, ForbiddenError)
        assert issubclass(MalformedMessageError, BadRequestError)

    @pytest.mark.parametrize(
        "body",
        [
            b"not xml at all",
            b"<xml><ToUserName>x</ToUserName></xml>",  # no Encrypt
            b"<other><Encrypt>abc</Encrypt></other>",  # wrong root
            b'<!DOCTYPE xml [<!ENTITY e "boom">]><xml><Encrypt>&e;</Encrypt></xml>',  # entities are refused
        ],
    )
    def test_malformed_bodies(self, official, body):
        with pytest.raises(MalformedMessageError):
            official.decrypt(body, MSG_SIG, MSG_TS, MSG_NONCE)

    @pytest.mark.parametrize("encrypt", ["!!!notbase64", "中文", "YWJj", "A" * 22 + "=="])
    def test_undecryptable_encrypt_with_valid_signature(self, official, encrypt):
        body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        with pytest.raises(MalformedMessageError):
            official.decrypt(body, signature(S_TOKEN, MSG_TS, MSG_NONCE, encrypt), MSG_TS, MSG_NONCE)

    def test_billion_laughs_is_refused(self):
        bomb = (
            '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><xml><a>&lol2;</a></xml>'
        )
        with pytest.raises(MalformedMessageError):
            parse_xml(bomb)

    @pytest.mark.parametrize("key", ["short", "a" * 44, "*" * 43])
    def test_bad_aes_key(self, key):
        with pytest.raises(ConfigError):
            WeComCrypto("t", key, "corp")


class TestEncrypt:
    def test_callback_round_trip(self, official):
        xml = "<xml><Content><![CDATA[你好，客服]]></Content></xml>"
        body, sig = official.encrypt_callback(xml, "12345", "1700000000", agent_id=1000002)
        outer = parse_xml(body)
        assert outer["ToUserName"] == S_CORP_ID and outer["AgentID"] == "1000002"
        assert official.decrypt(body, sig, "1700000000", "12345") == xml

    def test_echostr_round_trip(self, official):
        echostr, sig = official.encrypt_echostr("8734561234", "n1", "1700000000")
        assert official.verify_url(sig, "1700000000", "n1", echostr) == "8734561234"

    def test_reply_format_is_readable_by_wechatpy(self, official):
        reply = official.encrypt("<xml><Content>ok</Content></xml>", "999", "1409659813")
        outer = parse_xml(reply)
        theirs = WeChatCrypto(S_TOKEN, S_AES_KEY, S_CORP_ID)
        assert theirs.decrypt_message(reply, outer["MsgSignature"], "1409659813", "999") == (
            "<xml><Content>ok</Content></xml>"
        )

    def test_each_encryption_differs(self, official):
        assert official.encrypt_text("same") != official.encrypt_text("same")
