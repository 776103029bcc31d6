"""kf/send_msg_on_event with an enter_session welcome_code, through the real client against the simulator."""

from __future__ import annotations

import pytest

from bot.errors import WeComAPIError


def _code(sim, user: str) -> str:  # type: ignore[no-untyped-def]
    return sim.state.client_enters(open_kfid=sim.state.default_open_kfid, external_userid=user)["event"]["welcome_code"]


class TestWelcome:
    def test_a_code_sends_one_text_that_reaches_the_client(self, sim, client):  # type: ignore[no-untyped-def]
        code = _code(sim, "wm_w1")
        assert client.send_kf_event_text(code=code, text="您好，欢迎咨询！", msgid="w1") == "w1"
        assert [m["text"] for m in sim.sent_to("wm_w1")] == ["您好，欢迎咨询！"]
        with pytest.raises(WeComAPIError):  # used once already
            client.send_kf_event_text(code=code, text="再次欢迎", msgid="w2")

    def test_a_code_expires_after_20_seconds(self, sim, client):  # type: ignore[no-untyped-def]
        code = _code(sim, "wm_w2")
        sim.advance(21)
        with pytest.raises(WeComAPIError):
            client.send_kf_event_text(code=code, text="您好", msgid="w3")
        assert sim.sent_to("wm_w2") == []

    def test_no_code_for_a_client_who_wrote_in_the_last_48_hours(self, sim):  # type: ignore[no-untyped-def]
        sim.state.client_message(open_kfid=sim.state.default_open_kfid, external_userid="wm_w3", text="你好")
        item = sim.state.client_enters(open_kfid=sim.state.default_open_kfid, external_userid="wm_w3")
        assert "welcome_code" not in item["event"]
