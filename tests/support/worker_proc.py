"""A worker process for crash tests: `python -m tests.support.worker_proc DATA_DIR WECOM_API_BASE MODE`.

It builds services exactly as `scrm serve` does (same data dir, same database) and runs the worker loop. MODE
`hang-in-answer` makes the answerer write a marker file and block, so the test can kill the process while a message
is being processed; `normal` just works.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from bot.config import load_settings
from bot.services import build_services
from bot.worker import WorkerPool


class HangingAnswerer:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def answer(self, text, ctx):  # type: ignore[no-untyped-def]
        self.marker.write_text(text, encoding="utf-8")
        while True:
            time.sleep(1)


def main() -> None:
    data_dir, api_base, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    settings = load_settings(_env_file=None, scrm_env="demo", scrm_data_dir=data_dir, wecom_api_base=api_base,
                             scrm_lease_s=1.0, scrm_worker_poll_s=0.05, database_url=os.environ.get("DATABASE_URL"))
    services = build_services(settings, migrate=False)
    if mode == "hang-in-answer":
        services.answerer = HangingAnswerer(Path(data_dir) / "answer-started")
    pool = WorkerPool(services, threads=1, poll_s=0.05)
    pool.start()
    (Path(data_dir) / f"worker-ready-{os.getpid()}").write_text(mode)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
