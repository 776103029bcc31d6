"""Logging set-up with context variables (conversation_id, message_id, job_id) in every record.

Log events and ids, never message bodies, phone numbers or decrypted XML.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_context: ContextVar[dict[str, object]] = ContextVar("log_context", default={})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get()
        record.ctx = " ".join(f"{k}={v}" for k, v in ctx.items())
        return True


@contextmanager
def log_context(**values: object) -> Iterator[None]:
    """Bind ids to every log record emitted inside the block."""
    token = _context.set({**_context.get(), **{k: v for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def setup_logging(level: str = "INFO", *, filters: tuple[logging.Filter, ...] = ()) -> None:
    """Configure the root logger once. `filters` are added to the handler (the CLI passes the PII mask)."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    for extra in filters:
        handler.addFilter(extra)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s %(ctx)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "chromadb", "jieba", "apscheduler.executors", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
