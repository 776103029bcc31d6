"""The evaluation questions through the live path (simulator -> webhook -> worker -> kf send) take the same actions
as `scrm ask` / `scrm eval`, which call the same decision function without sending."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.models import Message, MessageStatus
from bot.pipeline.decide import decide
from bot.pipeline.schemas import ClientProfile, Context, InboundMessage
from tests.conftest import SHARED
from tests.e2e.conftest import live_world

ROOT = Path(__file__).resolve().parents[2]
SETS = {
    "demo-kb": (ROOT / "knowledge_base" / "content", ROOT / "tests" / "knowledge_base" / "data" / "heldout_demo.jsonl"),
    "eval-dev": (SHARED / "eval" / "kb", SHARED / "eval" / "questions_dev.jsonl"),
}
FINAL = {MessageStatus.answered: "answer", MessageStatus.escalated: "escalate", MessageStatus.refused: "refuse"}


@pytest.mark.parametrize("name", sorted(SETS))
def test_live_actions_equal_the_offline_decision(name, tmp_path):
    kb_path, questions_path = SETS[name]
    if not questions_path.exists():
        pytest.skip(f"{questions_path} is not here (shared/ sits beside the checkout in CI)")
    questions = [json.loads(line) for line in questions_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with live_world(tmp_path, [kb_path]) as live:
        users = {q["id"]: f"wm_eval_{i}" for i, q in enumerate(questions)}
        for q in questions:
            live.say(users[q["id"]], q["text"], wait=False)

        def finished() -> dict[str, str] | None:
            with live.services.db.session() as s:
                rows = s.exec(select(Message).where(Message.direction == "in",
                                                    col(Message.status).in_(list(FINAL)))).all()
            return {m.wecom_msgid: FINAL[m.status] for m in rows} if len(rows) == len(questions) else None

        live.sim.wait_for(finished, timeout=300, interval=0.2)
        live_actions = {}
        with live.services.db.session() as s:
            for q in questions:
                m = s.exec(select(Message).where(Message.direction == "in", Message.text == q["text"])).first()
                live_actions[q["id"]] = FINAL[m.status]
        for q in questions:  # the reply leaves through the outbox after the decision is recorded
            live.sim.wait_for_sent(users[q["id"]], 1, timeout=60)
        offline = {}
        for q in questions:
            ctx = Context(now=live.services.now(), client=ClientProfile(external_userid=users[q["id"]]))
            decision = decide(InboundMessage(text=q["text"]), ctx, answerer=live.services.answerer,
                              gate=live.services.gate)
            offline[q["id"]] = str(decision.outcome.action)
    differences = {k: (live_actions[k], offline[k]) for k in offline if live_actions[k] != offline[k]}
    assert differences == {}
