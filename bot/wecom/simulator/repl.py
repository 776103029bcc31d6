"""A terminal chat with a running simulator (for a `scrm sim chat` command): play a client, read the bot's replies.

Works over the simulator's HTTP API (POST /sim/api/say, GET /sim/api/conversation), so it can talk to the simulator
of a `scrm demo` running in another process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from bot.wecom.simulator.app import ui_texts

QUIT = {"/q", "/quit", "/exit"}


def _render(event: dict, texts: dict[str, str]) -> str | None:
    kind = event.get("kind")
    if kind == "bot":
        return f"{texts['bot']}：{event['text']}"
    if kind == "servicer":
        return f"{texts['servicer']}（{event.get('servicer_userid', '')}）：{event['text']}"
    if kind == "state":
        return (
            f"[{texts['state_change']}：{texts.get('state_' + str(event['from_state']), event['from_state'])}"
            f" → {texts.get('state_' + str(event['to_state']), event['to_state'])}]"
        )
    return None


def chat_repl(
    base_url: str,
    external_userid: str,
    *,
    open_kfid: str | None = None,
    input_fn: Callable[[str], str] = input,
    output: Callable[[str], None] = print,
    wait_s: float = 15.0,
    quiet_s: float = 1.5,
    poll_s: float = 0.2,
) -> int:
    """Read lines as the client's messages; after each, print what the bot (or an advisor) answers.

    Waits up to wait_s for the first answer, then until nothing new arrived for quiet_s. `/q` or EOF ends the chat.
    Returns the number of messages sent."""
    texts = ui_texts()
    base = base_url.rstrip("/")
    sent = 0
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
        params: dict[str, str | int] = {"external_userid": external_userid}
        if open_kfid:
            params["open_kfid"] = open_kfid
        events = http.get("/sim/api/conversation", params={**params, "after": 0}).json()["events"]
        after = max((e["seq"] for e in events), default=0)
        output(f"{texts['title']} · {external_userid}（/q {texts['end_session']}）")
        while True:
            try:
                line = input_fn(f"{texts['me']}> ").strip()
            except EOFError:
                break
            if line in QUIT:
                break
            if not line:
                continue
            response = http.post("/sim/api/say", json={"external_userid": external_userid, "text": line,
                                                      **({"open_kfid": open_kfid} if open_kfid else {})})
            if response.status_code != 200:
                output(texts["send_failed"])
                continue
            sent += 1
            deadline, last_new = time.monotonic() + wait_s, None
            while time.monotonic() < deadline and (last_new is None or time.monotonic() - last_new < quiet_s):
                new = http.get("/sim/api/conversation", params={**params, "after": after}).json()["events"]
                for event in new:
                    after = max(after, event["seq"])
                    rendered = _render(event, texts)
                    if rendered:
                        output(rendered)
                        last_new = time.monotonic()
                time.sleep(poll_s)
    return sent
