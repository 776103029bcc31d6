"""A worker process killed in the middle of a message: after a restart the client gets exactly one reply.

The HTTP edge runs in this process with no workers; the workers are real separate OS processes on the same database,
killed with SIGKILL (no clean-up runs), as a crash or an OOM kill would do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select

from bot.models import Message, MessageStatus, OutboxItem, OutboxStatus

ROOT = Path(__file__).resolve().parents[2]


def start_worker(live, mode: str) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    data_dir = live.settings.data_dir
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.worker_proc", str(data_dir), live.sim.base_url, mode],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": live.settings.db_url},
    )
    ready = data_dir / f"worker-ready-{proc.pid}"
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, "worker process died at start"
        assert time.monotonic() < deadline, "worker process did not start"
        time.sleep(0.05)
    return proc


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


@pytest.fixture
def edge_only(live_any_db):
    """The live world (on each backend) with its in-process workers stopped: only the worker subprocesses work."""
    live = live_any_db
    live.app.state.worker_pool.stop()
    live.services.wake = lambda: None
    return live


def wait_until(predicate, timeout=30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_killed_while_answering(edge_only):
    live = edge_only
    hanging = start_worker(live, "hang-in-answer")
    try:
        live.say("wm_zhang", "客服热线是多少？")
        wait_until(lambda: (live.settings.data_dir / "answer-started").exists())
    finally:
        kill(hanging)
    with live.services.db.session() as s:
        [m] = s.exec(select(Message).where(Message.direction == "in")).all()
        assert m.status == MessageStatus.processing  # claimed, never finished
    assert live.sim.sent_to("wm_zhang") == []

    healthy = start_worker(live, "normal")
    try:
        live.sim.wait_for_sent("wm_zhang", 1, timeout=30)
        time.sleep(1.5)  # longer than the lease: nothing else may arrive
    finally:
        kill(healthy)
    [reply] = live.sim.sent_to("wm_zhang")
    assert "95000" in reply["text"]
    with live.services.db.session() as s:
        [m] = s.exec(select(Message).where(Message.direction == "in")).all()
        assert m.status == MessageStatus.answered and m.attempts == 2
        assert len(s.exec(select(OutboxItem)).all()) == 1


def test_killed_while_sending(edge_only):
    live = edge_only
    live.sim.fail_next("kf/send_msg", 0, delay_s=3.0)  # WeCom is slow to answer the first send
    first = start_worker(live, "normal")
    try:
        live.say("wm_zhang", "客服热线是多少？")
        wait_until(lambda: _sending(live))
        time.sleep(0.5)  # the send is in flight at the simulator
    finally:
        kill(first)  # dies before it learns whether the send went through
    second = start_worker(live, "normal")
    try:
        wait_until(lambda: _item_status(live) == OutboxStatus.sent, timeout=30)
        time.sleep(1.5)
    finally:
        kill(second)
    assert len(live.sim.sent_to("wm_zhang")) == 1  # WeCom saw the same msgid twice and delivered it once


def _sending(live) -> bool:  # type: ignore[no-untyped-def]
    return _item_status(live) == OutboxStatus.sending


def _item_status(live):  # type: ignore[no-untyped-def]
    with live.services.db.session() as s:
        items = s.exec(select(OutboxItem)).all()
        return items[0].status if items else None


def test_two_worker_processes_share_the_queue(edge_only):
    """Two worker processes on one database: every message answered exactly once, each client's in order."""
    live = edge_only
    workers = [start_worker(live, "normal"), start_worker(live, "normal")]
    try:
        questions = ["客服热线是多少？", "开户需要准备什么材料？", "创业板涨跌幅限制是多少"]
        for round_ in range(len(questions)):
            for client in range(6):
                live.say(f"wm_multi_{client}", questions[round_], wait=False)
        for client in range(6):
            replies = live.sim.wait_for_sent(f"wm_multi_{client}", len(questions), timeout=60)
            assert "95000" in replies[0]["text"] and "身份证" in replies[1]["text"] and "20%" in replies[2]["text"]
        time.sleep(1.5)  # longer than the lease: nothing more may arrive
        assert all(len(live.sim.sent_to(f"wm_multi_{c}")) == len(questions) for c in range(6))
    finally:
        for proc in workers:
            kill(proc)
