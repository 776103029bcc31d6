"""The real entry points as real processes: `scrm serve` from the environment, `scrm demo` until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.config import DEMO_WECOM
from bot.wecom.simulator import WeComSimulator
from tests.support.live import free_port

ROOT = Path(__file__).resolve().parents[3]
SCRM = [sys.executable, "-c", "from bot.cli import main; main()"]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"process exited with {proc.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def test_scrm_serve_runs_from_the_environment(tmp_path):
    port = free_port()
    sim = WeComSimulator(DEMO_WECOM["wecom_corp_id"], DEMO_WECOM["wecom_agent_id"], DEMO_WECOM["wecom_secret"],
                         DEMO_WECOM["wecom_token"], DEMO_WECOM["wecom_aes_key"], f"http://127.0.0.1:{port}/wecom/callback")
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "SCRM_ENV": "production", "SCRM_DATA_DIR": str(tmp_path / "var"),
        "SCRM_ADMIN_TOKEN": "a-real-secret", "WECOM_CORP_ID": DEMO_WECOM["wecom_corp_id"],
        "WECOM_AGENT_ID": str(DEMO_WECOM["wecom_agent_id"]), "WECOM_SECRET": DEMO_WECOM["wecom_secret"],
        "WECOM_TOKEN": DEMO_WECOM["wecom_token"], "WECOM_AES_KEY": DEMO_WECOM["wecom_aes_key"],
        "SCRM_WORKER_POLL_S": "0.1",
    }
    with sim:
        env["WECOM_API_BASE"] = sim.base_url
        proc = subprocess.Popen([*SCRM, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=tmp_path, env=env)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", proc)
            assert sim.url_verify()
            assert sim.client_says("wm_serve", "转人工").delivered
            [reply] = sim.wait_for_sent("wm_serve", 1, timeout=60)
            assert reply["text"]
            api = httpx.get(f"http://127.0.0.1:{port}/api/escalations", headers={"X-Staff-User": "x"})
            assert api.status_code == 401  # the staff API wants the admin token in production
        finally:
            proc.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal it caught
            assert proc.wait(30) in (0, -signal.SIGTERM)


def test_scrm_serve_names_a_missing_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "SCRM_"))}
    env.update(PYTHONPATH=str(ROOT), SCRM_DATA_DIR=str(tmp_path))
    done = subprocess.run([*SCRM, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "WECOM_CORP_ID" in done.stderr and "WECOM_AES_KEY" in done.stderr


def test_scrm_demo_serves_and_stops_cleanly_on_ctrl_c(tmp_path):
    port, sim_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*SCRM, "demo", "--port", str(port), "--sim-port", str(sim_port), "--data-dir",
                             str(tmp_path / "demo")], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=240)
        wait_http(f"http://127.0.0.1:{sim_port}/sim/chat", proc)
        say = httpx.post(f"http://127.0.0.1:{sim_port}/sim/api/say",
                         json={"external_userid": "wm_demo_zhang", "text": "开户需要什么材料"})
        assert say.status_code == 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events = httpx.get(f"http://127.0.0.1:{sim_port}/sim/api/conversation",
                               params={"external_userid": "wm_demo_zhang"}).json()["events"]
            if any(e["kind"] == "bot" for e in events):
                break
            time.sleep(0.3)
        assert any(e["kind"] == "bot" and "身份证" in e["text"] for e in events)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "chat page" in out and f"127.0.0.1:{sim_port}/sim/" in out
    for p in (port, sim_port):
        try:
            httpx.get(f"http://127.0.0.1:{p}/healthz", timeout=1)
            raise AssertionError(f"port {p} still answers after Ctrl-C")
        except httpx.ConnectError:
            pass
