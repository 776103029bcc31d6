"""The simulator's chat page and staff view, run for real: the page script (sim.js) executes in Node with a tiny fake
DOM and polls the live simulator over HTTP, as in a browser. Skipped when Node is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from bot.wecom.simulator import app as sim_app

NODE = shutil.which("node")
HARNESS = Path(__file__).parent / "js" / "page_harness.js"
SCRIPT = Path(sim_app.__file__).parent / "static" / "sim.js"

pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js to run the page script")


def run_page(sim, tmp_path: Path, page: str, steps: list[dict]) -> dict:  # type: ignore[no-untyped-def]
    texts = tmp_path / "texts.json"
    texts.write_text(json.dumps(sim_app.ui_texts(), ensure_ascii=False), encoding="utf-8")
    proc = subprocess.run(
        [NODE, str(HARNESS), sim.base_url, page, str(SCRIPT), str(texts), json.dumps({"steps": steps})],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_chat_page_shows_the_bot_reply(sim, client, kfid, tmp_path):
    def bot() -> None:  # answers like the bot would once the client's message is in the kf queue
        sim.wait_for(lambda: any(m.get("external_userid") == "wmHARNESS" for m in sim.state.stream))
        client.trans_service_state(open_kfid=kfid, external_userid="wmHARNESS", state=1)
        client.send_kf_text(open_kfid=kfid, external_userid="wmHARNESS", text="您好，这里是智能客服。", msgid="h1")

    thread = threading.Thread(target=bot)
    thread.start()
    rendered = run_page(sim, tmp_path, "chat", [
        {"do": "say", "text": "你好，<b>开户</b>要多久？"},
        {"do": "wait", "cls": "msg bot"},
        {"do": "wait", "cls": "note"},
    ])
    thread.join(10)
    assert rendered["msg client"] == ["我你好，<b>开户</b>要多久？"]  # shown as text, never as HTML
    assert rendered["msg bot"] == ["智能客服您好，这里是智能客服。"]
    assert rendered["note"] == ["会话状态变更：未处理 → 智能助手接待中"]
    assert rendered["state"] == "智能助手接待中"


def test_staff_view_shows_app_messages_and_lets_a_servicer_reply(sim, client, tmp_path):
    client.send_app_message(touser="advisor01", msgtype="textcard",
                            content={"title": "客户转人工", "description": "客户 wm_9 询问融资融券", "url": "http://x/1"})
    client.add_msg_template(sender="advisor01", external_userids=["wm_9"], text="您好，您的风险测评即将到期。")
    sim.client_says("wm_9", "我要找人工")
    rendered = run_page(sim, tmp_path, "staff", [
        {"do": "wait", "cls": "card", "count": 2},
        {"do": "servicer", "client": "wm_9", "userid": "advisor01", "text": "您好，我是服务经理小王"},
        {"do": "sleep", "ms": 500},
    ])
    cards = rendered["card"]
    assert any("客户转人工" in c and "询问融资融券" in c for c in cards)
    assert any("风险测评即将到期" in c for c in cards)
    servicer = [m for m in sim.state.stream if m["origin"] == 5]
    assert [m["text"]["content"] for m in servicer] == ["您好，我是服务经理小王"]
