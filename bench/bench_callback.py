"""Callback acknowledgement under concurrent load.

Starts the bot's HTTP edge in its own process (uvicorn, one worker; in-process workers off so only the
acknowledgement path is measured: verify signature, decrypt, parse, store the event durably, answer `success`),
then fires N distinct, correctly encrypted kf callbacks with C concurrent connections from this process.

    python bench/bench_callback.py [--n 2000] [--concurrency 32] [--postgres URL]

Prints p50/p90/p99 latency and acknowledged callbacks per second for each database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import DEMO_WECOM  # noqa: E402
from bot.wecom.crypto import WeComCrypto  # noqa: E402

KF_XML = (
    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><CreateTime>{ts}</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
    "<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[wkBENCH{kf}]]></OpenKfId></xml>"
)

SERVER = """
import sys, uvicorn
from datetime import UTC, datetime
from types import SimpleNamespace
from bot.config import load_settings
from bot.db import Database
from bot.main import create_app
settings = load_settings(_env_file=None, scrm_env="demo", database_url=sys.argv[1], scrm_workers=0)
db = Database(settings.db_url)
db.migrate()
services = SimpleNamespace(settings=settings, db=db, now=lambda: datetime.now(UTC), wake=lambda: None)
uvicorn.run(create_app(services, workers=False, scheduler=False), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning")
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def fire(base: str, n: int, concurrency: int, crypto: WeComCrypto) -> tuple[list[float], float, int]:
    corp = DEMO_WECOM["wecom_corp_id"]
    now = int(time.time())
    requests = []
    for i in range(n):
        xml = KF_XML.format(corp=corp, ts=now, token=f"TOKEN{i:08d}", kf=i % 8)
        body, sig = crypto.encrypt_callback(xml, f"nonce{i}", str(now))
        requests.append(({"msg_signature": sig, "timestamp": str(now), "nonce": f"nonce{i}"}, body.encode()))
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while not queue.empty():
            params, body = queue.get_nowait()
            t0 = time.perf_counter()
            r = await client.post(f"{base}/wecom/callback", params=params, content=body)
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200 or r.text != "success":
                failures += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return latencies, elapsed, failures


def run(label: str, db_url: str, n: int, concurrency: int) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, db_url, str(port)], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        crypto = WeComCrypto(DEMO_WECOM["wecom_token"], DEMO_WECOM["wecom_aes_key"], DEMO_WECOM["wecom_corp_id"])
        asyncio.run(fire(base, 50, 4, crypto))  # warm-up
        latencies, elapsed, failures = asyncio.run(fire(base, n, concurrency, crypto))
    finally:
        proc.terminate()
        proc.wait(10)
    q = statistics.quantiles(latencies, n=100)
    print(f"{label:<10} n={n} concurrency={concurrency} failures={failures} "
          f"p50={q[49] * 1000:.1f}ms p90={q[89] * 1000:.1f}ms p99={q[98] * 1000:.1f}ms "
          f"throughput={n / elapsed:.0f} callbacks/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL"),
                        help="PostgreSQL URL (default TEST_POSTGRES_URL); the bench uses a scratch table set in it")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.db", args.n, args.concurrency)
    if args.postgres:
        import sqlalchemy as sa

        name = f"scrm_bench_{os.getpid()}"
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            run("postgres", sa.engine.make_url(args.postgres).set(database=name).render_as_string(False),
                args.n, args.concurrency)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
