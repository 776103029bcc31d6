"""WeCom callback crypto (WXBizMsgCrypt): signature check, AES decrypt and encrypt, through wechatpy.

The signature is `sha1(sort(token, timestamp, nonce, encrypt))`, compared in constant time. AES-256-CBC with the key
`base64(EncodingAESKey + "=")` and the corp id as the receive id. No wechatpy exception leaves this module: a bad
signature or a foreign corp id becomes `InvalidSignatureError` (403), anything unreadable `MalformedMessageError` (400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
from xml.sax.saxutils import escape

import xmltodict
from wechatpy.exceptions import WeChatException
from wechatpy.work.crypto import PrpCrypto

from bot.errors import BadRequestError, ConfigError, ForbiddenError


class InvalidSignatureError(ForbiddenError):
    """The msg_signature does not match, or the message was encrypted for another corp id."""


class MalformedMessageError(BadRequestError):
    """The callback body or echostr cannot be parsed or decrypted."""


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """WeCom's msg_signature: sha1 over the four values sorted and concatenated."""
    return hashlib.sha1("".join(sorted([token, str(timestamp), str(nonce), encrypt])).encode("utf-8")).hexdigest()


def parse_xml(text: str | bytes) -> dict:
    """Parse an XML document into a dict; entities and DTDs are refused (xmltodict's default, kept on purpose)."""
    try:
        doc = xmltodict.parse(text, disable_entities=True)
    except Exception as exc:  # expat errors, entity refusal (ValueError), encoding errors
        raise MalformedMessageError("malformed XML") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("xml"), dict):
        raise MalformedMessageError("XML root must be <xml> with children")
    return doc["xml"]


class WeComCrypto:
    """Verify, decrypt and encrypt WeCom callbacks for one (token, EncodingAESKey, corp id)."""

    def __init__(self, token: str, aes_key: str, corp_id: str) -> None:
        try:
            key = base64.b64decode(aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(aes_key) != 43 or len(key) != 32:
            raise ConfigError("WECOM_AES_KEY must be the 43-character EncodingAESKey")
        self.token = token
        self.corp_id = corp_id
        self._key = key

    # Receiving ------------------------------------------------------------------------------------------------

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """WeCom's GET URL verification: check the signature and return the decrypted echostr."""
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        return self._decrypt(echostr)

    def decrypt(self, body: bytes | str, msg_signature: str, timestamp: str, nonce: str) -> str:
        """Check the signature of a POSTed callback body and return the decrypted inner XML."""
        outer = parse_xml(body)
        encrypt = outer.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise MalformedMessageError("callback body has no <Encrypt>")
        self._check_signature(msg_signature, timestamp, nonce, encrypt)
        return self._decrypt(encrypt)

    # Sending (the simulator, passive replies) ------------------------------------------------------------------

    def encrypt(self, xml: str, nonce: str, timestamp: str | int | None = None) -> str:
        """Encrypt a passive reply as WeCom expects it: <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        encrypt = self.encrypt_text(xml)
        sig = signature(self.token, ts, nonce, encrypt)
        return (
            f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature>"
            f"<TimeStamp>{ts}</TimeStamp><Nonce><![CDATA[{escape(nonce)}]]></Nonce></xml>"
        )

    def encrypt_callback(
        self, xml: str, nonce: str, timestamp: str | int, *, agent_id: str | int = ""
    ) -> tuple[str, str]:
        """Build a callback POST as WeCom sends it. Returns (body, msg_signature) for the query string."""
        encrypt = self.encrypt_text(xml)
        body = (
            f"<xml><ToUserName><![CDATA[{escape(self.corp_id)}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<AgentID><![CDATA[{escape(str(agent_id))}]]></AgentID></xml>"
        )
        return body, signature(self.token, str(timestamp), nonce, encrypt)

    def encrypt_echostr(self, text: str, nonce: str, timestamp: str | int) -> tuple[str, str]:
        """Build the echostr of a URL verification. Returns (echostr, msg_signature)."""
        echostr = self.encrypt_text(text)
        return echostr, signature(self.token, str(timestamp), nonce, echostr)

    def encrypt_text(self, text: str) -> str:
        """AES-encrypt `random(16) + len + text + corp_id` and base64 it (the <Encrypt> value)."""
        return PrpCrypto(self._key).encrypt(text, self.corp_id).decode("ascii")

    # Internals ------------------------------------------------------------------------------------------------

    def _check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = signature(self.token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").lower().encode()):
            raise InvalidSignatureError("invalid msg_signature")

    def _decrypt(self, encrypt: str) -> str:
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedMessageError("Encrypt is not base64") from None
        if not raw or len(raw) % 16:
            raise MalformedMessageError("Encrypt has a bad block length")
        try:
            return PrpCrypto(self._key).decrypt(encrypt, self.corp_id)
        except WeChatException:
            # InvalidCorpIdException: a valid signature but encrypted for another receive id.
            raise InvalidSignatureError("message was not encrypted for this corp id") from None
        except (ValueError, IndexError, struct.error, UnicodeDecodeError, TypeError):
            raise MalformedMessageError("Encrypt cannot be decrypted") from None


def random_nonce() -> str:
    """A nonce as WeCom sends them (digits)."""
    return str(secrets.randbelow(10**10))
