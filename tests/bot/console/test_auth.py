"""The session cookie on its own: signing, tampering, expiry (pure functions, no server)."""

from __future__ import annotations

import base64
import json

import pytest

from bot.console import auth

KEY = b"k" * 32
NOW = 1_800_000_000.0


def _payload(**overrides):  # type: ignore[no-untyped-def]
    return {"u": "adv_a", "csrf": "c", "exp": int(NOW) + 60, **overrides}


class TestVerify:
    def test_round_trip(self) -> None:
        assert auth.verify(KEY, auth.sign(KEY, _payload()), now=NOW) == _payload()

    def test_expired(self) -> None:
        assert auth.verify(KEY, auth.sign(KEY, _payload(exp=int(NOW) - 1)), now=NOW) is None

    @pytest.mark.parametrize("cookie", [
        "", ".", "abc", "abc.", ".abc", "not-base64!.00", "e30.0000",
        auth.sign(b"other-key", _payload()),
        auth.sign(KEY, _payload()) + "0",
        auth.sign(KEY, _payload())[1:],
    ])
    def test_forged_or_broken(self, cookie: str) -> None:
        assert auth.verify(KEY, cookie, now=NOW) is None

    def test_payload_must_name_a_user(self) -> None:
        for payload in ({"csrf": "c", "exp": NOW + 60}, {"u": 7, "exp": NOW + 60}):
            assert auth.verify(KEY, auth.sign(KEY, payload), now=NOW) is None
        body = base64.urlsafe_b64encode(json.dumps(["adv_a"]).encode()).decode().rstrip("=")
        import hashlib
        import hmac

        mac = hmac.new(KEY, body.encode(), hashlib.sha256).hexdigest()
        assert auth.verify(KEY, f"{body}.{mac}", now=NOW) is None  # signed, but not an object

    def test_changing_any_byte_of_the_body_breaks_the_signature(self) -> None:
        body, mac = auth.sign(KEY, _payload()).split(".")
        for i in range(len(body)):
            flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1:]
            assert auth.verify(KEY, f"{flipped}.{mac}", now=NOW) is None


class TestRoles:
    def test_supervisors_are_advisors_too_and_unknown_roles_are_dropped(self) -> None:
        from bot.models import Advisor

        assert auth._roles(Advisor(wecom_userid="a")) == {"advisor"}
        assert auth._roles(Advisor(wecom_userid="b", is_supervisor=True, roles=[])) == {"advisor", "supervisor"}
        assert auth._roles(Advisor(wecom_userid="c", roles=["compliance", "root"])) == {"compliance"}
        assert auth._roles(Advisor(wecom_userid="d", roles=[])) == set()  # no console access
